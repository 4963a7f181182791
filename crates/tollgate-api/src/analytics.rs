//! The analytics wire: a tenant's requests and exact cost per currency by tool, model or user
//! (optionally per day or month), the top users and models of a period, the hours of the day
//! calls come in, and cohorts of users by the month of their first call.
//!
//! Periods are `start`/`end` dates or RFC 3339 instants (default: this month to date, UTC).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/analytics/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// `tool` (default: MCP tool executions), `model` or `user` (calls that name a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    /// With `group_by=dimension`: the dimension (`kb_id`, or one of the `dimensions`
    /// setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// `none` (default: one row per group), `day` or `month` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// From this date or instant (default: the start of this month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Until this date (the whole day) or instant (default: the end of today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// What analytics rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnalyticsGroup {
    /// MCP tool (`<server>/<tool>`).
    Tool,
    /// Model.
    Model,
    /// End user.
    User,
    /// A dimension's value (`dimension` names it); calls without it are left out.
    Dimension,
}

/// The time buckets of analytics rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnalyticsBucket {
    /// The whole period.
    None,
    /// UTC days.
    Day,
    /// UTC months.
    Month,
}

/// One group's use in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnalyticsRow {
    /// The bucket: `YYYY-MM-DD` or `YYYY-MM`; null when not bucketed.
    #[schema(required = true, example = "2026-11-03")]
    pub bucket: Option<String>,
    /// The tool, model or user.
    pub key: String,
    /// Calls (or executions).
    pub requests: i64,
    /// Exact cost per ISO 4217 code.
    #[schema(example = json!({"USD": "0.023000000"}))]
    pub cost: BTreeMap<String, String>,
}

/// Requests and cost by tool, model or user (`GET /api/v1/analytics/usage`), in bucket then
/// key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnalyticsReport {
    /// The grouping.
    pub group_by: AnalyticsGroup,
    /// The dimension, with `group_by: dimension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// The buckets.
    pub bucket: AnalyticsBucket,
    /// The period's start.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The period's end.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The rows.
    pub rows: Vec<AnalyticsRow>,
}

/// Query of `GET /api/v1/analytics/top`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// `user` (default) or `model` (`by` is an alias).
    #[serde(rename = "group_by", default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// How many, 1 to 1000 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The currency to rank by (default USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// From this date or instant (default: the start of this month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Until this date (the whole day) or instant (default: the end of today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// One ranked user or model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopEntry {
    /// 1 for the largest.
    pub rank: i64,
    /// The user or model.
    pub key: String,
    /// Its calls (in the ranking currency).
    pub requests: i64,
    /// Its cost in the ranking currency.
    #[schema(format = "decimal", example = "12.500000000")]
    pub cost: String,
}

/// The users or models that cost most in a period (`GET /api/v1/analytics/top`), by cost,
/// then by calls, then by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopReport {
    /// What is ranked.
    pub by: AnalyticsGroup,
    /// The ranking currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// The period's start.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The period's end.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The ranking.
    pub entries: Vec<TopEntry>,
}

/// Query of `GET /api/v1/analytics/peak-hours` and `GET /api/v1/analytics/cohorts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// From this date or instant (default: the start of this month; for cohorts, of the
    /// month eleven months back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Until this date (the whole day) or instant (default: the end of today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// The calls of one hour of the day over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HourTotals {
    /// The UTC hour, 0 to 23.
    pub hour: i64,
    /// Calls that began in it, over every day of the period.
    pub requests: i64,
    /// Their exact cost per currency.
    #[schema(example = json!({"USD": "1.250000000"}))]
    pub cost: BTreeMap<String, String>,
}

/// Calls and cost by UTC hour of the day (`GET /api/v1/analytics/peak-hours`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeakHours {
    /// The period's start.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The period's end.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The hour with the most calls (the earliest of a tie); null when there were none.
    #[schema(required = true)]
    pub peak_hour: Option<i64>,
    /// All 24 hours, in order.
    pub hours: Vec<HourTotals>,
}

/// A cohort's use in one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The cohort's users who made a call that month.
    pub active_users: i64,
    /// Their calls.
    pub requests: i64,
    /// Their exact spend per currency.
    #[schema(example = json!({"USD": "3.000000000"}))]
    pub cost: BTreeMap<String, String>,
}

/// The users whose first call was in one month, and what they did in it and every month after,
/// to the period's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cohort {
    /// The month of their first call, `YYYY-MM`.
    pub cohort: String,
    /// How many users.
    pub users: i64,
    /// From the cohort's month on, every month.
    pub months: Vec<CohortMonth>,
}

/// Cohorts of users by the month of their first call (`GET /api/v1/analytics/cohorts`):
/// the cohorts whose month falls in the period, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cohorts {
    /// The period's start.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The period's end.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The cohorts.
    pub cohorts: Vec<Cohort>,
}
