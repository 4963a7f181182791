//! A monthly statement of one account (`GET /api/v1/billing/statement`): per currency, the
//! opening balance, the month's top-ups, charges by model and by MCP tool, refunds and
//! adjustments, and the closing balance, which is the opening balance plus every movement.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::LedgerEntryType;

/// Query of `GET /api/v1/billing/statement`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// The account (none: the tenant's own; an end user: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The UTC calendar month, `YYYY-MM` (default: this month); not one still to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "2026-11")]
    pub month: Option<String>,
    /// Only this currency (default: every currency the account holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "USD")]
    pub currency: Option<String>,
    /// `json` (default), `csv` or `html` (a printable page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// How many ledger entries, and what they came to (positive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementTotal {
    /// Entries.
    pub entries: i64,
    /// Their sum.
    #[schema(format = "decimal", example = "10.000000000")]
    pub amount: String,
}

/// The month's charges of one provider and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelCharges {
    /// The provider.
    #[schema(example = "openai")]
    pub provider: String,
    /// The model.
    #[schema(example = "gpt-4o")]
    pub model: String,
    /// Charges (one per call).
    pub entries: i64,
    /// What they charged.
    #[schema(format = "decimal", example = "0.011500000")]
    pub amount: String,
}

/// The month's charges of one MCP tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToolCharges {
    /// `<server>/<tool>`.
    #[schema(example = "courts/lookup_decision")]
    pub tool: String,
    /// Charges (one per execution).
    pub entries: i64,
    /// What they charged.
    #[schema(format = "decimal", example = "0.023000000")]
    pub amount: String,
}

/// The month's charges: in total, by model (LLM calls) and by tool (MCP tool executions).
/// Each charge is in exactly one of `by_model`, `by_tool` and `unattributed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementCharges {
    /// Every charge.
    pub entries: i64,
    /// What they charged in all (a repricing that lowered a cost counts against it).
    #[schema(format = "decimal", example = "0.034500000")]
    pub amount: String,
    /// LLM calls, by provider and model, most charged first.
    pub by_model: Vec<ModelCharges>,
    /// MCP tool executions, by tool, most charged first.
    pub by_tool: Vec<ToolCharges>,
    /// Charges whose usage event is no longer stored (archived and removed by retention).
    pub unattributed: StatementTotal,
}

/// The month's adjustments: credits raise the balance, debits (a payment refunded at the
/// payment provider among them) lower it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementAdjustments {
    /// Credit adjustments.
    pub credits: StatementTotal,
    /// Debit adjustments (`amount` positive: what they took).
    pub debits: StatementTotal,
    /// Credits less debits.
    #[schema(format = "decimal", example = "-3.500000000")]
    pub net: String,
}

/// One top-up, refund or adjustment of the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementLine {
    /// The ledger entry's id.
    #[schema(example = "txn_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// When it was posted.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its kind: `topup`, `refund` or `adjustment`.
    #[serde(rename = "type")]
    pub kind: LedgerEntryType,
    /// Its size (positive).
    #[schema(format = "decimal", example = "10.000000000")]
    pub amount: String,
    /// Its effect on the balance.
    #[schema(format = "decimal", example = "10.000000000")]
    pub delta: String,
    /// Why, when someone said.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Who took the payment.
    #[schema(required = true)]
    pub payment_provider: Option<String>,
    /// The payment's id there.
    #[schema(required = true)]
    pub payment_id: Option<String>,
}

/// One currency of a statement. `closing_balance` = `opening_balance` + `topups.amount` +
/// `refunds.amount` + `adjustments.net` - `charges.amount`; `net_change` is the difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyStatement {
    /// ISO 4217 code.
    #[schema(example = "USD")]
    pub currency: String,
    /// The balance when the month began: the sum of every earlier ledger entry.
    #[schema(format = "decimal", example = "4.000000000")]
    pub opening_balance: String,
    /// Money paid in.
    pub topups: StatementTotal,
    /// Usage charged.
    pub charges: StatementCharges,
    /// Money given back.
    pub refunds: StatementTotal,
    /// Corrections either way.
    pub adjustments: StatementAdjustments,
    /// What the month moved.
    #[schema(format = "decimal", example = "8.465500000")]
    pub net_change: String,
    /// The balance when the month ended (or now, for this month).
    #[schema(format = "decimal", example = "12.465500000")]
    pub closing_balance: String,
    /// The top-ups, refunds and adjustments one by one, oldest first (charges are summed
    /// above).
    pub lines: Vec<StatementLine>,
}

/// A monthly statement of one account (`GET /api/v1/billing/statement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
    /// The month, `YYYY-MM` (UTC).
    #[schema(example = "2026-11")]
    pub month: String,
    /// Its first instant.
    #[schema(format = DateTime)]
    pub period_start: String,
    /// Its last instant.
    #[schema(format = DateTime)]
    pub period_end: String,
    /// Whether the month is over; a statement of this month is as of `generated_at`.
    pub complete: bool,
    /// When the statement was read.
    #[schema(format = DateTime)]
    pub generated_at: String,
    /// Per currency, in code order.
    pub currencies: Vec<CurrencyStatement>,
}
