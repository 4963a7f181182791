//! The load generators' HTTP: plain HTTP/1.1 keep-alive connections made with hyper (so the
//! generator takes as little of the machine as it can), a load loop with its latencies, and
//! percentiles. Shared by `bench ingest`, `bench authorize` and `bench mixed`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

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
    load_for(authority, key, path, bodies, count, None, concurrency, ok).await
}

/// As [`load`], but workers also stop starting requests once `limit` has passed (a
/// duration-bounded run, as wrk's `-d`); requests in flight then are still awaited and counted.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load_for(
    authority: &str,
    key: &str,
    path: &'static str,
    bodies: Arc<Vec<bytes::Bytes>>,
    count: u64,
    limit: Option<Duration>,
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
    let deadline = limit.map(|l| started + l);
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
                if n >= count || deadline.is_some_and(|d| Instant::now() >= d) {
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

/// One keep-alive HTTP/1.1 connection to an instance.
pub(super) struct Conn {
    authority: String,
    key: String,
    sender: Sender,
}

impl Conn {
    pub(super) async fn open(authority: &str, key: &str) -> anyhow::Result<Conn> {
        Ok(Conn {
            authority: authority.to_string(),
            key: key.to_string(),
            sender: connect(authority).await?,
        })
    }

    pub(super) async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<bytes::Bytes>,
    ) -> anyhow::Result<(u16, Value)> {
        self.send_with(method, path, body, None).await
    }

    /// Sends a request (reconnecting once if the connection was lost) and reads the answer.
    pub(super) async fn send_with(
        &mut self,
        method: &str,
        path: &str,
        body: Option<bytes::Bytes>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = body.unwrap_or_default();
        for attempt in 0..2 {
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", &self.authority)
                .header("x-api-key", &self.key)
                .header("content-type", "application/json");
            if let Some(k) = idempotency_key {
                request = request.header("idempotency-key", k);
            }
            let request = request.body(http_body_util::Full::new(bytes.clone()))?;
            match self.sender.send_request(request).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = http_body_util::BodyExt::collect(resp.into_body())
                        .await
                        .context("reading an answer")?
                        .to_bytes();
                    return Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                }
                // A request that was sent and lost is not repeated (it may have been done),
                // except an idempotent one.
                Err(e) if attempt == 0 && (e.is_canceled() || idempotency_key.is_some()) => {
                    self.sender = connect(&self.authority).await?;
                }
                Err(e) => return Err(e).context(format!("{method} {path}")),
            }
        }
        bail!("{method} {path}: the connection was lost twice")
    }
}
