//! `tollgate retention run`: runs retention once against the configured database, as the
//! server's scheduled job does, and prints what it did per tenant.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_core::time::now_us;
use tollgate_store::{RetentionOptions, RetentionReport, UNCERTIFIED_HINT};

use super::output::{json, outln, table};
use super::Db;
use crate::config;

/// Retention.
#[derive(Debug, Subcommand)]
pub enum Retention {
    /// Archive old usage events, delete old archives and drop old message content now.
    Run(Run),
}

/// `retention run`.
#[derive(Debug, Args)]
pub struct Run {
    /// Count what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: Db,
}

impl Retention {
    /// Runs it; exits 1 when retention failed for any tenant.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let Retention::Run(run) = self;
        let settings = config::load(&run.db, &[])?;
        let policy = settings
            .retention_policy()
            .map_err(|e| anyhow::anyhow!(e))?;
        let store = config::open_store(&settings).await?;
        let opts = RetentionOptions {
            dry_run: run.dry_run,
            ..Default::default()
        };
        let report = store.run_retention(&policy, &opts, now_us()).await?;
        store.close().await;
        print(&report, &policy.archive_dir.display().to_string(), run.json);
        let failed = report.tenants.iter().any(|t| t.error.is_some());
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

fn print(report: &RetentionReport, archive_dir: &str, as_json: bool) {
    if as_json {
        let tenants: Vec<_> = report
            .tenants
            .iter()
            .map(|t| {
                json!({
                    "tenant_id": t.tenant_id,
                    "tenant": t.tenant_name,
                    "events_archived": t.events_archived,
                    "archives_written": t.archives_written,
                    "archives_deleted": t.archives_deleted,
                    "contents_dropped": t.contents_dropped,
                    "months_skipped_uncertified": t.months_skipped_uncertified,
                    "webhook_history_pruned": t.webhook_history_pruned,
                    "busy": t.busy,
                    "error": t.error,
                })
            })
            .collect();
        let skipped = report
            .tenants
            .iter()
            .any(|t| t.months_skipped_uncertified > 0);
        let doc = json!({
            "dry_run": report.dry_run,
            "archive_dir": archive_dir,
            "tenants": tenants,
            "hint": skipped.then_some(UNCERTIFIED_HINT),
        });
        outln!("{}", json(&doc));
        return;
    }
    let rows = report
        .tenants
        .iter()
        .map(|t| {
            let status = match (&t.error, t.busy) {
                (Some(e), _) => format!("failed: {e}"),
                (None, true) => "busy (another runner holds it)".into(),
                (None, false) => "ok".into(),
            };
            vec![
                t.tenant_name.clone(),
                t.events_archived.to_string(),
                t.archives_written.to_string(),
                t.archives_deleted.to_string(),
                t.contents_dropped.to_string(),
                t.months_skipped_uncertified.to_string(),
                t.webhook_history_pruned.to_string(),
                status,
            ]
        })
        .collect();
    if report.dry_run {
        outln!("dry run: nothing was changed; this is what a run would do");
    }
    outln!(
        "{}",
        table(
            &[
                "tenant",
                "events archived",
                "archives written",
                "archives deleted",
                "contents dropped",
                "months skipped (uncertified)",
                "webhook history pruned",
                "status"
            ],
            rows
        )
    );
    outln!("archive directory: {archive_dir}");
    if report
        .tenants
        .iter()
        .any(|t| t.months_skipped_uncertified > 0)
    {
        outln!(
            "some old months stayed live because receipts have not certified all their events: \
             {UNCERTIFIED_HINT}"
        );
    }
}
