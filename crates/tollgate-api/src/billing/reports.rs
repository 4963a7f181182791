//! The usage and cost reports' wire: sums of requests, tokens and exact cost per currency,
//! in total, by provider and by model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/billing/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `day` (today, UTC) or `month` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// One account's usage (none: the whole tenant's; an end user: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Query of `GET /api/v1/billing/cost-report`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `month` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// Token counts summed over usage events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct TokenTotals {
    /// Cache-write tokens.
    pub cache_write: i64,
    /// Cached prompt tokens.
    pub cached_input: i64,
    /// Prompt tokens, cached included.
    pub input: i64,
    /// Generated tokens, reasoning included.
    pub output: i64,
    /// Reasoning tokens.
    pub reasoning: i64,
    /// Input plus output.
    pub total: i64,
}

/// Requests, tokens and exact cost of some usage. Costs in different currencies are never
/// added together: each currency keeps its own decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct UsageTotals {
    /// Calls answered from a response cache (counted in `requests`, with zero tokens and cost).
    pub cached_responses: i64,
    /// Exact cost per ISO 4217 currency code (`{"USD": "0.011500000"}`).
    #[schema(example = json!({"USD": "0.011500000"}))]
    pub cost: BTreeMap<String, String>,
    /// Calls.
    pub requests: i64,
    /// Tokens.
    pub tokens: TokenTotals,
    /// Calls no price was known for (counted, with zero cost).
    pub unpriced_requests: i64,
}

/// The period a usage report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsagePeriod {
    /// Today (UTC).
    Day,
    /// This month (UTC).
    Month,
}

/// The tenant's (or one account's) use today or this month, by provider
/// (`GET /api/v1/billing/usage`): the totals' members, then the report's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The same sums per provider.
    pub by_provider: BTreeMap<String, UsageTotals>,
    /// Calls answered from a response cache (counted in `requests`, with zero tokens and cost).
    pub cached_responses: i64,
    /// Exact cost per ISO 4217 currency code.
    #[schema(example = json!({"USD": "0.011500000"}))]
    pub cost: BTreeMap<String, String>,
    /// The end of the report: the last instant of today (UTC).
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The period asked for.
    pub period: UsagePeriod,
    /// Calls.
    pub requests: i64,
    /// The start of the period.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// Tokens.
    pub tokens: TokenTotals,
    /// Calls no price was known for (counted, with zero cost).
    pub unpriced_requests: i64,
    /// The account reported on; null: the whole tenant.
    #[schema(required = true)]
    pub user_id: Option<String>,
}

/// The range a cost report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportRange {
    /// This month (UTC).
    Month,
    /// Everything recorded.
    All,
}

/// Requests, tokens and cost by provider and by model, this month or ever
/// (`GET /api/v1/billing/cost-report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CostReport {
    /// The sums per model.
    pub by_model: BTreeMap<String, UsageTotals>,
    /// The sums per provider.
    pub by_provider: BTreeMap<String, UsageTotals>,
    /// The end of the report: the last instant of today (UTC).
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The range asked for.
    pub range: ReportRange,
    /// The start of the range (the epoch for `all`).
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The sums of the whole range.
    pub totals: UsageTotals,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::tests::same_bytes;

    #[test]
    fn reports_keep_the_bytes_the_server_always_wrote() {
        let totals = r#"{"cached_responses":0,"cost":{"USD":"0.011500000"},"requests":3,"tokens":{"cache_write":0,"cached_input":0,"input":3000,"output":300,"reasoning":0,"total":3300},"unpriced_requests":0}"#;
        same_bytes::<UsageReport>(&format!(
            r#"{{"by_provider":{{"openai":{totals}}},"cached_responses":0,"cost":{{"USD":"0.011500000"}},"end_date":"2026-01-31T23:59:59.999999Z","period":"month","requests":3,"start_date":"2026-01-01T00:00:00.000000Z","tokens":{{"cache_write":0,"cached_input":0,"input":3000,"output":300,"reasoning":0,"total":3300}},"unpriced_requests":0,"user_id":null}}"#
        ));
        same_bytes::<CostReport>(&format!(
            r#"{{"by_model":{{"gpt-4o":{totals}}},"by_provider":{{"openai":{totals}}},"end_date":"2026-01-31T23:59:59.999999Z","range":"all","start_date":"1970-01-01T00:00:00.000000Z","totals":{totals}}}"#
        ));
    }
}
