//! The alert email worker: sends the email deliveries the alert fan-out made, through the
//! configured SMTP server, and retries them as webhook deliveries are retried (the same
//! `webhooks.retry_*` policy).
//!
//! It runs only where `notifications.smtp` is set. Every `webhooks.poll_ms` it fans out new
//! alerts (the webhook worker does too; whichever comes first does it, once) and claims due
//! email deliveries with a lease, so instances sharing a database never send one twice; up to
//! [`MAX_IN_FLIGHT`] messages are sent at once, one connection each.

pub mod message;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};
use tollgate_core::time::now_us;
use tollgate_store::{Attempt, DueEmail, Store, UnusualSpendRule};

use crate::webhooks::{lease_us, pause, Policy};

/// Most messages one instance sends at once.
const MAX_IN_FLIGHT: usize = 4;
/// Most alerts fanned out per round.
const DISPATCH_BATCH: i64 = 256;

/// Starts the worker.
pub fn start(store: Arc<dyn Store>, mailer: smtp::Mailer, policy: Policy) -> JoinHandle<()> {
    let mailer = Arc::new(mailer);
    let policy = Arc::new(policy);
    tokio::spawn(async move {
        let mut sends = JoinSet::new();
        loop {
            while sends.try_join_next().is_some() {}
            let free = MAX_IN_FLIGHT - sends.len();
            let mut claimed = 0;
            if free > 0 {
                match claim(&store, &mailer, free).await {
                    Ok(due) => {
                        claimed = due.len();
                        for d in due {
                            let (store, mailer, policy) =
                                (store.clone(), mailer.clone(), policy.clone());
                            sends.spawn(async move { attempt(&*store, &mailer, &policy, d).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "alert email round failed"),
                }
            }
            pause(&mut sends, claimed, MAX_IN_FLIGHT, policy.poll).await;
        }
    })
}

async fn claim(
    store: &Arc<dyn Store>,
    mailer: &smtp::Mailer,
    limit: usize,
) -> Result<Vec<DueEmail>, tollgate_store::StoreError> {
    store.dispatch_alerts(DISPATCH_BATCH, now_us()).await?;
    let now = now_us();
    store
        .claim_emails(
            now,
            now.saturating_add(lease_us(mailer.timeout())),
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .await
}

/// Sends one message and records how it went.
async fn attempt(store: &dyn Store, mailer: &smtp::Mailer, policy: &Policy, d: DueEmail) {
    let mail = message::compose(&d);
    let outcome = match mailer.send(&mail).await {
        Ok(code) => Attempt {
            status_code: Some(i64::from(code)),
            error: None,
            retry_at_us: None,
        },
        Err(e) => {
            tracing::warn!(delivery = %d.id, error = %e.detail, "an alert email attempt failed");
            Attempt {
                status_code: e.code.map(i64::from),
                error: Some(e.message),
                retry_at_us: if e.transient {
                    policy.retry_at(d.attempts + 1, d.event_created_us, now_us())
                } else {
                    None
                },
            }
        }
    };
    match store.finish_email(&d, &outcome, now_us()).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!(delivery = %d.id, "an email attempt outlived its lease"),
        Err(e) => tracing::warn!(error = %e, delivery = %d.id, "could not record an email attempt"),
    }
}

/// The unusual-spend rule the settings describe; None when it is off.
pub fn unusual_rule(
    s: &crate::settings::UnusualSpendSettings,
) -> Result<Option<(UnusualSpendRule, Duration)>, String> {
    let multiple = match s.multiple.as_deref().map(str::trim) {
        None | Some("") => return Ok(None),
        Some(t) => match t.parse::<rust_decimal::Decimal>() {
            Ok(m) if m > rust_decimal::Decimal::ZERO => m,
            _ => {
                return Err(format!(
                    "alerts.unusual_spend.multiple must be a positive decimal like \"5\" or \"2.5\", not '{t}'"
                ))
            }
        },
    };
    let min_amount = match tollgate_core::Nanos::parse_exact(s.min_amount.trim()) {
        Ok(n) if n.0 >= 0 => n.0,
        _ => {
            return Err(format!(
                "alerts.unusual_spend.min_amount must be a decimal amount like \"1\" or \"0.50\", not '{}'",
                s.min_amount
            ))
        }
    };
    if !(1..=90).contains(&s.window_days) {
        return Err(format!(
            "alerts.unusual_spend.window_days must be from 1 to 90, not {}",
            s.window_days
        ));
    }
    Ok(Some((
        UnusualSpendRule {
            multiple,
            min_amount,
            window_days: i64::from(s.window_days),
        },
        Duration::from_secs(s.scan_seconds),
    )))
}
