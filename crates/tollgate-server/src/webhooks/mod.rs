//! The webhook delivery worker.
//!
//! Every `poll_ms` the worker raises quota alerts (at most every `quota_scan_seconds`) and
//! unusual-spend alerts (at most every `alerts.unusual_spend.scan_seconds`), and fans
//! new alerts out to the endpoints that want them; it keeps up to [`MAX_IN_FLIGHT`] deliveries
//! being sent, claiming more as sends finish, so one slow endpoint holds one slot rather than
//! the whole queue. The request path never waits for it: alerts are rows written by the
//! transactions that cross a threshold. Each attempt's outcome is stored by the task that made
//! it, and a claim is a lease, so a restart loses nothing (an attempt cut off mid-send is
//! retried when its lease ends).

pub(crate) mod egress;
mod send;
mod signing;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};
use tollgate_core::time::now_us;
use tollgate_core::Nanos;
use tollgate_store::{DueDelivery, Store, StoreError, UnusualSpendRule};

use crate::metrics::Metrics;
use crate::settings::WebhookSettings;

pub use egress::{is_private, refused_host};
pub use send::{body, PRIVATE_ADDRESS};
pub use signing::{check_secret, new_secret, sign, SECRET_PREFIX};

/// Most deliveries one instance sends at once.
const MAX_IN_FLIGHT: usize = 32;
/// Most alerts fanned out per round.
const DISPATCH_BATCH: i64 = 256;

/// The delivery policy, checked at start.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Pause between rounds with nothing to do.
    pub poll: Duration,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// First retry wait.
    pub retry_base: Duration,
    /// Longest retry wait.
    pub retry_max: Duration,
    /// How long after an alert retries go on.
    pub horizon: Duration,
    /// Pause between quota scans.
    pub quota_scan: Duration,
    /// `balance.low` threshold.
    pub balance_low: Option<Nanos>,
    /// Whether deliveries may reach loopback, private and link-local addresses.
    pub allow_private_networks: bool,
    /// The unusual-spend rule (None: off) and the pause between its scans.
    pub unusual: Option<(UnusualSpendRule, Duration)>,
}

impl Policy {
    /// Checks and resolves the settings.
    pub fn from_settings(s: &WebhookSettings) -> Result<Policy, String> {
        if s.poll_ms == 0 || s.timeout_ms == 0 || s.retry_base_ms == 0 {
            return Err("webhooks.poll_ms, timeout_ms and retry_base_ms must be at least 1".into());
        }
        let balance_low = match s.balance_low.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => match Nanos::parse_exact(t) {
                Ok(n) if n.0 > 0 => Some(n),
                _ => {
                    return Err(format!(
                    "webhooks.balance_low must be a positive decimal amount like \"5\" or \"0.50\", not '{t}'"
                ))
                }
            },
        };
        Ok(Policy {
            poll: Duration::from_millis(s.poll_ms),
            timeout: Duration::from_millis(s.timeout_ms),
            retry_base: Duration::from_millis(s.retry_base_ms),
            retry_max: Duration::from_millis(s.retry_max_ms.max(s.retry_base_ms)),
            horizon: Duration::from_secs(s.retry_horizon_seconds),
            quota_scan: Duration::from_secs(s.quota_scan_seconds),
            balance_low,
            allow_private_networks: s.allow_private_networks,
            unusual: None,
        })
    }

    /// When to try again after `attempts` failed attempts, or None when retries are over:
    /// past the horizon after the alert, except that a first failed attempt is always retried
    /// once (a server down longer than the horizon still gives its deliveries two attempts).
    pub fn retry_at(&self, attempts: i64, event_created_us: i64, now: i64) -> Option<i64> {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        let wait = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.retry_max);
        let at = now.saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX));
        let end = event_created_us
            .saturating_add(i64::try_from(self.horizon.as_micros()).unwrap_or(i64::MAX));
        (at <= end || attempts <= 1).then_some(at)
    }
}

/// The HTTP client deliveries are sent with: no redirects followed, and unless private
/// networks are allowed, a resolver that drops private addresses and no proxy (a proxy would
/// resolve the endpoint itself, past that check).
fn client(policy: &Policy) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tollgate-webhooks/", env!("CARGO_PKG_VERSION")));
    if !policy.allow_private_networks {
        builder = builder
            .dns_resolver(Arc::new(egress::PublicOnly))
            .no_proxy();
    }
    builder
        .build()
        .map_err(|e| format!("webhook HTTP client: {e}"))
}

