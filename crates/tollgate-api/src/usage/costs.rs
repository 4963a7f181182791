//! `GET /api/v1/costs/daily` and `/monthly`: what a UTC day or month cost, in total, by
//! provider and by model (and by day for a month). Money is exact decimal strings per
//! currency: costs in different currencies are never added together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/costs/daily`. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DailyCostsQuery {
    /// The UTC day, `YYYY-MM-DD` (default: today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// A dimension (`kb_id`, or one of the `dimensions` setting): adds `by_dimension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// With `dimension`: count only the calls with this value of it, in every breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Query of `GET /api/v1/costs/monthly`. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthlyCostsQuery {
    /// The year, e.g. 2026 (default: this year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    /// The month, 1 to 12 (default: this month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// A dimension (`kb_id`, or one of the `dimensions` setting): adds `by_dimension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// With `dimension`: count only the calls with this value of it, in every breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Requests, tokens and exact cost per currency of some calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CostTotals {
    /// Calls (cached responses included).
    pub requests: i64,
    /// Tokens by kind.
    pub tokens: TokenTotals,
    /// Calls served from a response cache (zero tokens, zero cost).
    pub cached_responses: i64,
    /// Calls no price was known for.
    pub unpriced_requests: i64,
    /// The exact cost in each currency used, by ISO 4217 code.
    #[schema(example = json!({"USD": "0.000022500"}))]
    pub cost: BTreeMap<String, String>,
}

/// Token sums by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenTotals {
    /// Prompt tokens, cached included.
    pub input: i64,
    /// Generated tokens, reasoning included.
    pub output: i64,
    /// Input plus output.
    pub total: i64,
    /// Prompt tokens read from the cache.
    pub cached_input: i64,
    /// Prompt tokens written to the cache.
    pub cache_write: i64,
    /// Reasoning tokens.
    pub reasoning: i64,
}

/// The period a cost report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CostPeriod {
    /// One UTC day.
    Day,
    /// One UTC calendar month.
    Month,
}

/// The answer to `GET /api/v1/costs/daily`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DailyCosts {
    /// The day's totals.
    pub totals: CostTotals,
    /// By provider.
    pub by_provider: BTreeMap<String, CostTotals>,
    /// By model.
    pub by_model: BTreeMap<String, CostTotals>,
    /// By MCP tool (`<server>/<tool>`); tool executions also count under `by_model` and
    /// provider `mcp`.
    #[serde(default)]
    pub by_tool: BTreeMap<String, CostTotals>,
    /// With `dimension`: the totals by that dimension's value (calls without it are left
    /// out; with `value`, only that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_dimension: Option<BTreeMap<String, CostTotals>>,
    /// Always `day`.
    pub period: CostPeriod,
    /// The day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    /// Its first instant.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// Its last instant.
    #[schema(format = DateTime)]
    pub end_date: String,
}

/// The answer to `GET /api/v1/costs/monthly`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MonthlyCosts {
    /// The month's totals.
    pub totals: CostTotals,
    /// By provider.
    pub by_provider: BTreeMap<String, CostTotals>,
    /// By model.
    pub by_model: BTreeMap<String, CostTotals>,
    /// By MCP tool (`<server>/<tool>`); tool executions also count under `by_model` and
    /// provider `mcp`.
    #[serde(default)]
    pub by_tool: BTreeMap<String, CostTotals>,
    /// With `dimension`: the totals by that dimension's value (calls without it are left
    /// out; with `value`, only that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_dimension: Option<BTreeMap<String, CostTotals>>,
    /// Always `month`.
    pub period: CostPeriod,
    /// The month, `YYYY-MM`.
    #[schema(example = "2026-03")]
    pub month: String,
    /// Its first instant.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// Its last instant.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// Each day with calls, oldest first.
    pub by_day: Vec<DayCosts>,
}

/// One day of a month's costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayCosts {
    /// The day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    /// Its totals.
    #[serde(flatten)]
    pub totals: CostTotals,
}
