//! `tollgate bench receipts`: how long certifying a large backlog takes, how fast the
//! uncertified listing and stats answer at that size, and what offline verification costs.
//!
//! It seeds a fresh tenant with N logs straight through the store (the ingestion path has
//! its own benchmark), starts an in-process server over a real socket, and times the
//! llmring routes a client would call.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;
use tollgate_api::keys::PublicKeys;
use tollgate_api::receipts::{
    CertifiedLog, GeneratedReceipt, ReceiptLogs, ReceiptProof, ReceiptRequest, UncertifiedLogs,
};
use tollgate_core::time::{now_us, DAY_US};
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::merkle::{leaf_hash, verify_inclusion, Hash};
use tollgate_server::{keys, Server, Settings};
use tollgate_store::{AppendItem, ConnectOptions, Dedupe, Scope, Store};
use uuid::Uuid;

use super::output::{json as pretty, outln};

/// Certification, listing and verification at scale.
#[derive(Debug, Args)]
pub struct Receipts {
    /// Logs to seed and certify.
    #[arg(long, default_value_t = 1_000_000)]
    logs: u64,
    /// Database to use (default: a new SQLite file in a temporary directory). The bench
    /// adds a tenant of its own; nothing else is touched.
    #[arg(long, env = "TOLLGATE_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Repetitions of each timed read.
    #[arg(long, default_value_t = 20)]
    reads: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const SEED_BATCH: u64 = 4096;
const MODELS: [(&str, &str); 3] = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-sonnet-4"),
];

/// The `n`th of `total` seeded calls, spread evenly over `[start_us, start_us + span_us)`.
fn seed_event(tenant: &str, n: u64, start_us: i64, span_us: i64, total: u64) -> AppendItem {
    let (provider, model) = MODELS[(n % 3) as usize];
    let input = 200 + (n * 7919) as i64 % 3000;
    let output = 50 + (n * 104_729) as i64 % 800;
    AppendItem {
        event: UsageEvent {
            log_id: Uuid::now_v7(),
            tenant_id: tenant.to_string(),
            request_id: None,
            timestamp_us: start_us + span_us / total.max(1) as i64 * n as i64,
            provider: provider.into(),
            model: model.into(),
            alias: Some(["chat", "extract"][(n % 2) as usize].into()),
            profile: "default".into(),
            lock_digest: None,
            units: None,
            service_tier: Default::default(),
            quantities: Default::default(),
            origin: Some("bench".into()),
            id_at_origin: None,
            user_id: Some(format!("user-{}", n % 100)),
            conversation_id: None,
            tokens: TokenCounts {
                input,
                output,
                ..Default::default()
            },
            latency_ms: Some(400),
            cost: Nanos(input * 150 + output * 600),
            input_cost: Some(Nanos(input * 150)),
            currency: Currency::usd(),
            price_version: Some("bench".into()),
            flags: EventFlags::default(),
            source: EventSource::Usage,
            metadata: Default::default(),
            adjusts: None,
            estimate_method: None,
            dimensions: Default::default(),
        },
        dedupe: Dedupe::None,
        execution: None,
        conversation: None,
        charge: None,
    }
}

/// A benchmark's own tenant, `logs` calls in it and a key with `scopes`.
pub(super) struct Seeded {
    pub(super) store: Arc<dyn Store>,
    pub(super) secret: String,
    pub(super) seed_seconds: f64,
}

/// Opens `database_url` (default: a SQLite file in `dir`), adds a tenant named after `bench`
/// with a key of `scopes`, and seeds it with `logs` calls.
pub(super) async fn seeded(
    database_url: Option<String>,
    dir: &Path,
    bench: &str,
    scopes: Vec<Scope>,
    logs: u64,
) -> anyhow::Result<Seeded> {
    if logs == 0 {
        bail!("--logs must be at least 1");
    }
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let store: Arc<dyn Store> = tollgate_store::open(&ConnectOptions {
        sqlite_synchronous_full: false,
        ..ConnectOptions::new(url)
    })
    .await
    .context("opening the bench database")?;
    let tenant = store
        .create_tenant(&format!("bench-{bench}-{}", now_us()))
        .await?;
    let key = keys::generate(&tenant.id, scopes, None);
    store.create_key(key.record).await?;
    let seed_seconds = seed(&*store, &tenant.id, logs).await?;
    Ok(Seeded {
        store,
        secret: key.secret,
        seed_seconds,
    })
}