/// Starts the worker.
pub fn start(
    store: Arc<dyn Store>,
    policy: Policy,
    metrics: Arc<Metrics>,
) -> Result<JoinHandle<()>, String> {
    let http = client(&policy)?;
    let policy = Arc::new(policy);
    Ok(tokio::spawn(async move {
        let mut last_scan: Option<tokio::time::Instant> = None;
        let mut last_unusual: Option<tokio::time::Instant> = None;
        let mut sends = JoinSet::new();
        loop {
            if last_scan.is_none_or(|t| t.elapsed() >= policy.quota_scan) {
                last_scan = Some(tokio::time::Instant::now());
                if let Err(e) = store.scan_quotas(now_us()).await {
                    tracing::warn!(error = %e, "quota alert scan failed");
                }
            }
            if let Some((rule, every)) = &policy.unusual {
                if last_unusual.is_none_or(|t| t.elapsed() >= *every) {
                    last_unusual = Some(tokio::time::Instant::now());
                    if let Err(e) = store.scan_unusual_spend(rule, now_us()).await {
                        tracing::warn!(error = %e, "unusual spend scan failed");
                    }
                }
            }
            while sends.try_join_next().is_some() {}
            let free = MAX_IN_FLIGHT - sends.len();
            let claimed = if free == 0 {
                0
            } else {
                match claim(&store, &policy, free).await {
                    Ok(due) => {
                        let n = due.len();
                        for d in due {
                            let sending = Sending {
                                store: store.clone(),
                                http: http.clone(),
                                policy: policy.clone(),
                                metrics: metrics.clone(),
                            };
                            sends.spawn(sending.run(d));
                        }
                        n
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook round failed");
                        0
                    }
                }
            };
            pause(&mut sends, claimed, MAX_IN_FLIGHT, policy.poll).await;
        }
    }))
}

/// Between a worker's rounds: with room left (fewer than `most` sends) and work found, go on
/// at once; otherwise wait for a send to free a slot or for the next poll.
pub(crate) async fn pause(sends: &mut JoinSet<()>, claimed: usize, most: usize, poll: Duration) {
    if claimed == 0 || sends.len() == most {
        tokio::select! {
            _ = sends.join_next(), if !sends.is_empty() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// How long a claim's lease lasts when one attempt may take `timeout`: longer than an
/// attempt, so no other instance claims a delivery being sent.
pub(crate) fn lease_us(timeout: Duration) -> i64 {
    i64::try_from((timeout * 2 + Duration::from_secs(5)).as_micros()).unwrap_or(i64::MAX)
}

/// Fans out new alerts and claims up to `limit` due deliveries.
async fn claim(
    store: &Arc<dyn Store>,
    policy: &Policy,
    limit: usize,
) -> Result<Vec<DueDelivery>, StoreError> {
    store.dispatch_alerts(DISPATCH_BATCH, now_us()).await?;
    let now = now_us();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store
        .claim_deliveries(now, now.saturating_add(lease_us(policy.timeout)), limit)
        .await
}

/// What one send needs.
struct Sending {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    policy: Arc<Policy>,
    metrics: Arc<Metrics>,
}

impl Sending {
    /// Makes one attempt and records it.
    async fn run(self, d: DueDelivery) {
        let attempt = send::send(&self.http, &self.policy, &d).await;
        self.metrics
            .webhook_attempt(attempt.error.is_none(), attempt.retry_at_us.is_some());
        match self.store.finish_delivery(&d, &attempt, now_us()).await {
            Ok(true) => {}
            // The lease lapsed and another claim owns the delivery now: its outcome counts.
            Ok(false) => tracing::debug!(delivery = %d.id, "a webhook attempt outlived its lease"),
            // The lease expires and the delivery is attempted again.
            Err(e) => {
                tracing::warn!(error = %e, delivery = %d.id, "could not record a webhook attempt")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_settings(&WebhookSettings {
            retry_base_ms: 1000,
            retry_max_ms: 8000,
            retry_horizon_seconds: 60,
            ..WebhookSettings::default()
        })
        .expect("valid settings")
    }

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let p = policy();
        let waits: Vec<i64> = (1..=5)
            .map(|n| p.retry_at(n, 0, 0).expect("within the horizon"))
            .collect();
        assert_eq!(
            waits,
            vec![1_000_000, 2_000_000, 4_000_000, 8_000_000, 8_000_000]
        );
    }

    #[test]
    fn no_retry_is_planned_past_the_horizon_after_the_second_attempt() {
        assert_eq!(policy().retry_at(2, 0, 59_500_000), None);
        assert_eq!(policy().retry_at(5, 0, 3_600_000_000), None);
    }

    #[test]
    fn a_first_failed_attempt_is_retried_once_even_past_the_horizon() {
        assert_eq!(policy().retry_at(1, 0, 59_500_000), Some(60_500_000));
        assert_eq!(
            policy().retry_at(1, 0, 3_600_000_000),
            Some(3_601_000_000),
            "after downtime longer than the horizon"
        );
    }
}
