//! Analytics of a tenant's use: requests and cost by tool, model or user (per day or month),
//! the top users and models of a period, peak hours and cohorts of users by the month of
//! their first call.
//!
//! Everything but the peak hours is read from the daily rollups (`usage_rows`: whole days
//! from the rollup, the partial days at either end from the events), so a month costs a few
//! rows per day and dimension, not a row per call. The rollups are daily, so the hours of the
//! day are summed from the period's events. LLM models and MCP tools (provider `mcp`, model
//! `<server>/<tool>`) are kept apart: `model` never lists a tool. Costs in different
//! currencies are never added together.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::Json;
use tollgate_api::analytics::{
    AnalyticsBucket, AnalyticsGroup, AnalyticsQuery, AnalyticsReport, AnalyticsRow, Cohort,
    CohortMonth, Cohorts, HourTotals, PeakHours, PeriodQuery, TopEntry, TopQuery, TopReport,
};
use tollgate_core::pricing::TOOL_PROVIDER;
use tollgate_core::time::{
    day_start_us, day_string, format_us, month_of, month_start_us, month_string, next_month,
    now_us, parse_instant, DateEdge,
};
use tollgate_core::Currency;
use tollgate_store::UsageRow;

use super::totals::{decimal, end_of_today};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

fn instant(field: &str, text: Option<&str>, edge: DateEdge) -> Result<Option<i64>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => parse_instant(t, edge)
            .map(Some)
            .map_err(|e| ApiError::invalid_query(field, format!("{field}: {e}"))),
    }
}

/// `[start, end]` of a query (defaults: `default_start`, the end of today).
fn period(
    start: Option<&str>,
    end: Option<&str>,
    default_start: i64,
) -> Result<(i64, i64), ApiError> {
    let s = instant("start", start, DateEdge::Start)?.unwrap_or(default_start);
    let e = instant("end", end, DateEdge::End)?.unwrap_or_else(end_of_today);
    if s > e {
        return Err(ApiError::invalid_query(
            "start",
            "start must not be after end",
        ));
    }
    Ok((s, e))
}

fn this_month_start() -> i64 {
    month_start_us(month_of(now_us()))
}

/// The month of a rollup row.
fn month_of_day(day: i64) -> i64 {
    month_of(day_start_us(day))
}

/// Calls and cost per currency.
#[derive(Default)]
struct Use {
    requests: i64,
    cost: BTreeMap<String, i128>,
}

impl Use {
    fn add(&mut self, r: &UsageRow) {
        self.requests += r.requests;
        *self.cost.entry(r.currency.clone()).or_default() += i128::from(r.cost.0);
    }

    fn cost(&self) -> BTreeMap<String, String> {
        self.cost
            .iter()
            .map(|(c, n)| (c.clone(), decimal(*n)))
            .collect()
    }
}

/// The key a row counts under, or None when it is not of the grouping.
fn key_of(group: AnalyticsGroup, r: &UsageRow) -> Option<&str> {
    let tool = r.provider == TOOL_PROVIDER;
    match group {
        AnalyticsGroup::Tool => tool.then_some(r.model.as_str()),
        AnalyticsGroup::Model => (!tool).then_some(r.model.as_str()),
        AnalyticsGroup::User => (!r.user_id.is_empty()).then_some(r.user_id.as_str()),
        // A dimension's value is not in the row: its rows come keyed (see `usage`).
        AnalyticsGroup::Dimension => None,
    }
}

