//! Connection metrics: open connections and the cap, shed and refused connections, accept
//! errors and timeouts. Part of [`crate::metrics::Metrics`], rendered with it.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which timeout closed a connection or failed a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timeout {
    /// The request head did not arrive in time (`http.header_read_timeout_ms`).
    Header = 0,
    /// The connection stayed silent between requests (`http.idle_timeout_ms`).
    Idle = 1,
    /// The request body did not arrive in time (`http.body_timeout_ms`).
    Body = 2,
    /// The client took none of a response for too long (`http.write_timeout_ms`).
    Write = 3,
}

const TIMEOUT_NAMES: [&str; 4] = ["header", "idle", "body", "write"];

/// What the accept loop and the connections count.
#[derive(Default)]
pub struct ConnMetrics {
    pub(crate) open: AtomicU64,
    pub(crate) max: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) shed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    timeouts: [AtomicU64; 4],
}

impl ConnMetrics {
    /// Counts one timeout.
    pub(crate) fn timeout(&self, kind: Timeout) {
        self.timeouts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the exposition of these metrics to `out`.
    pub(crate) fn render(&self, out: &mut String) {
        let gauges = [
            (
                "tollgate_http_connections_open",
                "HTTP connections open.",
                &self.open,
            ),
            (
                "tollgate_http_connections_max",
                "The most HTTP connections served at once (http.max_connections).",
                &self.max,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "tollgate_http_connections_accepted_total",
                "HTTP connections accepted and served.",
                &self.accepted,
            ),
            (
                "tollgate_http_connections_shed_total",
                "Silent HTTP connections (or, when none is, slow request heads) closed to make room for a new one at the cap.",
                &self.shed,
            ),
            (
                "tollgate_http_connections_refused_total",
                "HTTP connections answered 503 and closed because every connection was busy.",
                &self.refused,
            ),
            (
                "tollgate_http_accept_errors_total",
                "Failed accepts, such as running out of file descriptors.",
                &self.accept_errors,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP tollgate_http_timeouts_total HTTP connections closed or requests failed by a timeout, by kind.\n\
             # TYPE tollgate_http_timeouts_total counter\n",
        );
        for (kind, n) in TIMEOUT_NAMES.iter().zip(&self.timeouts) {
            let _ = writeln!(
                out,
                "tollgate_http_timeouts_total{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_counted_by_kind_beside_the_connection_gauges() {
        let m = ConnMetrics::default();
        m.open.store(3, Ordering::Relaxed);
        m.timeout(Timeout::Body);
        m.timeout(Timeout::Body);
        m.timeout(Timeout::Write);
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains(
            "# TYPE tollgate_http_connections_open gauge\ntollgate_http_connections_open 3"
        ));
        assert!(text.contains("tollgate_http_timeouts_total{kind=\"body\"} 2"));
        assert!(text.contains("tollgate_http_timeouts_total{kind=\"header\"} 0"));
        assert!(text.contains("tollgate_http_timeouts_total{kind=\"write\"} 1"));
    }
}
