//! Payments in: what Tollgate answers a payment provider's webhook.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer to a payment provider's webhook: it was received (so the provider stops
/// retrying), and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentReceived {
    /// Always true: a refused webhook is an error answer.
    pub received: bool,
    /// The provider's event id.
    pub event_id: String,
    /// The provider's event type (`checkout.session.completed`).
    pub event_type: String,
    /// What it did: `posted` (a ledger entry), `already_posted` (the event or the payment was
    /// posted before: nothing new) or `ignored` (a type, or a state, that moves no money).
    pub outcome: PaymentOutcome,
    /// The ledger entry (posted now or before); null when ignored.
    #[schema(required = true, example = "txn_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub transaction_id: Option<String>,
    /// Why it was ignored; null otherwise.
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// What a payment webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentOutcome {
    /// A ledger entry was posted.
    Posted,
    /// The event or its payment was posted before; nothing new.
    AlreadyPosted,
    /// It moves no money.
    Ignored,
}
