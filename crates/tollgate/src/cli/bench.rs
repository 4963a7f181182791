//! `tollgate bench ingest`: a load generator for the ingestion routes, in the manner of
//! pgbench or redis-benchmark. Without `--batch` it speaks only llmring's `POST /api/v1/log`,
//! so it can drive any llmring-compatible server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use tollgate_api::usage::{LogBatchBody, UsageLogBody};

use super::output::json as pretty;
use super::usage::ClientArgs;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Post usage events as fast as the server acknowledges them.
    Ingest(Ingest),
    /// Certify a large backlog with one receipt; time listings and offline verification.
    Receipts(super::bench_receipts::Receipts),
    /// Stream a large usage export; report rows/s and the peak memory growth.
    Export(super::bench_export::Export),
    /// Ask for authorizations with holds as fast as the server decides them.
    Authorize(super::bench_authorize::Authorize),
    /// Authorize with holds, settle, release, log and top up at once over shared users, on
    /// one or more instances; report decisions/s and check the books.
    Mixed(super::bench_mixed::Mixed),
}

/// Ingestion load.
#[derive(Debug, Args)]
pub struct Ingest {
    #[command(flatten)]
    client: ClientArgs,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests to send in all.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Events per request, posted to /api/v1/log/batch (default: one per request to
    /// /api/v1/log).
    #[arg(long)]
    batch: Option<usize>,
    /// Give every event a unique request_id (exercises the idempotency check).
    #[arg(long)]
    request_ids: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const MODELS: [(&str, &str); 4] = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-sonnet-4"),
    ("google", "gemini-2.5-flash"),
];

const ALIASES: [&str; 3] = ["chat", "summarise", "extract"];

/// A realistic event: varied model, tokens, alias, origin and user.
fn event(n: u64, request_ids: bool) -> UsageLogBody {
    let (provider, model) = MODELS[(n % 4) as usize];
    let n = n as i64;
    let mut metadata = Map::new();
    metadata.insert(
        "model_alias".into(),
        Value::String(format!("{provider}:{model}")),
    );
    metadata.insert("finish_reason".into(), Value::String("stop".into()));
    UsageLogBody {
        provider: provider.into(),
        model: model.into(),
        input_tokens: Some(200 + (n * 7919) % 3000),
        output_tokens: Some(50 + (n * 104729) % 800),
        cached_input_tokens: Some(if n % 3 == 0 { 128 } else { 0 }),
        alias: Some(ALIASES[(n % 3) as usize].into()),
        origin: Some("bench".into()),
        profile: Some("default".into()),
        metadata: Some(metadata),
        user_id: Some(format!("user-{}", n % 100)),
        latency_ms: Some(300 + n % 900),
        request_id: request_ids.then(|| format!("bench-{}-{n}", std::process::id())),
        ..Default::default()
    }
}

impl Bench {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Bench::Ingest(i) => i.run().await,
            Bench::Receipts(r) => r.run().await,
            Bench::Export(e) => e.run().await,
            Bench::Authorize(a) => a.run().await,
            Bench::Mixed(m) => m.run().await,
        }
    }
}

impl Ingest {
    async fn run(self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.count == 0 {
            bail!("--concurrency and --count must be at least 1");
        }
        let per_request = self.batch.unwrap_or(1).max(1);
        let path = if self.batch.is_some() {
            "/api/v1/log/batch"
        } else {
            "/api/v1/log"
        };
        let authority = authority(&self.client.server)?;

        // Bodies are prepared up front so that the generator spends its CPU on sending.
        let distinct = if self.request_ids {
            self.count
        } else {
            self.count.min(4096)
        };
        let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
            (0..distinct)
                .map(|i| {
                    let body = if self.batch.is_some() {
                        let events = (0..per_request as u64)
                            .map(|j| event(i * per_request as u64 + j, self.request_ids))
                            .collect();
                        serde_json::to_vec(&LogBatchBody { events })
                    } else {
                        serde_json::to_vec(&event(i, self.request_ids))
                    };
                    body.map(bytes::Bytes::from)
                })
                .collect::<Result<_, _>>()?,
        );
        let run = load(
            &authority,
            &self.client.api_key,
            path,
            bodies,
            self.count,
            self.concurrency,
            |s| s.is_success(),
        )
        .await?;
        let (latencies, errors, elapsed) = (run.latencies, run.errors, run.seconds);
        let pct = |p: f64| percentile(&latencies, p);
        let requests = latencies.len() as f64;
        let report = json!({
            "route": path,
            "concurrency": self.concurrency,
            "requests": latencies.len(),
            "events_per_request": per_request,
            "errors": errors,
            "seconds": elapsed,
            "requests_per_second": requests / elapsed,
            "events_per_second": requests * per_request as f64 / elapsed,
            "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
        });
        if self.json {
            println!("{}", pretty(&report));
        } else {
            println!(
                "{} requests ({} events each) in {:.2} s with {} in flight, {} errors\n  {:.0} requests/s, {:.0} events/s\n  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                latencies.len(),
                per_request,
                elapsed,
                self.concurrency,
                errors,
                requests / elapsed,
                requests * per_request as f64 / elapsed,
                pct(0.50),
                pct(0.90),
                pct(0.99),
                pct(1.0),
            );
        }
        if errors > 0 {
            bail!("{errors} requests failed");
        }
        Ok(())
    }
}

/// The `host:port` of a plain-HTTP server URL.
pub(super) fn authority(server: &str) -> anyhow::Result<String> {
    let base = server.trim_end_matches('/');
    if base.starts_with("https://") {
        bail!("bench speaks plain HTTP; point --server at http://HOST:PORT");
    }
    Ok(base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string())
}

/// What a load run measured.
pub(super) struct Run {
    /// Every request's latency in microseconds, sorted.
    pub(super) latencies: Vec<u64>,
    /// Answers `ok` refused.
    pub(super) errors: u64,
    /// Wall time.
    pub(super) seconds: f64,
}

/// The latency at percentile `p` (0..=1) of sorted microseconds, in milliseconds.
pub(super) fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}

/// Posts `count` requests (cycling through `bodies`) to `path` with `concurrency` workers,
/// one keep-alive HTTP/1.1 connection each, as wrk does: the generator should spend as
/// little of the machine's CPU as it can. `ok` judges each answer's status.
pub(super) async fn load(
    authority: &str,
    key: &str,
    path: &'static str,
    bodies: Arc<Vec<bytes::Bytes>>,
    count: u64,
    concurrency: usize,
    ok: fn(hyper::StatusCode) -> bool,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} requests {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (authority, key, bodies, next, errors, bar) = (
            authority.to_string(),
            key.to_string(),
            bodies.clone(),
            next.clone(),
            errors.clone(),
            bar.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut sender = connect(&authority).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let body = bodies[(n % bodies.len() as u64) as usize].clone();
                let request = hyper::Request::post(path)
                    .header("host", &authority)
                    .header("x-api-key", &key)
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(body))?;
                let t = Instant::now();
                let good = match sender.send_request(request).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                        ok(status)
                    }
                    Err(_) => {
                        sender = connect(&authority).await?;
                        false
                    }
                };
                latencies.push(t.elapsed().as_micros() as u64);
                if !good {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                if n % 256 == 0 {
                    bar.set_position(n);
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(count as usize);
    for w in workers {
        latencies.extend(w.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    latencies.sort_unstable();
    Ok(Run {
        latencies,
        errors: errors.load(Ordering::Relaxed),
        seconds,
    })
}

pub(super) type Sender =
    hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// Opens one HTTP/1.1 connection to `authority` (`host:port`).
pub(super) async fn connect(authority: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {authority}: {e}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
