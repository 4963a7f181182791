//! The domain types of alert webhooks: endpoints, alert events and their deliveries.
//!
//! Alerts are raised inside the transactions that cross a threshold (an outbox); the server's
//! worker fans them out to endpoints and sends them. Nothing here does I/O.

use serde_json::Value;

/// The kinds of alert an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// 80% or 100% of the tenant plan's monthly request quota was reached.
    QuotaThreshold,
    /// 75%, 90% or 100% of an account's daily or monthly spending limit was reached.
    LimitThreshold,
    /// An account's balance fell below the configured amount.
    BalanceLow,
    /// A receipt was generated.
    ReceiptGenerated,
    /// A user's spend in the current hour passed a multiple of their trailing hourly average.
    UnusualSpend,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 5] = [
        EventType::QuotaThreshold,
        EventType::LimitThreshold,
        EventType::BalanceLow,
        EventType::ReceiptGenerated,
        EventType::UnusualSpend,
    ];

    /// The wire name (`quota.threshold`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::QuotaThreshold => "quota.threshold",
            EventType::LimitThreshold => "limit.threshold",
            EventType::BalanceLow => "balance.low",
            EventType::ReceiptGenerated => "receipt.generated",
            EventType::UnusualSpend => "spend.unusual",
        }
    }

    /// Whether alerts of this type also go to the tenant's email recipients: every alert a
    /// person acts on, not the receipts a program files.
    pub fn emailed(self) -> bool {
        self != EventType::ReceiptGenerated
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

pub use tollgate_core::billing::{LIMIT_THRESHOLDS, QUOTA_THRESHOLDS};

/// An endpoint to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// Tenant.
    pub tenant_id: String,
    /// `whk_…`.
    pub id: String,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
    /// What it receives (never empty).
    pub event_types: Vec<EventType>,
    /// A label.
    pub description: Option<String>,
    /// When it was created.
    pub created_us: i64,
}

/// A stored endpoint (the same fields as [`NewWebhook`]).
pub type Webhook = NewWebhook;

/// An alert to raise once: a second one with the same `dedupe_key` is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Tenant.
    pub tenant_id: String,
    /// Its type.
    pub event_type: EventType,
    /// Which threshold of which period (unique per tenant).
    pub dedupe_key: String,
    /// The body's `data`.
    pub data: Value,
    /// When it was raised.
    pub created_us: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed until the retry horizon passed.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        match name {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `dlv_…`.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (also the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// Outcome so far.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_us: Option<i64>,
    /// When the last attempt was made.
    pub last_attempt_us: Option<i64>,
    /// The last attempt's HTTP status, if the endpoint answered.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was fanned out to the endpoint.
    pub created_us: i64,
}

/// A delivery a worker claimed, with what it needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// Tenant.
    pub tenant_id: String,
    /// `dlv_…`.
    pub id: String,
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The event's `data`, as stored JSON.
    pub data: String,
    /// When the event was raised.
    pub event_created_us: i64,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's secret.
    pub secret: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The lease this claim set: the claim's token, so that an attempt finished after its
    /// lease lapsed and another claim took the delivery records nothing.
    pub lease_until_us: i64,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status, if the endpoint answered.
    pub status_code: Option<i64>,
    /// Why it failed (None: delivered).
    pub error: Option<String>,
    /// When to try again; None after a success or when retries are over.
    pub retry_at_us: Option<i64>,
}

/// One address a tenant's alerts are emailed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecipient {
    /// The address.
    pub email: String,
    /// The key that set the list it is on.
    pub set_by: String,
    /// When that list was set.
    pub created_us: i64,
}

/// An email delivery a worker claimed, with what it needs to write and send the message.
#[derive(Debug, Clone, PartialEq)]
pub struct DueEmail {
    /// Tenant.
    pub tenant_id: String,
    /// `dlv_…`.
    pub id: String,
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The event's `data`, as stored JSON.
    pub data: String,
    /// When the event was raised.
    pub event_created_us: i64,
    /// The address.
    pub recipient: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The lease this claim set (its token, as in [`DueDelivery`]).
    pub lease_until_us: i64,
}

/// One line of a tenant's email delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailDelivery {
    /// `dlv_…`.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The address.
    pub recipient: String,
    /// Outcome so far.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_us: Option<i64>,
    /// When the last attempt was made.
    pub last_attempt_us: Option<i64>,
    /// The SMTP server's last reply code, if it answered.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the alert was fanned out to the address.
    pub created_us: i64,
}

/// The unusual-spend rule: a user's spend in the current UTC hour fires `spend.unusual` when
/// it exceeds `multiple` times their average hourly spend over the `window_days` whole UTC days
/// before today (every hour of them counted, idle ones too) and is at least `min_amount`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnusualSpendRule {
    /// How many times the average an hour must exceed.
    pub multiple: rust_decimal::Decimal,
    /// The least spend in an hour that may fire, in nanos of the spend's currency.
    pub min_amount: i64,
    /// Whole UTC days before today that make the average.
    pub window_days: i64,
}
