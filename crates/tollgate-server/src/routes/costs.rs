//! `GET /api/v1/costs/daily` and `/monthly`: what a UTC day or month cost, in total, by
//! provider and by model (and by day for a month), answered from the daily and monthly
//! rollups only, so their cost does not grow with the number of events.
//!
//! Money is exact decimal strings per currency: costs in different currencies are never
//! added together. Cached responses count as requests with zero tokens and zero cost, and
//! are counted on their own (`cached_responses`), as are unpriced calls.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{Datelike, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use tollgate_api::usage::{CostPeriod, DailyCosts, DayCosts, MonthlyCosts};
use tollgate_core::time::{
    day_of, day_string, format_us, month_start_us, month_string, next_month, DAY_US,
};

use super::totals::{breakdown_of, Totals};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

/// Query of `GET /api/v1/costs/daily`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DailyQuery {
    /// The UTC day, `YYYY-MM-DD` (default: today).
    date: Option<String>,
}

/// A day's costs
///
/// One UTC day from the daily rollups: `totals` (requests, tokens, cached responses, unpriced
/// requests, and `cost` as exact decimal strings per currency), `by_provider`, `by_model` and `by_tool`.
/// Cached responses count with zero tokens and zero cost.
#[utoipa::path(
    get,
    path = "/api/v1/costs/daily",
    tag = "usage",
    operation_id = "costs_daily",
    params(DailyQuery),
    responses(
        (status = 200, description = "The day's totals, by provider and by model", body = DailyCosts),
        (status = 400, description = "A bad `date` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn daily(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<DailyQuery>,
) -> Result<Json<DailyCosts>, ApiError> {
    let day = match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => day_of(Utc::now().timestamp_micros()),
        Some(d) => {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid_query(
                    "date",
                    format!("date must be a calendar date like 2026-01-31, not '{d}'"),
                )
            })?;
            day_of(date.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
        }
    };
    let (start_us, end_us) = (day * DAY_US, (day + 1) * DAY_US - 1);
    // A whole UTC day: `usage_rows` answers it from the daily rollup alone.
    let rows = state
        .store()
        .usage_rows(&auth.tenant_id, start_us, end_us)
        .await?;
    let b = breakdown_of(&rows);
    Ok(Json(DailyCosts {
        totals: b.totals,
        by_provider: b.by_provider,
        by_model: b.by_model,
        by_tool: b.by_tool,
        period: CostPeriod::Day,
        date: day_string(day),
        start_date: format_us(start_us),
        end_date: format_us(end_us),
    }))
}

/// Query of `GET /api/v1/costs/monthly`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthlyQuery {
    /// The year, e.g. 2026 (default: this year).
    year: Option<String>,
    /// The month, 1 to 12 (default: this month).
    month: Option<String>,
}

fn number(field: &str, text: Option<&str>, low: i64, high: i64) -> Result<Option<i64>, ApiError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match t.parse::<i64>() {
        Ok(n) if (low..=high).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::invalid_query(
            field,
            format!("{field} must be a whole number from {low} to {high}, not '{t}'"),
        )),
    }
}

/// A month's costs
///
/// One UTC calendar month from the rollups (default: this month; a month alone is of this
/// year): `totals`, `by_day`, `by_provider`, `by_model` and `by_tool`, money as exact decimal strings
/// per currency.
#[utoipa::path(
    get,
    path = "/api/v1/costs/monthly",
    tag = "usage",
    operation_id = "costs_monthly",
    params(MonthlyQuery),
    responses(
        (status = 200, description = "The month's totals, by day, by provider and by model", body = MonthlyCosts),
        (status = 400, description = "A bad `year` or `month` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn monthly(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<MonthlyQuery>,
) -> Result<Json<MonthlyCosts>, ApiError> {
    let year = number("year", q.year.as_deref(), 1970, 9999)?;
    let month = number("month", q.month.as_deref(), 1, 12)?;
    let today = Utc::now().date_naive();
    let key = match (year, month) {
        (None, None) => i64::from(today.year()) * 100 + i64::from(today.month()),
        (Some(_), None) => {
            return Err(ApiError::invalid_query(
                "month",
                "month is required with year",
            ))
        }
        (y, Some(m)) => y.unwrap_or_else(|| i64::from(today.year())) * 100 + m,
    };
    let start_us = month_start_us(key);
    let end_us = month_start_us(next_month(key)) - 1;
    let store = state.store();
    // Totals, providers and models from the monthly rollup; the days from the daily one.
    let month_rows = store.monthly_rows(&auth.tenant_id, key).await?;
    let day_rows = store.usage_rows(&auth.tenant_id, start_us, end_us).await?;
    let mut days: BTreeMap<i64, Totals> = BTreeMap::new();
    for r in &day_rows {
        days.entry(r.day).or_default().add(r);
    }
    let by_day: Vec<DayCosts> = days
        .iter()
        .map(|(day, t)| DayCosts {
            date: day_string(*day),
            totals: t.totals(),
        })
        .collect();
    let b = breakdown_of(&month_rows);
    Ok(Json(MonthlyCosts {
        totals: b.totals,
        by_provider: b.by_provider,
        by_model: b.by_model,
        by_tool: b.by_tool,
        period: CostPeriod::Month,
        month: month_string(key),
        start_date: format_us(start_us),
        end_date: format_us(end_us),
        by_day,
    }))
}
