//! The webhooks wire (`/api/v1/webhooks`, admin keys): an endpoint, the body that adds one,
//! and an endpoint's delivery log.
//!
//! Members are declared in the order the server has always written them (alphabetical), so
//! the bytes did not change when the shapes became types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::billing::Pagination;

/// The kinds of alert an endpoint can receive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum WebhookEventType {
    /// 80% or 100% of the tenant plan's monthly request quota was reached.
    #[serde(rename = "quota.threshold")]
    QuotaThreshold,
    /// 75%, 90% or 100% of an account's daily or monthly spending limit was reached.
    #[serde(rename = "limit.threshold")]
    LimitThreshold,
    /// An account's balance fell below the configured amount.
    #[serde(rename = "balance.low")]
    BalanceLow,
    /// A receipt was generated.
    #[serde(rename = "receipt.generated")]
    ReceiptGenerated,
    /// A user's spend in the current UTC hour passed the configured multiple of their trailing
    /// hourly average (and the configured floor).
    #[serde(rename = "spend.unusual")]
    UnusualSpend,
}

impl WebhookEventType {
    /// Every event type.
    pub const ALL: [WebhookEventType; 5] = [
        WebhookEventType::QuotaThreshold,
        WebhookEventType::LimitThreshold,
        WebhookEventType::BalanceLow,
        WebhookEventType::ReceiptGenerated,
        WebhookEventType::UnusualSpend,
    ];

    /// The type as the wire spells it (`quota.threshold`).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::QuotaThreshold => "quota.threshold",
            WebhookEventType::LimitThreshold => "limit.threshold",
            WebhookEventType::BalanceLow => "balance.low",
            WebhookEventType::ReceiptGenerated => "receipt.generated",
            WebhookEventType::UnusualSpend => "spend.unusual",
        }
    }
}

/// The body of one delivery, as it is signed and POSTed to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEvent {
    /// What the alert reports; its members depend on the type (a threshold's percentage and
    /// period, a balance and its floor, a receipt's id), so it is free-form here.
    pub data: serde_json::Value,
    /// When the alert was raised.
    #[schema(format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub timestamp: String,
    /// The kind of alert, one of [`WebhookEventType`]'s names.
    #[serde(rename = "type")]
    #[schema(value_type = WebhookEventType)]
    pub event_type: String,
}

/// Body of `POST /api/v1/webhooks`. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// The absolute `http` or `https` address deliveries are POSTed to; not a loopback, private
    /// or link-local address, nor `localhost`, unless `webhooks.allow_private_networks` is set.
    /// Required: an absent, null or empty one is refused with `INVALID_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, format = "uri", example = "https://example.com/hooks")]
    pub url: Option<String>,
    /// The event types wanted (`quota.threshold`, `limit.threshold`, `balance.low`,
    /// `receipt.generated`, `spend.unusual`); absent means all of them. An unknown one is refused with
    /// `INVALID_EVENT_TYPE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// A Standard Webhooks secret (`whsec_` + base64); absent: one is generated and shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A webhook endpoint. Its secret is shown only in the answer that created it, and only when
/// Tollgate generated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    /// When it was added.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The note for people; null: none.
    #[schema(required = true)]
    pub description: Option<String>,
    /// What it receives, in a fixed order.
    pub event_types: Vec<WebhookEventType>,
    /// Its id.
    #[schema(example = "whk_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// The generated secret (`whsec_…`): present only in the answer that created the endpoint,
    /// when Tollgate generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Where deliveries are POSTed.
    #[schema(format = "uri")]
    pub url: String,
}

/// The tenant's endpoints, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// The endpoints (never with their secrets).
    pub webhooks: Vec<Webhook>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed until the retry horizon passed.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    /// The status as the wire spells it (`delivered`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// Attempts made.
    pub attempts: i64,
    /// When the event was fanned out to the endpoint.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The event (also the `webhook-id` header).
    #[schema(example = "evt_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub event_id: String,
    /// The event's type.
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
    /// The last attempt's HTTP status; null: the endpoint did not answer, or none was made.
    #[schema(required = true)]
    pub last_status_code: Option<i64>,
    /// When the next attempt is due; null unless pending.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The endpoint.
    #[schema(example = "whk_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub webhook_id: String,
}

/// A page of an endpoint's delivery log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryLog {
    /// The deliveries, newest first.
    pub deliveries: Vec<Delivery>,
    /// Where the page sits.
    pub pagination: Pagination,
}

/// Paging of the delivery log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many, 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_statuses_are_spelled_as_serde_writes_them() {
        for t in WebhookEventType::ALL {
            let json = serde_json::to_string(&t).expect("serializes");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        for s in DeliveryStatus::ALL {
            let json = serde_json::to_string(&s).expect("serializes");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(WebhookEventType::BalanceLow.as_str(), "balance.low");
    }

    #[test]
    fn endpoints_and_deliveries_keep_the_bytes_the_server_always_wrote() {
        use crate::billing::tests::same_bytes;
        same_bytes::<Webhook>(
            r#"{"created_at":"2026-01-01T00:00:00.000000Z","description":"ops","event_types":["quota.threshold","balance.low"],"id":"whk_1","secret":"whsec_x","url":"https://example.com/h"}"#,
        );
        same_bytes::<WebhookList>(
            r#"{"webhooks":[{"created_at":"2026-01-01T00:00:00.000000Z","description":null,"event_types":["receipt.generated"],"id":"whk_1","url":"https://example.com/h"}]}"#,
        );
        same_bytes::<DeliveryLog>(
            r#"{"deliveries":[{"attempts":1,"created_at":"2026-01-01T00:00:00.000000Z","event_id":"evt_1","event_type":"receipt.generated","id":"dlv_1","last_attempt_at":"2026-01-01T00:00:01.000000Z","last_error":null,"last_status_code":204,"next_attempt_at":null,"status":"delivered","webhook_id":"whk_1"}],"pagination":{"count":1,"has_more":false,"limit":100,"offset":0,"total":1}}"#,
        );
    }

    #[test]
    fn a_listed_endpoint_has_no_secret_member() {
        let w = Webhook {
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            description: None,
            event_types: vec![WebhookEventType::QuotaThreshold],
            id: "whk_1".into(),
            secret: None,
            url: "https://example.com/h".into(),
        };
        let text = serde_json::to_string(&w).expect("serializes");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains(r#""description":null"#), "{text}");
    }
}
