//! Prometheus metrics, kept in process and written in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tollgate_store::AppendGuesses;

/// A histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, to stay in integers.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if value <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6).round() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];
const SECONDS_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Request counts of one route, by method and status.
type ByStatus = BTreeMap<(&'static str, u16), u64>;

/// Every metric Tollgate exports.
pub struct Metrics {
    /// Route → (method, status) → count; looked up by `&str`, so counting allocates only
    /// the first time a route is seen.
    requests: Mutex<BTreeMap<String, ByStatus>>,
    /// Events written to the log.
    pub ingested_events: AtomicU64,
    /// Repeats answered without writing.
    pub duplicate_events: AtomicU64,
    /// Events per commit.
    pub commit_batch_events: Histogram,
    /// Commit latency.
    pub commit_seconds: Histogram,
    /// Commits that failed.
    pub commit_failures: AtomicU64,
    /// Receipts issued.
    pub receipts_issued: AtomicU64,
    /// Logs certified by the receipts issued.
    pub receipt_logs_certified: AtomicU64,
    /// Authorization decisions by outcome (`allowed` or the refusal code).
    decisions: Mutex<BTreeMap<&'static str, u64>>,
    /// Holds released by the expiry job.
    pub holds_expired: AtomicU64,
    /// Holds open at the last look (every expiry run).
    pub holds_open: AtomicU64,
    /// Retention runs finished (with or without failures).
    pub retention_runs: AtomicU64,
    /// Usage events moved to archive files.
    pub retention_events_archived: AtomicU64,
    /// Archive files deleted past the delete age.
    pub retention_archives_deleted: AtomicU64,
    /// Messages whose content retention dropped.
    pub retention_contents_dropped: AtomicU64,
    /// Retention runs, or tenants within one, that failed.
    pub retention_failures: AtomicU64,
    /// Months left live because receipts have not certified all their events.
    pub retention_months_skipped: AtomicU64,
    /// Webhook attempts by outcome: delivered, failed and retried, failed for good.
    webhook_outcomes: [AtomicU64; 3],
    /// HTTP connections: open, shed, refused, timeouts.
    pub connections: crate::conn_metrics::ConnMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            ingested_events: AtomicU64::new(0),
            duplicate_events: AtomicU64::new(0),
            commit_batch_events: Histogram::new(BATCH_BOUNDS),
            commit_seconds: Histogram::new(SECONDS_BOUNDS),
            commit_failures: AtomicU64::new(0),
            receipts_issued: AtomicU64::new(0),
            receipt_logs_certified: AtomicU64::new(0),
            decisions: Mutex::new(BTreeMap::new()),
            holds_expired: AtomicU64::new(0),
            holds_open: AtomicU64::new(0),
            retention_runs: AtomicU64::new(0),
            retention_events_archived: AtomicU64::new(0),
            retention_archives_deleted: AtomicU64::new(0),
            retention_contents_dropped: AtomicU64::new(0),
            retention_failures: AtomicU64::new(0),
            retention_months_skipped: AtomicU64::new(0),
            webhook_outcomes: Default::default(),
            connections: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &'static str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let by_status = match map.get_mut(route) {
            Some(m) => m,
            None => map.entry(route.to_string()).or_default(),
        };
        *by_status.entry((method, status)).or_default() += 1;
    }

    /// Counts one issued receipt certifying `logs` logs.
    pub fn receipt_issued(&self, logs: i64) {
        self.receipts_issued.fetch_add(1, Ordering::Relaxed);
        self.receipt_logs_certified
            .fetch_add(u64::try_from(logs).unwrap_or(0), Ordering::Relaxed);
    }

    /// Counts one authorization decision: `allowed`, or the refusal's code.
    pub fn decision(&self, outcome: &'static str) {
        let mut map = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(outcome).or_default() += 1;
    }

    /// Counts what a retention run did.
    pub fn retention_run(&self, report: &tollgate_store::RetentionReport) {
        let add = |c: &AtomicU64, n: i64| {
            c.fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
        };
        self.retention_runs.fetch_add(1, Ordering::Relaxed);
        for t in &report.tenants {
            add(&self.retention_events_archived, t.events_archived);
            add(&self.retention_archives_deleted, t.archives_deleted);
            add(&self.retention_contents_dropped, t.contents_dropped);
            add(&self.retention_failures, i64::from(t.error.is_some()));
            add(&self.retention_months_skipped, t.months_skipped_uncertified);
        }
    }

    /// Counts one webhook attempt: delivered, or failed with or without a retry to come.
    pub fn webhook_attempt(&self, delivered: bool, will_retry: bool) {
        let i = match (delivered, will_retry) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        self.webhook_outcomes[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition; `retries` is the store's count of contention retries, and
    /// `guesses` how its appends planned on a guess fared.
    pub fn render(&self, retries: u64, guesses: AppendGuesses) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP tollgate_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE tollgate_http_requests_total counter\n");
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((route, method, status), n) in map.iter().flat_map(|(r, m)| {
            m.iter()
                .map(move |((method, status), n)| ((r, *method, *status), *n))
        }) {
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "tollgate_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let counters = [
            (
                "tollgate_ingested_events_total",
                "Usage events written to tenant logs.",
                &self.ingested_events,
            ),
            (
                "tollgate_duplicate_events_total",
                "Repeated calls answered without writing.",
                &self.duplicate_events,
            ),
            (
                "tollgate_commit_failures_total",
                "Ingestion commits that failed.",
                &self.commit_failures,
            ),
            (
                "tollgate_receipts_issued_total",
                "Signed receipts issued.",
                &self.receipts_issued,
            ),
            (
                "tollgate_receipt_logs_certified_total",
                "Logs certified by the receipts issued (a log certified twice counts twice).",
                &self.receipt_logs_certified,
            ),
            (
                "tollgate_holds_expired_total",
                "Holds released by this instance's expiry job.",
                &self.holds_expired,
            ),
            (
                "tollgate_retention_runs_total",
                "Retention runs finished.",
                &self.retention_runs,
            ),
            (
                "tollgate_retention_events_archived_total",
                "Usage events moved to archive files.",
                &self.retention_events_archived,
            ),
            (
                "tollgate_retention_archives_deleted_total",
                "Archive files deleted past the delete age.",
                &self.retention_archives_deleted,
            ),
            (
                "tollgate_retention_contents_dropped_total",
                "Messages whose content retention dropped.",
                &self.retention_contents_dropped,
            ),
            (
                "tollgate_retention_failures_total",
                "Retention runs, or tenants within one, that failed.",
                &self.retention_failures,
            ),
            (
                "tollgate_retention_months_skipped_total",
                "Months retention left live because receipts have not certified all their events.",
                &self.retention_months_skipped,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_store_contention_retries_total Write transactions the database aborted for contention (deadlock, serialization failure, SQLite busy) and the store ran again.\n\
             # TYPE tollgate_store_contention_retries_total counter\ntollgate_store_contention_retries_total {}",
            retries
        );
        for (name, help, value) in [
            (
                "tollgate_store_one_statement_appends_total",
                "Batches of plain calls and charges written in one statement on this instance's guess of the log heads and the charged accounts' books (PostgreSQL).",
                guesses.written,
            ),
            (
                "tollgate_store_stale_guesses_total",
                "Batches whose guess had moved (another instance's append, a top-up, a hold), which wrote nothing there and took the locked path (PostgreSQL).",
                guesses.stale,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_holds_open Holds open (all instances), as of the last expiry run.\n\
             # TYPE tollgate_holds_open gauge\ntollgate_holds_open {}",
            self.holds_open.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP tollgate_authorize_decisions_total Authorization decisions, by outcome.\n\
             # TYPE tollgate_authorize_decisions_total counter\n",
        );
        let decisions = self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (outcome, n) in decisions {
            let _ = writeln!(
                out,
                "tollgate_authorize_decisions_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP tollgate_webhook_deliveries_total Webhook delivery attempts, by outcome.\n\
             # TYPE tollgate_webhook_deliveries_total counter\n",
        );
        for (outcome, n) in ["delivered", "retrying", "failed"]
            .iter()
            .zip(&self.webhook_outcomes)
        {
            let _ = writeln!(
                out,
                "tollgate_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        self.commit_batch_events.render(
            &mut out,
            "tollgate_commit_batch_events",
            "Events per ingestion commit.",
        );
        self.commit_seconds.render(
            &mut out,
            "tollgate_commit_seconds",
            "Ingestion commit latency.",
        );
        self.connections.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_requests_and_fills_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/api/v1/log", "POST", 200);
        m.request("/api/v1/log", "POST", 200);
        m.commit_batch_events.observe(3.0);
        let guesses = AppendGuesses {
            written: 5,
            stale: 2,
        };
        let text = m.render(0, guesses);
        assert!(text.contains(
            "tollgate_http_requests_total{route=\"/api/v1/log\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains("tollgate_store_one_statement_appends_total 5\n"));
        assert!(text.contains(
            "# TYPE tollgate_store_stale_guesses_total counter\ntollgate_store_stale_guesses_total 2\n"
        ));
        assert!(text.contains("tollgate_commit_batch_events_bucket{le=\"2\"} 0"));
        assert!(text.contains("tollgate_commit_batch_events_bucket{le=\"4\"} 1"));
        assert!(text.contains("tollgate_commit_batch_events_count 1"));
    }

    #[test]
    fn decisions_are_counted_by_outcome_and_holds_are_a_gauge() {
        let m = Metrics::default();
        m.decision("allowed");
        m.decision("allowed");
        m.decision("QUOTA_EXCEEDED");
        m.holds_open.store(7, Ordering::Relaxed);
        let text = m.render(0, AppendGuesses::default());
        assert!(text.contains("tollgate_authorize_decisions_total{outcome=\"allowed\"} 2"));
        assert!(text.contains("tollgate_authorize_decisions_total{outcome=\"QUOTA_EXCEEDED\"} 1"));
        assert!(text.contains("# TYPE tollgate_holds_open gauge\ntollgate_holds_open 7"));
    }

    #[test]
    fn a_retention_run_adds_its_counts_and_its_failed_tenants() {
        let m = Metrics::default();
        let report = tollgate_store::RetentionReport {
            tenants: vec![
                tollgate_store::TenantRetention {
                    events_archived: 7,
                    archives_deleted: 1,
                    contents_dropped: 3,
                    months_skipped_uncertified: 2,
                    ..Default::default()
                },
                tollgate_store::TenantRetention {
                    error: Some("disk full".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        m.retention_run(&report);
        let text = m.render(0, AppendGuesses::default());
        assert!(text.contains("tollgate_retention_runs_total 1"));
        assert!(text.contains("tollgate_retention_events_archived_total 7"));
        assert!(text.contains("tollgate_retention_archives_deleted_total 1"));
        assert!(text.contains("tollgate_retention_contents_dropped_total 3"));
        assert!(text.contains("tollgate_retention_failures_total 1"));
        assert!(text.contains("tollgate_retention_months_skipped_total 2"));
    }
}
