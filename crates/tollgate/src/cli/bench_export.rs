//! `tollgate bench export`: how fast the usage export streams and whether the server's memory
//! stays flat while it does.
//!
//! It seeds a fresh tenant with N logs through the store, starts an in-process server on a
//! socket, downloads the whole export in each format through the client (counting lines and
//! dropping the bytes) and reports rows/s with the process's peak resident memory during the
//! download above what it was before. Client and server share the process, so the growth
//! bounds the server's. The peak is the kernel's high-water mark (`VmHWM`), reset before each
//! download through `/proc/self/clear_refs`; Linux only.

use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use tollgate_api::usage::UsageExportQuery;
use tollgate_client::Client;
use tollgate_store::Scope;

use super::bench_receipts::{seeded, serve, Seeded};
use super::output::{json as pretty, outln};

/// Streaming a large export.
#[derive(Debug, Args)]
pub struct Export {
    /// Logs to seed and export.
    #[arg(long, default_value_t = 1_000_000)]
    logs: u64,
    /// Database to use (default: a new SQLite file in a temporary directory). The bench
    /// adds a tenant of its own; nothing else is touched.
    #[arg(long, env = "TOLLGATE_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status (the export bench needs Linux)")?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .with_context(|| format!("no {field} in /proc/self/status"))
}

/// Resets the peak resident memory (`VmHWM`) to the current one.
fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")
}

/// What `bench export --json` prints.
#[derive(Serialize)]
struct ExportReport {
    logs: u64,
    engine: &'static str,
    seed_seconds: f64,
    exports: Vec<ExportRun>,
}

/// One format's download.
#[derive(Serialize)]
struct ExportRun {
    format: &'static str,
    rows: u64,
    seconds: f64,
    rows_per_second: f64,
    megabytes: f64,
    rss_before_mb: f64,
    peak_rss_growth_mb: f64,
}

impl Export {
    pub async fn run(self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let Seeded {
            store,
            secret,
            seed_seconds,
        } = seeded(
            self.database_url.clone(),
            dir.path(),
            "export",
            vec![Scope::Read],
            self.logs,
        )
        .await?;
        let (base, stop, task) = serve(store.clone(), dir.path()).await?;
        let client = Client::new(&base, &secret)?;

        let mut runs = Vec::new();
        for format in ["csv", "jsonl"] {
            let before = status_bytes("VmRSS:")?;
            reset_peak()?;
            let started = Instant::now();
            let query = UsageExportQuery {
                format: Some(format.to_string()),
                ..Default::default()
            };
            let mut download = client.export_usage(&query).await?;
            let (mut bytes, mut lines) = (0u64, 0u64);
            while let Some(chunk) = download.chunk().await? {
                bytes += chunk.len() as u64;
                lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            let seconds = started.elapsed().as_secs_f64();
            let peak = status_bytes("VmHWM:")?;
            let rows = lines - u64::from(format == "csv");
            if rows != self.logs || download.count != Some(self.logs) {
                bail!(
                    "the {format} export held {rows} rows (announced {:?}) of {} logs",
                    download.count,
                    self.logs
                );
            }
            runs.push(ExportRun {
                format,
                rows,
                seconds,
                rows_per_second: rows as f64 / seconds,
                megabytes: bytes as f64 / 1e6,
                rss_before_mb: before as f64 / 1e6,
                peak_rss_growth_mb: peak.saturating_sub(before) as f64 / 1e6,
            });
        }
        let _ = stop.send(());
        task.await??;

        let report = ExportReport {
            logs: self.logs,
            engine: store.dialect().as_str(),
            seed_seconds,
            exports: runs,
        };
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!(
                "{} logs on {}, seeded in {:.1} s",
                report.logs,
                report.engine,
                report.seed_seconds
            );
            for r in &report.exports {
                outln!(
                    "  {:5}  {:>9.0} rows/s  {:>6.1} s  {:>7.1} MB  peak RSS growth {:.1} MB (from {:.1} MB)",
                    r.format,
                    r.rows_per_second,
                    r.seconds,
                    r.megabytes,
                    r.peak_rss_growth_mb,
                    r.rss_before_mb,
                );
            }
        }
        Ok(())
    }
}