/// Seeds `tenant` with `logs` calls over the last 30 days, straight through the store in
/// commits of [`SEED_BATCH`], with a progress bar; returns the seconds it took.
pub(super) async fn seed(store: &dyn Store, tenant: &str, logs: u64) -> anyhow::Result<f64> {
    let bar = ProgressBar::new(logs);
    bar.set_style(
        ProgressStyle::with_template("seeding {bar:40} {pos}/{len} logs {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let span = 30 * DAY_US;
    let start_us = now_us() - span;
    let seeded = Instant::now();
    let mut n = 0;
    while n < logs {
        let end = (n + SEED_BATCH).min(logs);
        let items: Vec<AppendItem> = (n..end)
            .map(|i| seed_event(tenant, i, start_us, span, logs))
            .collect();
        store.append_usage(&items).await?;
        bar.inc(end - n);
        n = end;
    }
    bar.finish_and_clear();
    Ok(seeded.elapsed().as_secs_f64())
}

/// A server running in this process.
pub(super) type Running = (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Starts a real server over `store` on a socket, with its data (signing key) in `dir/data`;
/// returns its base URL, the sender that stops it and its task.
pub(super) async fn serve(store: Arc<dyn Store>, dir: &Path) -> anyhow::Result<Running> {
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.join("data"),
        ..Settings::default()
    };
    let listener = tollgate_server::bind(&settings).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = Server::new(settings, store).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    Ok((base, stop, task))
}

/// Milliseconds of the median of `times`.
fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The median time of `reads` GETs of `url`, and the last answer read as `T`.
async fn timed_get<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    reads: u32,
) -> anyhow::Result<(f64, T)> {
    let mut times = Vec::new();
    let mut last = Vec::new();
    for _ in 0..reads.max(1) {
        let t = Instant::now();
        let r = http.get(url).header("X-API-Key", key).send().await?;
        let status = r.status();
        last = r.bytes().await?.to_vec();
        times.push(t.elapsed());
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&last));
        }
    }
    let answer = serde_json::from_slice(&last)
        .with_context(|| format!("GET {url}: {}", String::from_utf8_lossy(&last)))?;
    Ok((median_ms(times), answer))
}

