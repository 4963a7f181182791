//! The usage and cost reports' wire: sums of requests, tokens and exact cost per currency,
//! in total, by provider and by model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use crate::usage::costs::{CostTotals, TokenTotals};

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
    pub by_provider: BTreeMap<String, CostTotals>,
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
    pub by_model: BTreeMap<String, CostTotals>,
    /// The sums per provider.
    pub by_provider: BTreeMap<String, CostTotals>,
    /// The end of the report: the last instant of today (UTC).
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The range asked for.
    pub range: ReportRange,
    /// The start of the range (the epoch for `all`).
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The sums of the whole range.
    pub totals: CostTotals,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type reads `text` and writes it back byte for byte (its sums are in the order of
    /// the cost routes' `CostTotals`, which the reports share).
    fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) {
        let typed: T = serde_json::from_str(text).expect("the type reads it");
        assert_eq!(serde_json::to_string(&typed).expect("serializes"), text);
    }

    #[test]
    fn reports_read_back_to_the_same_bytes() {
        let totals = r#"{"requests":3,"tokens":{"input":3000,"output":300,"total":3300,"cached_input":0,"cache_write":0,"reasoning":0},"cached_responses":0,"unpriced_requests":0,"cost":{"USD":"0.011500000"}}"#;
        round_trip::<UsageReport>(&format!(
            r#"{{"by_provider":{{"openai":{totals}}},"cached_responses":0,"cost":{{"USD":"0.011500000"}},"end_date":"2026-01-31T23:59:59.999999Z","period":"month","requests":3,"start_date":"2026-01-01T00:00:00.000000Z","tokens":{{"input":3000,"output":300,"total":3300,"cached_input":0,"cache_write":0,"reasoning":0}},"unpriced_requests":0,"user_id":null}}"#
        ));
        round_trip::<CostReport>(&format!(
            r#"{{"by_model":{{"gpt-4o":{totals}}},"by_provider":{{"openai":{totals}}},"end_date":"2026-01-31T23:59:59.999999Z","range":"all","start_date":"1970-01-01T00:00:00.000000Z","totals":{totals}}}"#
        ));
    }
}
