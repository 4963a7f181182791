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
use tollgate_api::usage::{
    CostPeriod, CostTotals, DailyCosts, DailyCostsQuery, DayCosts, MonthlyCosts, MonthlyCostsQuery,
};
use tollgate_core::time::{
    day_of, day_string, format_us, month_start_us, month_string, next_month, DAY_US,
};
use tollgate_store::UsageRow;

use super::totals::{breakdown_of, Totals};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

/// The dimension a cost query names, checked, and the value it filters on.
struct DimensionQuery {
    name: String,
    value: Option<String>,
}

fn dimension_query(
    state: &AppState,
    dimension: Option<&str>,
    value: Option<&str>,
) -> Result<Option<DimensionQuery>, ApiError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let Some(name) = dimension.map(str::trim).filter(|d| !d.is_empty()) else {
        return match value {
            Some(_) => Err(ApiError::invalid_query(
                "value",
                "value filters on a dimension: send dimension too (such as dimension=kb_id)",
            )),
            None => Ok(None),
        };
    };
    Ok(Some(DimensionQuery {
        name: dimension_name(state, name)?,
        value: value.map(str::to_string),
    }))
}

/// The `dimension=` and `value=` pair that narrows a listing or an export to one value of a
/// dimension: both or neither (400 naming the one missing), the dimension a known one.
pub(crate) fn dimension_match(
    state: &AppState,
    dimension: Option<&str>,
    value: Option<String>,
) -> Result<Option<tollgate_store::DimensionMatch>, ApiError> {
    match (dimension, value) {
        (None, None) => Ok(None),
        (Some(name), Some(value)) => Ok(Some(tollgate_store::DimensionMatch {
            name: dimension_name(state, name.trim())?,
            value,
        })),
        (None, Some(_)) => Err(ApiError::invalid_query(
            "dimension",
            "value filters on a dimension: send dimension too (such as dimension=kb_id)",
        )),
        (Some(_), None) => Err(ApiError::invalid_query(
            "value",
            "dimension filters on one of its values: send value too",
        )),
    }
}

/// A dimension a query names: `kb_id` or one of the `dimensions` setting (400 otherwise).
pub(crate) fn dimension_name(state: &AppState, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let configured = &state.settings().dimensions;
    if name != tollgate_core::event::KB_ID && !configured.iter().any(|d| d == name) {
        let mut known = vec![tollgate_core::event::KB_ID.to_string()];
        known.extend(configured.iter().cloned());
        return Err(ApiError::invalid_query(
            "dimension",
            format!(
                "'{name}' is not a dimension of this deployment (it has: {})",
                known.join(", ")
            ),
        ));
    }
    Ok(name.to_string())
}

/// The rows of a dimension query over `[start_us, end_us]` (only its value's, when it names
/// one), and the totals by value.
async fn dimension_rows(
    state: &AppState,
    tenant: &str,
    q: &DimensionQuery,
    start_us: i64,
    end_us: i64,
) -> Result<(Vec<UsageRow>, BTreeMap<String, CostTotals>), ApiError> {
    let mut by_value: BTreeMap<String, Totals> = BTreeMap::new();
    let mut rows = Vec::new();
    for (value, row) in state
        .store()
        .dimension_rows(tenant, &q.name, start_us, end_us)
        .await?
    {
        if q.value.as_ref().is_some_and(|v| *v != value) {
            continue;
        }
        by_value.entry(value).or_default().add(&row);
        rows.push(row);
    }
    let totals = by_value.into_iter().map(|(v, t)| (v, t.totals())).collect();
    Ok((rows, totals))
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
    params(DailyCostsQuery),
    responses(
        (status = 200, description = "The day's totals, by provider and by model", body = DailyCosts),
        (status = 400, description = "A bad `date` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn daily(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<DailyCostsQuery>,
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
    let dimension = dimension_query(&state, q.dimension.as_deref(), q.value.as_deref())?;
    // A whole UTC day: `usage_rows` answers it from the daily rollup alone, and
    // `dimension_rows` from the dimension rollup; a dimension's value filters every total.
    let mut by_dimension = None;
    let mut rows = None;
    if let Some(d) = &dimension {
        let (filtered, by) = dimension_rows(&state, &auth.tenant_id, d, start_us, end_us).await?;
        by_dimension = Some(by);
        rows = d.value.is_some().then_some(filtered);
    }
    let rows = match rows {
        Some(rows) => rows,
        None => {
            state
                .store()
                .usage_rows(&auth.tenant_id, start_us, end_us)
                .await?
        }
    };
    let b = breakdown_of(&rows);
    Ok(Json(DailyCosts {
        totals: b.totals,
        by_provider: b.by_provider,
        by_model: b.by_model,
        by_tool: b.by_tool,
        by_dimension,
        period: CostPeriod::Day,
        date: day_string(day),
        start_date: format_us(start_us),
        end_date: format_us(end_us),
    }))
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
    params(MonthlyCostsQuery),
    responses(
        (status = 200, description = "The month's totals, by day, by provider and by model", body = MonthlyCosts),
        (status = 400, description = "A bad `year` or `month` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn monthly(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<MonthlyCostsQuery>,
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
    let dimension = dimension_query(&state, q.dimension.as_deref(), q.value.as_deref())?;
    // Totals, providers and models from the monthly rollup; the days from the daily one.
    // With a dimension's value, everything from that dimension's daily rollup.
    let mut by_dimension = None;
    let mut filtered = None;
    if let Some(d) = &dimension {
        let (rows, by) = dimension_rows(&state, &auth.tenant_id, d, start_us, end_us).await?;
        by_dimension = Some(by);
        filtered = d.value.is_some().then_some(rows);
    }
    let (month_rows, day_rows) = match filtered {
        Some(rows) => (rows.clone(), rows),
        None => (
            store.monthly_rows(&auth.tenant_id, key).await?,
            store.usage_rows(&auth.tenant_id, start_us, end_us).await?,
        ),
    };
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
        by_dimension,
        period: CostPeriod::Month,
        month: month_string(key),
        start_date: format_us(start_us),
        end_date: format_us(end_us),
        by_day,
    }))
}
