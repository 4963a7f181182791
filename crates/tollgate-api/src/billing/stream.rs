//! The live balance stream's events (`GET /api/v1/billing/balance/stream`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Account;

/// One `balance` event of the live balance stream: the account as `GET
/// /api/v1/billing/balance` shows it (balance, held and available per currency, its limits
/// and its spend today and this month), read from the database when the event was made.
///
/// On the wire each event is `event: balance`, `id: N` (increasing, also across a
/// reconnection that sends `Last-Event-ID`) and `data:` this object on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BalanceSnapshot {
    /// The account.
    pub account: Account,
    /// When it was read.
    #[schema(format = DateTime, example = "2026-01-15T10:00:00.000000Z")]
    pub read_at: String,
}

/// One event of `GET /api/v1/billing/balance/stream` as it is on the wire: `event: balance`,
/// an `id` and a `data` line holding a [`BalanceSnapshot`] as JSON. (Keep-alive comments carry
/// no data and are no event.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BalanceEvent {
    /// Always `balance`.
    #[schema(example = "balance")]
    pub event: String,
    /// Increasing, also across a reconnection that sends `Last-Event-ID`.
    #[schema(example = "1796519347298337")]
    pub id: String,
    /// A `BalanceSnapshot` (the account as `GET /api/v1/billing/balance` shows it, and
    /// `read_at`) as JSON on one line.
    pub data: String,
}
