//! `GET /api/v1/stats`: llmring's `UsageStats` (`summary`, `by_day`, `by_model`,
//! `by_origin`, `by_alias`, money as decimal strings but `by_origin`'s float `cost`), with
//! Tollgate's token kinds, currencies, `by_provider`, `by_user` and a working `group_by`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/stats`. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day or instant (default: 30 days before the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Last day or instant (default: today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// How `groups` is keyed (default `day`; read case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<StatsGroupBy>)]
    pub group_by: Option<String>,
    /// With `group_by=dimension`: the dimension to group by (`kb_id`, or one of the
    /// deployment's `dimensions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
}

/// How the `groups` of [`UsageStats`] are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsGroupBy {
    /// UTC day, newest first.
    Day,
    /// UTC month, newest first.
    Month,
    /// Model.
    Model,
    /// Provider.
    Provider,
    /// llmring alias.
    Alias,
    /// Origin.
    Origin,
    /// End user.
    User,
    /// MCP tool (`<server>/<tool>`); LLM calls are left out.
    Tool,
    /// The value of the dimension named by `dimension`; calls without it are left out.
    Dimension,
}

impl StatsGroupBy {
    /// Every grouping, in the order the documentation lists them.
    pub const ALL: [StatsGroupBy; 9] = [
        StatsGroupBy::Day,
        StatsGroupBy::Month,
        StatsGroupBy::Model,
        StatsGroupBy::Provider,
        StatsGroupBy::Alias,
        StatsGroupBy::Origin,
        StatsGroupBy::User,
        StatsGroupBy::Tool,
        StatsGroupBy::Dimension,
    ];

    /// The name on the wire (`day`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatsGroupBy::Day => "day",
            StatsGroupBy::Month => "month",
            StatsGroupBy::Model => "model",
            StatsGroupBy::Provider => "provider",
            StatsGroupBy::Alias => "alias",
            StatsGroupBy::Origin => "origin",
            StatsGroupBy::User => "user",
            StatsGroupBy::Tool => "tool",
            StatsGroupBy::Dimension => "dimension",
        }
    }

    /// The grouping named `text` on the wire, if there is one.
    pub fn parse(text: &str) -> Option<StatsGroupBy> {
        StatsGroupBy::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// The answer to `GET /api/v1/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageStats {
    /// Totals of the range.
    pub summary: StatsSummary,
    /// One row per UTC day with calls, newest first.
    pub by_day: Vec<DayStats>,
    /// By model.
    pub by_model: BTreeMap<String, GroupStats>,
    /// By origin (calls without one are left out); `cost` is a float, as in llmring.
    pub by_origin: BTreeMap<String, OriginStats>,
    /// By llmring alias (calls without one are left out).
    pub by_alias: BTreeMap<String, GroupStats>,
    /// By provider.
    pub by_provider: BTreeMap<String, GroupStats>,
    /// By end user (calls without one are left out).
    pub by_user: BTreeMap<String, GroupStats>,
    /// By MCP tool (`<server>/<tool>`, the model of a tool execution's event; LLM calls are
    /// left out). Tool executions also count under `by_model` and under provider `mcp`.
    #[serde(default)]
    pub by_tool: BTreeMap<String, GroupStats>,
    /// How `groups` is keyed.
    pub group_by: StatsGroupBy,
    /// The dimension `groups` is keyed by, with `group_by=dimension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// The range by `group_by`: days and months newest first, the others by cost, then
    /// requests, descending.
    pub groups: Vec<KeyedStats>,
    /// The start of the range.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The end of the range.
    #[schema(format = DateTime)]
    pub end_date: String,
}

/// Totals of a range. Costs in different currencies never add up: `total_cost` and every
/// group's `cost` are in `currency` (USD when present, else the largest); `costs_by_currency`
/// lists each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsSummary {
    /// Calls.
    pub total_requests: i64,
    /// Cost in `currency`.
    #[schema(format = "decimal", example = "0.000022500")]
    pub total_cost: String,
    /// Input plus output tokens.
    pub total_tokens: i64,
    /// Distinct models.
    pub unique_models: u64,
    /// Distinct origins.
    pub unique_origins: u64,
    /// Input tokens.
    pub total_input_tokens: i64,
    /// Output tokens.
    pub total_output_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: i64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// Calls served from a response cache.
    pub cached_responses: i64,
    /// Calls no price was known for.
    pub unpriced_requests: i64,
    /// The currency of `total_cost` and of the groups' costs (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// The exact cost in each currency used.
    #[schema(example = json!({"USD": "0.000022500"}))]
    pub costs_by_currency: BTreeMap<String, String>,
}

/// Calls, cost and tokens of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupStats {
    /// Calls.
    pub requests: i64,
    /// Cost in the summary's `currency`.
    #[schema(format = "decimal", example = "0.000022500")]
    pub cost: String,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: i64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// Calls recorded without a price: their cost counts as 0 in `cost` until they are priced.
    #[serde(default)]
    pub unpriced_requests: i64,
}

/// One UTC day of `by_day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayStats {
    /// The day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    /// The day's totals (all of its calls, not only its top model's).
    #[serde(flatten)]
    pub stats: GroupStats,
    /// The model with the most calls that day.
    #[schema(required = true)]
    pub top_model: Option<String>,
}

/// One origin of `by_origin`: llmring's float `cost`, with the exact one beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OriginStats {
    /// Calls.
    pub requests: i64,
    /// Cost in the summary's `currency`, as a float (llmring; derived from `cost_exact`).
    pub cost: f64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: i64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// The exact cost.
    #[schema(format = "decimal", example = "0.000022500")]
    pub cost_exact: String,
}

/// One group of `groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedStats {
    /// The group's key (a day, a month, a model, ...; empty for calls without an alias,
    /// origin or user when grouping by those).
    pub key: String,
    /// Its totals.
    #[serde(flatten)]
    pub stats: GroupStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grouping_reads_back_from_its_wire_name() {
        for g in StatsGroupBy::ALL {
            assert_eq!(StatsGroupBy::parse(g.as_str()), Some(g));
            let json = serde_json::to_string(&g).expect("serializes");
            assert_eq!(json, format!("\"{}\"", g.as_str()));
        }
        assert_eq!(StatsGroupBy::parse("week"), None);
    }

    #[test]
    fn a_day_row_keeps_its_totals_beside_date_and_top_model() {
        let text = r#"{"date":"2026-03-01","requests":2,"cost":"0.000000001","input_tokens":1,"output_tokens":2,"cached_input_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"unpriced_requests":1,"top_model":null}"#;
        let day: DayStats = serde_json::from_str(text).expect("a day");
        assert_eq!(day.stats.requests, 2);
        assert_eq!(day.stats.unpriced_requests, 1);
        assert_eq!(day.top_model, None);
        assert_eq!(serde_json::to_string(&day).expect("serializes"), text);
        // A server from before unpriced counts sends none: read as 0.
        let older = text.replace(r#""unpriced_requests":1,"#, "");
        let day: DayStats = serde_json::from_str(&older).expect("a day");
        assert_eq!(day.stats.unpriced_requests, 0);
    }
}
