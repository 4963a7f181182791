//! The webhook delivery worker and the Standard Webhooks signature.
//!
//! Every `poll_ms` the worker raises quota alerts (at most every `quota_scan_seconds`), fans new
//! alerts out to the endpoints that want them, then claims the deliveries that are due and
//! sends them concurrently. The request path never waits for it: alerts are rows written by
//! the transactions that cross a threshold. Each attempt's outcome is stored before the next
//! claim, and a claim is a lease, so a restart loses nothing (an attempt cut off mid-send is
//! retried when its lease ends).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::{JoinHandle, JoinSet};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::Nanos;
use tollgate_store::{Attempt, DueDelivery, PlanQuotas, Store};

use crate::metrics::Metrics;
use crate::settings::WebhookSettings;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Most deliveries sent at once by one instance.
const CLAIM_BATCH: i64 = 32;
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
        })
    }

    /// When to try again after `attempts` failed attempts, or None when the horizon is over.
    pub fn retry_at(&self, attempts: i64, event_created_us: i64, now: i64) -> Option<i64> {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        let wait = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.retry_max);
        let at = now.saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX));
        let end = event_created_us
            .saturating_add(i64::try_from(self.horizon.as_micros()).unwrap_or(i64::MAX));
        (at <= end).then_some(at)
    }
}

/// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key being the secret's
/// base64 part decoded. None when the secret is not `whsec_` + base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Why a secret given by a client is unusable, if it is.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let body = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or("secret must start with 'whsec_'")?;
    let key = STANDARD
        .decode(body)
        .map_err(|_| "secret must be 'whsec_' followed by standard base64")?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "secret must decode to 24 to 64 bytes, not {}",
            key.len()
        ));
    }
    Ok(())
}

/// Starts the worker.
pub fn start(
    store: Arc<dyn Store>,
    policy: Policy,
    plans: PlanQuotas,
    metrics: Arc<Metrics>,
) -> Result<JoinHandle<()>, String> {
    let http = reqwest::Client::builder()
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tollgate-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("webhook HTTP client: {e}"))?;
    let policy = Arc::new(policy);
    Ok(tokio::spawn(async move {
        let mut last_scan: Option<tokio::time::Instant> = None;
        loop {
            if last_scan.is_none_or(|t| t.elapsed() >= policy.quota_scan) {
                last_scan = Some(tokio::time::Instant::now());
                if let Err(e) = store.scan_quotas(&plans, now_us()).await {
                    tracing::warn!(error = %e, "quota alert scan failed");
                }
            }
            let busy = match round(&*store, &http, &policy, &metrics).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook round failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(policy.poll).await;
            }
        }
    }))
}

/// One round: fan out, claim, send. Returns the deliveries attempted.
async fn round(
    store: &dyn Store,
    http: &reqwest::Client,
    policy: &Arc<Policy>,
    metrics: &Arc<Metrics>,
) -> Result<usize, tollgate_store::StoreError> {
    store.dispatch_alerts(DISPATCH_BATCH, now_us()).await?;
    let now = now_us();
    // The lease outlasts an attempt, so no other instance claims a delivery being sent.
    let lease = i64::try_from((policy.timeout * 2 + Duration::from_secs(5)).as_micros())
        .unwrap_or(i64::MAX);
    let due = store
        .claim_deliveries(now, now.saturating_add(lease), CLAIM_BATCH)
        .await?;
    let n = due.len();
    let mut sends = JoinSet::new();
    for d in due {
        let http = http.clone();
        let policy = policy.clone();
        sends.spawn(async move {
            let attempt = send(&http, &policy, &d).await;
            (d, attempt)
        });
    }
    while let Some(done) = sends.join_next().await {
        let Ok((d, attempt)) = done else { continue };
        metrics.webhook_attempt(attempt.error.is_none(), attempt.retry_at_us.is_some());
        match store.finish_delivery(&d, &attempt, now_us()).await {
            Ok(true) => {}
            // The lease lapsed and another claim owns the delivery now: its outcome counts.
            Ok(false) => tracing::debug!(delivery = %d.id, "a webhook attempt outlived its lease"),
            // The lease expires and the delivery is attempted again.
            Err(e) => {
                tracing::warn!(error = %e, delivery = %d.id, "could not record a webhook attempt")
            }
        }
    }
    Ok(n)
}

/// The body of an alert: `{type, timestamp, data}`.
pub fn body(event_type: &str, created_us: i64, data: &str) -> String {
    let data: serde_json::Value = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({"type": event_type, "timestamp": format_us(created_us), "data": data})
        .to_string()
}

/// Sends one delivery and says what came of it.
async fn send(http: &reqwest::Client, policy: &Policy, d: &DueDelivery) -> Attempt {
    let payload = body(&d.event_type, d.event_created_us, &d.data);
    let timestamp = now_us().div_euclid(1_000_000);
    let failed = |status_code: Option<i64>, error: String| Attempt {
        status_code,
        error: Some(error),
        retry_at_us: policy.retry_at(d.attempts + 1, d.event_created_us, now_us()),
    };
    let Some(signature) = sign(&d.secret, &d.event_id, timestamp, &payload) else {
        return failed(None, "the endpoint's secret is not usable".into());
    };
    let sent = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Attempt {
            status_code: Some(i64::from(resp.status().as_u16())),
            error: None,
            retry_at_us: None,
        },
        Ok(resp) => {
            let code = resp.status().as_u16();
            failed(
                Some(i64::from(code)),
                format!("the endpoint answered HTTP {code}"),
            )
        }
        Err(e) if e.is_timeout() => failed(None, "the endpoint did not answer in time".into()),
        Err(e) => failed(None, format!("could not reach the endpoint: {e}")),
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
    fn no_retry_is_planned_past_the_horizon() {
        assert_eq!(policy().retry_at(1, 0, 59_500_000), None);
    }

    #[test]
    fn a_signature_is_the_hmac_of_id_timestamp_and_body() {
        let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 32]));
        let sig = sign(&secret, "evt_1", 1_700_000_000, "{}").expect("a usable secret");
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).expect("any key length");
        mac.update(b"evt_1.1700000000.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(sig, expected);
        assert_eq!(sign("not-a-secret", "evt_1", 0, "{}"), None);
    }

    #[test]
    fn generated_secrets_pass_the_check_and_malformed_ones_do_not() {
        assert_eq!(check_secret(&new_secret()), Ok(()));
        assert!(check_secret("whsec_short").is_err());
        assert!(check_secret("abc").is_err());
    }
}