/// Requests and cost by tool, model or user
///
/// From the daily rollups: one row per tool, model or user (calls naming a user), or per day
/// or month and group with `bucket`, exact cost per currency.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/usage",
    tag = "usage",
    operation_id = "analytics_usage",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Rows in bucket, then key order", body = AnalyticsReport),
        (status = 400, description = "A bad `group_by`, `bucket`, `start` or `end` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<AnalyticsQuery>,
) -> Result<Json<AnalyticsReport>, ApiError> {
    let group = match q.group_by.as_deref().map(str::trim).unwrap_or("tool") {
        "tool" | "" => AnalyticsGroup::Tool,
        "model" => AnalyticsGroup::Model,
        "user" => AnalyticsGroup::User,
        "dimension" => AnalyticsGroup::Dimension,
        other => {
            return Err(ApiError::invalid_query(
                "group_by",
                format!("group_by must be tool, model, user or dimension, not '{other}'"),
            ))
        }
    };
    let dimension = match (group, q.dimension.as_deref()) {
        (AnalyticsGroup::Dimension, None) => {
            return Err(ApiError::invalid_query(
                "dimension",
                "group_by=dimension needs the dimension to group by, such as dimension=kb_id",
            ))
        }
        (AnalyticsGroup::Dimension, Some(name)) => {
            Some(super::costs::dimension_name(&state, name)?)
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_query(
                "dimension",
                "dimension is for group_by=dimension",
            ))
        }
        (_, None) => None,
    };
    let bucket = match q.bucket.as_deref().map(str::trim).unwrap_or("none") {
        "none" | "" => AnalyticsBucket::None,
        "day" => AnalyticsBucket::Day,
        "month" => AnalyticsBucket::Month,
        other => {
            return Err(ApiError::invalid_query(
                "bucket",
                format!("bucket must be none, day or month, not '{other}'"),
            ))
        }
    };
    let (start, end) = period(q.start.as_deref(), q.end.as_deref(), this_month_start())?;
    let keyed: Vec<(String, UsageRow)> = match &dimension {
        Some(name) => {
            state
                .store()
                .dimension_rows(&auth.tenant_id, name, start, end)
                .await?
        }
        None => state
            .store()
            .usage_rows(&auth.tenant_id, start, end)
            .await?
            .into_iter()
            .filter_map(|r| Some((key_of(group, &r)?.to_string(), r)))
            .collect(),
    };
    let mut groups: BTreeMap<(Option<String>, String), Use> = BTreeMap::new();
    for (key, r) in &keyed {
        let b = match bucket {
            AnalyticsBucket::None => None,
            AnalyticsBucket::Day => Some(day_string(r.day)),
            AnalyticsBucket::Month => Some(month_string(month_of_day(r.day))),
        };
        groups.entry((b, key.to_string())).or_default().add(r);
    }
    Ok(Json(AnalyticsReport {
        group_by: group,
        dimension,
        bucket,
        start_date: format_us(start),
        end_date: format_us(end),
        rows: groups
            .into_iter()
            .map(|((bucket, key), u)| AnalyticsRow {
                bucket,
                key,
                requests: u.requests,
                cost: u.cost(),
            })
            .collect(),
    }))
}

/// Top users or models
///
/// The users (or LLM models) that cost most in a period in one currency, from the daily
/// rollups: by cost, then calls, then name.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/top",
    tag = "usage",
    operation_id = "analytics_top",
    params(TopQuery),
    responses(
        (status = 200, description = "The ranking", body = TopReport),
        (status = 400, description = "A bad `group_by`, `limit`, `currency`, `start` or `end` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn top(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<TopQuery>,
) -> Result<Json<TopReport>, ApiError> {
    let by = match q.by.as_deref().map(str::trim).unwrap_or("user") {
        "user" | "" => AnalyticsGroup::User,
        "model" => AnalyticsGroup::Model,
        other => {
            return Err(ApiError::invalid_query(
                "group_by",
                format!("group_by must be user or model, not '{other}'"),
            ))
        }
    };
    let limit = match q.limit {
        None => 10,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid_query(
                "limit",
                format!("limit must be from 1 to 1000, not {n}"),
            ))
        }
    };
    let currency = match q
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => Currency::usd(),
        Some(c) => {
            Currency::try_from(c.to_string()).map_err(|e| ApiError::invalid_query("currency", e))?
        }
    };
    let (start, end) = period(q.start.as_deref(), q.end.as_deref(), this_month_start())?;
    let rows = state
        .store()
        .usage_rows(&auth.tenant_id, start, end)
        .await?;
    let mut sums: BTreeMap<String, (i128, i64)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.currency == currency.as_str()) {
        let Some(key) = key_of(by, r) else { continue };
        let s = sums.entry(key.to_string()).or_default();
        s.0 += i128::from(r.cost.0);
        s.1 += r.requests;
    }
    let mut ranked: Vec<(String, (i128, i64))> = sums.into_iter().collect();
    // Stable: equal cost and calls keep the keys' order.
    ranked.sort_by_key(|(_, sums)| std::cmp::Reverse(*sums));
    let entries = ranked
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, (key, (cost, requests)))| TopEntry {
            rank: i as i64 + 1,
            key,
            requests,
            cost: decimal(cost),
        })
        .collect();
    Ok(Json(TopReport {
        by,
        currency: currency.to_string(),
        start_date: format_us(start),
        end_date: format_us(end),
        entries,
    }))
}