impl Receipts {
    pub async fn run(self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let Seeded {
            store,
            secret,
            seed_seconds,
        } = seeded(
            self.database_url.clone(),
            dir.path(),
            "receipts",
            vec![Scope::Ingest, Scope::Read],
            self.logs,
        )
        .await?;
        let (base, stop, task) = serve(store.clone(), dir.path()).await?;
        let http = reqwest::Client::new();

        let (uncertified_first_ms, first): (f64, UncertifiedLogs) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/uncertified?limit=100"),
            &secret,
            self.reads,
        )
        .await?;
        if u64::try_from(first.total).ok() != Some(self.logs) {
            bail!("the uncertified listing counts {} logs", first.total);
        }
        let deep = self.logs / 2;
        let (uncertified_deep_ms, _): (f64, UncertifiedLogs) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/uncertified?limit=100&offset={deep}"),
            &secret,
            self.reads,
        )
        .await?;
        let (stats_ms, _): (f64, IgnoredAny) =
            timed_get(&http, &format!("{base}/api/v1/stats"), &secret, self.reads).await?;

        let t = Instant::now();
        let r = http
            .post(format!("{base}/api/v1/receipts/generate"))
            .header("X-API-Key", &secret)
            .json(&ReceiptRequest {
                since_last_receipt: true,
                description: Some("bench".into()),
                ..Default::default()
            })
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        let generate_seconds = t.elapsed().as_secs_f64();
        let generated: GeneratedReceipt = match serde_json::from_slice(&body) {
            Ok(g) if status.is_success() => g,
            _ => bail!("generate: {status}: {}", String::from_utf8_lossy(&body)),
        };
        if u64::try_from(generated.certified_count).ok() != Some(self.logs) {
            bail!("generate certified {} logs", generated.certified_count);
        }
        let receipt = generated.receipt;
        let id = receipt.receipt.receipt_id.clone();

        let (uncertified_after_ms, _): (f64, UncertifiedLogs) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/uncertified?limit=100"),
            &secret,
            self.reads,
        )
        .await?;

        // Offline verification: the receipt's signature plus one inclusion proof.
        let (_, keyset): (f64, PublicKeys) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/public-keys.json"),
            &secret,
            1,
        )
        .await?;
        let public = keyset
            .keys
            .iter()
            .find(|k| k.key_id == receipt.receipt.key_id)
            .context("the receipt's key is not published")?;
        let public = PublicKey::from_base64url(&public.public_key)?;
        let (logs_ms, page): (f64, ReceiptLogs) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/{id}/logs?limit=1&offset={deep}"),
            &secret,
            1,
        )
        .await?;
        let log_id = match page.logs.first() {
            Some(CertifiedLog::Live(l)) => l.log.id.clone(),
            _ => bail!("the receipt lists no live log at {deep}"),
        };
        let (proof_ms, proof): (f64, ReceiptProof) = timed_get(
            &http,
            &format!("{base}/api/v1/receipts/{id}/proof?log_id={log_id}"),
            &secret,
            self.reads,
        )
        .await?;
        let decode = |text: &str| -> anyhow::Result<Hash> {
            let bytes = STANDARD.decode(text)?;
            bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("a hash is not 32 bytes"))
        };
        let root = decode(&receipt.receipt.certified.merkle_root)?;
        let path: Vec<Hash> = proof
            .proof
            .iter()
            .map(|h| decode(h))
            .collect::<anyhow::Result<_>>()?;
        let entry = proof.entry.clone().unwrap_or_default();
        let index = u64::try_from(proof.index)?;
        let rounds = 1000;
        let t = Instant::now();
        for _ in 0..rounds {
            receipt.verify(&public)?;
            let leaf = leaf_hash(entry.as_bytes());
            verify_inclusion(&leaf, index, self.logs, &path, &root)?;
        }
        let verify_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

        let _ = stop.send(());
        task.await??;

        let engine = store.dialect().as_str();
        let report = json!({
            "engine": engine,
            "logs": self.logs,
            "seed_seconds": seed_seconds,
            "generate_since_last_seconds": generate_seconds,
            "uncertified_page_ms": {"first": uncertified_first_ms, "middle": uncertified_deep_ms, "after_certifying": uncertified_after_ms},
            "stats_ms": stats_ms,
            "receipt_logs_page_ms": logs_ms,
            "proof_ms": proof_ms,
            "offline_verify_signature_and_proof_us": verify_us,
        });
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!("engine                               {engine}");
            outln!("logs                                 {}", self.logs);
            outln!("seeding (store, not timed below)     {seed_seconds:.1} s");
            outln!("generate since_last_receipt          {generate_seconds:.2} s");
            outln!("uncertified page (first / middle)    {uncertified_first_ms:.1} / {uncertified_deep_ms:.1} ms (median of {})", self.reads);
            outln!("uncertified page after certifying    {uncertified_after_ms:.1} ms");
            outln!("stats (last 30 days)                 {stats_ms:.1} ms");
            outln!("receipt proof                        {proof_ms:.1} ms");
            outln!("offline verify: signature + proof    {verify_us:.0} µs");
        }
        Ok(())
    }
}
