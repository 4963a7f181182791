//! The background retention job: runs the store's retention on a schedule and counts what it
//! did. The work and its crash safety are the store's (`Store::run_retention`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tollgate_core::time::now_us;
use tollgate_store::{RetentionOptions, RetentionPolicy, Store, UNCERTIFIED_HINT};

use crate::metrics::Metrics;

/// Runs retention every `every` (None when it is zero: retention is then run by hand).
pub fn run_every(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    policy: RetentionPolicy,
    every: Duration,
) -> Option<JoinHandle<()>> {
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match store
                .run_retention(&policy, &RetentionOptions::default(), now_us())
                .await
            {
                Ok(report) => {
                    metrics.retention_run(&report);
                    for t in report.tenants.iter().filter(|t| {
                        t.events_archived > 0
                            || t.archives_deleted > 0
                            || t.contents_dropped > 0
                            || t.months_skipped_uncertified > 0
                            || t.webhook_history_pruned > 0
                    }) {
                        tracing::info!(
                            tenant = %t.tenant_id,
                            events_archived = t.events_archived,
                            archives_deleted = t.archives_deleted,
                            contents_dropped = t.contents_dropped,
                            months_skipped_uncertified = t.months_skipped_uncertified,
                            webhook_history_pruned = t.webhook_history_pruned,
                            "retention"
                        );
                    }
                    if report
                        .tenants
                        .iter()
                        .any(|t| t.months_skipped_uncertified > 0)
                    {
                        tracing::warn!(
                            "retention left old months live because receipts have not certified \
                             all their events: {UNCERTIFIED_HINT}"
                        );
                    }
                }
                Err(e) => {
                    metrics
                        .retention_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "retention failed; retrying at the next run");
                }
            }
        }
    }))
}