/// Peak hours
///
/// Calls and cost by UTC hour of the day over a period (all 24 hours), summed from the
/// period's events, and the hour with the most calls.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/peak-hours",
    tag = "usage",
    operation_id = "analytics_peak_hours",
    params(PeriodQuery),
    responses(
        (status = 200, description = "Every hour of the day, and the busiest", body = PeakHours),
        (status = 400, description = "A bad `start` or `end` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn peak_hours(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<PeriodQuery>,
) -> Result<Json<PeakHours>, ApiError> {
    let (start, end) = period(q.start.as_deref(), q.end.as_deref(), this_month_start())?;
    let found = state
        .store()
        .usage_by_hour(&auth.tenant_id, start, end)
        .await?;
    let mut hours: Vec<(i64, BTreeMap<String, i128>)> =
        (0..24).map(|_| (0, BTreeMap::new())).collect();
    for h in &found {
        let Some(slot) = usize::try_from(h.hour).ok().and_then(|i| hours.get_mut(i)) else {
            continue;
        };
        slot.0 += h.requests;
        *slot.1.entry(h.currency.clone()).or_default() += i128::from(h.cost.0);
    }
    // The first of the busiest hours: max_by_key would keep the last of a tie.
    let peak = hours
        .iter()
        .enumerate()
        .filter(|(_, h)| h.0 > 0)
        .fold(None::<(usize, i64)>, |best, (i, h)| match best {
            Some((_, n)) if n >= h.0 => best,
            _ => Some((i, h.0)),
        })
        .map(|(i, _)| i as i64);
    Ok(Json(PeakHours {
        start_date: format_us(start),
        end_date: format_us(end),
        peak_hour: peak,
        hours: hours
            .into_iter()
            .enumerate()
            .map(|(i, (requests, cost))| HourTotals {
                hour: i as i64,
                requests,
                cost: cost.iter().map(|(c, n)| (c.clone(), decimal(*n))).collect(),
            })
            .collect(),
    }))
}

/// Cohorts of users
///
/// The users whose first call (ever) was in each month of the period, how many they are, and
/// per month from then to the period's end how many of them called, their calls and their
/// spend. From the daily rollups of the tenant's whole history to the period's end.
#[utoipa::path(
    get,
    path = "/api/v1/analytics/cohorts",
    tag = "usage",
    operation_id = "analytics_cohorts",
    params(PeriodQuery),
    responses(
        (status = 200, description = "The cohorts, oldest first", body = Cohorts),
        (status = 400, description = "A bad `start` or `end` (`INVALID_QUERY`, field named)"),
    )
)]
pub async fn cohorts(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<PeriodQuery>,
) -> Result<Json<Cohorts>, ApiError> {
    let mut year_back = month_of(now_us());
    for _ in 0..11 {
        year_back = if year_back % 100 == 1 {
            (year_back / 100 - 1) * 100 + 12
        } else {
            year_back - 1
        };
    }
    let (start, end) = period(
        q.start.as_deref(),
        q.end.as_deref(),
        month_start_us(year_back),
    )?;
    let rows = state.store().usage_rows(&auth.tenant_id, 0, end).await?;
    // Each user's first month with a call.
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| !r.user_id.is_empty() && r.requests > 0)
    {
        let m = month_of_day(r.day);
        first
            .entry(r.user_id.as_str())
            .and_modify(|f| *f = (*f).min(m))
            .or_insert(m);
    }
    let (first_month, last_month) = (month_of(start), month_of(end));
    // (cohort, month) -> (active users, use)
    let mut cells: BTreeMap<(i64, i64), (BTreeSet<&str>, Use)> = BTreeMap::new();
    let mut members: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, m) in first
        .iter()
        .filter(|(_, m)| (first_month..=last_month).contains(*m))
    {
        *members.entry(*m).or_default() += 1;
    }
    for r in &rows {
        let Some(&cohort) = first.get(r.user_id.as_str()) else {
            continue;
        };
        if !members.contains_key(&cohort) {
            continue;
        }
        let cell = cells.entry((cohort, month_of_day(r.day))).or_default();
        if r.requests > 0 {
            cell.0.insert(r.user_id.as_str());
        }
        cell.1.add(r);
    }
    let cohorts = members
        .iter()
        .map(|(&cohort, &users)| {
            let mut months = Vec::new();
            let mut m = cohort;
            while m <= last_month {
                let (active, used) = match cells.get(&(cohort, m)) {
                    Some((a, u)) => (a.len() as i64, (u.requests, u.cost())),
                    None => (0, (0, BTreeMap::new())),
                };
                months.push(CohortMonth {
                    month: month_string(m),
                    active_users: active,
                    requests: used.0,
                    cost: used.1,
                });
                m = next_month(m);
            }
            Cohort {
                cohort: month_string(cohort),
                users,
                months,
            }
        })
        .collect();
    Ok(Json(Cohorts {
        start_date: format_us(start),
        end_date: format_us(end),
        cohorts,
    }))
}
