//! The alert email wire (`/api/v1/alerts/email`, admin keys): the addresses a tenant's alerts
//! are emailed to, and the email delivery log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::Pagination;
use crate::webhooks::{DeliveryStatus, WebhookEventType};

/// Body of `PUT /api/v1/alerts/email`: the whole list, replacing the one before.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlertRecipientsBody {
    /// Addresses (`name@example.com`), at most 20; an empty list stops alert emails. Every
    /// alert a person acts on (`quota.threshold`, `limit.threshold`, `balance.low`,
    /// `spend.unusual`) goes to each of them once.
    #[schema(example = json!(["ops@example.com"]))]
    pub recipients: Vec<String>,
}

/// One address on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertRecipient {
    /// The address.
    #[schema(example = "ops@example.com")]
    pub email: String,
    /// The key that set the list.
    #[schema(example = "key_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub set_by: String,
    /// When the list was set.
    #[schema(format = DateTime)]
    pub set_at: String,
}

/// The tenant's alert recipients, by address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertRecipients {
    /// Whether this server can send email (`notifications.smtp` is configured).
    pub email_enabled: bool,
    /// The addresses.
    pub recipients: Vec<AlertRecipient>,
}

/// One line of the email delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmailDelivery {
    /// Attempts made.
    pub attempts: i64,
    /// When the alert was fanned out to the address.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The alert.
    #[schema(example = "evt_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub event_id: String,
    /// The alert's type.
    pub event_type: WebhookEventType,
    /// Its id.
    #[schema(example = "dlv_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// When the last attempt was made; null: none yet.
    #[schema(required = true, format = DateTime)]
    pub last_attempt_at: Option<String>,
    /// Why the last attempt failed; null: it did not, or none was made.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// The SMTP server's last reply code; null: it did not answer, or no attempt was made.
    #[schema(required = true)]
    pub last_status_code: Option<i64>,
    /// When the next attempt is due; null unless pending.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The address.
    pub recipient: String,
    /// Where it stands.
    pub status: DeliveryStatus,
}

/// A page of the email delivery log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmailDeliveryLog {
    /// The deliveries, newest first.
    pub deliveries: Vec<EmailDelivery>,
    /// Where the page sits.
    pub pagination: Pagination,
}
