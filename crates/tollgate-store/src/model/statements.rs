//! What a monthly statement of one account is made of, as the ledger holds it.

use tollgate_core::{Currency, Nanos};

use super::LedgerEntry;

/// One account's ledger over a period, summed for a statement: the balances before it, its
/// charges by what was charged, and its credits one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementBooks {
    /// Every currency the account holds, in code order.
    pub currencies: Vec<Currency>,
    /// Per currency, the sum of every entry before the period: its opening balance.
    pub opening: Vec<(Currency, Nanos)>,
    /// The period's charges, per currency and usage event provider and model.
    pub charges: Vec<ChargeGroup>,
    /// The period's top-ups, refunds and adjustments, oldest first.
    pub credits: Vec<LedgerEntry>,
}

/// The charges of one currency for one provider and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeGroup {
    /// Their currency.
    pub currency: Currency,
    /// The usage events' provider (`mcp` for a tool); None when the event is no longer
    /// stored (archived and removed by retention).
    pub provider: Option<String>,
    /// The usage events' model (`<server>/<tool>` for a tool); None as for `provider`.
    pub model: Option<String>,
    /// How many entries.
    pub entries: i64,
    /// The sum of their effects on the balance (negative for what was charged).
    pub delta: Nanos,
}
