//! One delivery attempt: the signed request and what came of it.
//!
//! The delivery log is shown to the tenant, so its errors are generic ("connection failed",
//! "timed out", "HTTP 503"): the HTTP client's error chain names addresses and resolver
//! failures of the server's network and is only logged, at debug.

use tollgate_api::webhooks::AlertEvent;
use tollgate_core::time::{format_us, now_us};
use tollgate_store::{Attempt, DueDelivery};

use super::egress::{caused_by_private_address, ip_literal, is_private};
use super::signing::sign;
use super::Policy;

/// The error of a delivery refused because its endpoint is on a private network.
pub const PRIVATE_ADDRESS: &str = "the endpoint resolves to a private address; set \
     webhooks.allow_private_networks to allow it";

/// The error of a delivery whose endpoint's secret cannot sign.
pub const UNUSABLE_SECRET: &str = "the endpoint's secret is not usable";

/// The body of an alert: `{data, timestamp, type}`.
pub fn body(event_type: &str, created_us: i64, data: &str) -> String {
    let event = AlertEvent {
        data: serde_json::from_str(data).unwrap_or(serde_json::Value::Null),
        timestamp: format_us(created_us),
        event_type: event_type.to_string(),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// A failure that no later attempt can mend: marked failed at once.
fn final_failure(error: &str) -> Attempt {
    Attempt {
        status_code: None,
        error: Some(error.into()),
        retry_at_us: None,
    }
}

/// Sends one delivery and says what came of it.
pub async fn send(http: &reqwest::Client, policy: &Policy, d: &DueDelivery) -> Attempt {
    let failed = |status_code: Option<i64>, error: String| Attempt {
        status_code,
        error: Some(error),
        retry_at_us: policy.retry_at(d.attempts + 1, d.event_created_us, now_us()),
    };
    let Ok(url) = reqwest::Url::parse(&d.url) else {
        return final_failure("the endpoint's url is not usable");
    };
    // IP literals are connected to without resolving, so the resolver cannot check them.
    if !policy.allow_private_networks && ip_literal(&url).is_some_and(is_private) {
        return final_failure(PRIVATE_ADDRESS);
    }
    let payload = body(&d.event_type, d.event_created_us, &d.data);
    let timestamp = now_us().div_euclid(1_000_000);
    let Some(signature) = sign(&d.secret, &d.event_id, timestamp, &payload) else {
        return final_failure(UNUSABLE_SECRET);
    };
    let sent = http
        .post(url)
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
            failed(Some(i64::from(code)), format!("HTTP {code}"))
        }
        Err(e) => {
            tracing::debug!(error = %error_chain(&e), delivery = %d.id, "a webhook attempt failed");
            if caused_by_private_address(&e) {
                final_failure(PRIVATE_ADDRESS)
            } else if e.is_timeout() {
                failed(None, "timed out".into())
            } else if e.is_connect() {
                failed(None, "connection failed".into())
            } else {
                failed(None, "request failed".into())
            }
        }
    }
}

/// An error and its causes, for the log.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::WebhookSettings;

    fn due(url: &str, secret: &str) -> DueDelivery {
        DueDelivery {
            tenant_id: "t".into(),
            id: "dlv_1".into(),
            event_id: "evt_1".into(),
            event_type: "receipt.generated".into(),
            data: "{}".into(),
            event_created_us: now_us(),
            url: url.into(),
            secret: secret.into(),
            attempts: 0,
            lease_until_us: 0,
        }
    }

    fn policy() -> Policy {
        Policy::from_settings(&WebhookSettings::default()).expect("valid settings")
    }

    #[tokio::test]
    async fn a_secret_that_cannot_sign_fails_the_delivery_without_a_retry() {
        let http = reqwest::Client::new();
        let a = send(&http, &policy(), &due("https://hooks.example.com/x", "bad")).await;
        assert_eq!(a.error.as_deref(), Some(UNUSABLE_SECRET));
        assert_eq!(a.retry_at_us, None);
    }

    #[tokio::test]
    async fn an_internal_ip_endpoint_fails_without_a_request_or_a_retry() {
        let http = reqwest::Client::new();
        for url in ["http://127.0.0.1:9/x", "http://[::ffff:169.254.169.254]/"] {
            let a = send(&http, &policy(), &due(url, &crate::webhooks::new_secret())).await;
            assert_eq!(a.error.as_deref(), Some(PRIVATE_ADDRESS), "{url}");
            assert_eq!((a.status_code, a.retry_at_us), (None, None));
        }
    }
}
