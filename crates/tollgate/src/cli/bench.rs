//! `tollgate bench ingest`: a load generator for the ingestion routes, in the manner of
//! pgbench or redis-benchmark. Without `--batch` it speaks only llmring's `POST /api/v1/log`,
//! so it can drive any llmring-compatible server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use tollgate_api::usage::{LogBatchBody, UsageLogBody};

use super::bench_http::{authority, load_for, percentile};
use super::output::{json as pretty, outln};
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
    /// Open the console's overview for a tenant with a million events and for a small one.
    Console(super::bench_console::Console),
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
    /// Stop starting requests after this many seconds, even if --count has not been reached
    /// (a duration-bounded run, as wrk's -d).
    #[arg(long)]
    seconds: Option<f64>,
    /// Name one of this many users in each event (`user-0`, `user-1`, ...), so each event is
    /// also charged to its user's billing account; 0 names no user and charges nothing.
    #[arg(long, default_value_t = 100)]
    users: u64,
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

/// A realistic event: varied model, tokens, alias, origin and (when `users` is not 0) one of
/// `users` users.
fn event(n: u64, users: u64, request_ids: bool) -> UsageLogBody {
    let user_id = (users > 0).then(|| format!("user-{}", n % users));
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
        user_id,
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
            Bench::Console(c) => c.run().await,
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
        let limit = match self.seconds {
            Some(s) if !(s.is_finite() && s > 0.0) => bail!("--seconds must be above 0"),
            s => s.map(Duration::from_secs_f64),
        };
        let per_request = self.batch.unwrap_or(1).max(1);
        let path = if self.batch.is_some() {
            "/api/v1/log/batch"
        } else {
            "/api/v1/log"
        };
        let authority = authority(&self.client.server)?;

        // Bodies are prepared up front so that the generator spends its CPU on sending:
        // without request ids, about 4,096 events' worth, sent over and over.
        let distinct = if self.request_ids {
            self.count
        } else {
            self.count.min((4096 / per_request).max(1) as u64)
        };
        let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
            (0..distinct)
                .map(|i| {
                    let body = if self.batch.is_some() {
                        let events = (0..per_request as u64)
                            .map(|j| {
                                event(i * per_request as u64 + j, self.users, self.request_ids)
                            })
                            .collect();
                        serde_json::to_vec(&LogBatchBody { events })
                    } else {
                        serde_json::to_vec(&event(i, self.users, self.request_ids))
                    };
                    body.map(bytes::Bytes::from)
                })
                .collect::<Result<_, _>>()?,
        );
        let run = load_for(
            &authority,
            self.client.key()?,
            path,
            bodies,
            self.count,
            limit,
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
            "users": self.users,
            "errors": errors,
            "seconds": elapsed,
            "requests_per_second": requests / elapsed,
            "events_per_second": requests * per_request as f64 / elapsed,
            "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
        });
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!(
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

#[cfg(test)]
mod tests {
    use super::event;

    #[test]
    fn events_name_one_of_the_given_number_of_users() {
        let users: std::collections::BTreeSet<_> = (0..5000)
            .map(|n| event(n, 1000, false).user_id.expect("a user"))
            .collect();
        assert_eq!(users.len(), 1000);
        assert!(users.contains("user-0") && users.contains("user-999"));
    }

    #[test]
    fn with_no_users_events_name_no_user_and_so_charge_nothing() {
        assert!((0..100).all(|n| event(n, 0, false).user_id.is_none()));
    }
}
