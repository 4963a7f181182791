//! Usage and cost reports: the tenant's (or one account's) use today or this month, and its
//! cost by provider and by model.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use tollgate_api::billing::{
    CostReport, ReportQuery, ReportRange, UsagePeriod, UsageQuery, UsageReport,
};
use tollgate_core::time::{day_of, day_start_us, format_us, month_of, month_start_us, now_us};
use tollgate_store::UsageRow;

use super::query_user;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::totals::{by_group, end_of_today, Totals};
use crate::state::AppState;

/// Usage today or this month
///
/// The tenant's (or one account's) requests, tokens and cost, by provider.
#[utoipa::path(
    get,
    path = "/api/v1/billing/usage",
    tag = "billing",
    operation_id = "billing_usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "Requests, tokens and cost by currency, in total and by provider", body = UsageReport),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let user = auth.account_user(query_user(q.user_id.as_deref())?)?;
    let now = now_us();
    let (period, start_us) = match q.period.as_deref().unwrap_or("month").trim() {
        "day" => (UsagePeriod::Day, day_start_us(day_of(now))),
        "month" => (UsagePeriod::Month, month_start_us(month_of(now))),
        _ => {
            return Err(ApiError::invalid_query(
                "period",
                "period must be day or month",
            ))
        }
    };
    let end_us = end_of_today();
    let rows = state
        .store()
        .usage_rows(&auth.tenant_id, start_us, end_us)
        .await?;
    let mut total = Totals::default();
    let mut by_provider: BTreeMap<String, Totals> = BTreeMap::new();
    let mine = |r: &&UsageRow| user.as_deref().is_none_or(|u| r.user_id == u);
    for r in rows.iter().filter(mine) {
        total.add(r);
        by_provider.entry(r.provider.clone()).or_default().add(r);
    }
    let sums = Totals::totals(&total);
    Ok(Json(UsageReport {
        by_provider: by_group(&by_provider),
        cached_responses: sums.cached_responses,
        cost: sums.cost,
        end_date: format_us(end_us),
        period,
        requests: sums.requests,
        start_date: format_us(start_us),
        tokens: sums.tokens,
        unpriced_requests: sums.unpriced_requests,
        user_id: user,
    }))
}

/// Cost report
///
/// Requests, tokens and cost by provider and by model, this month or ever.
#[utoipa::path(
    get,
    path = "/api/v1/billing/cost-report",
    tag = "billing",
    operation_id = "cost_report",
    params(ReportQuery),
    responses(
        (status = 200, description = "Requests, tokens and cost by currency, in total, by provider and by model", body = CostReport),
    )
)]
pub async fn cost_report(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<ReportQuery>,
) -> Result<Json<CostReport>, ApiError> {
    let (range, start_us) = match q.range.as_deref().unwrap_or("month").trim() {
        "month" => (ReportRange::Month, month_start_us(month_of(now_us()))),
        "all" => (ReportRange::All, 0),
        _ => {
            return Err(ApiError::invalid_query(
                "range",
                "range must be month or all",
            ))
        }
    };
    let end_us = end_of_today();
    let rows = state
        .store()
        .usage_rows(&auth.tenant_id, start_us, end_us)
        .await?;
    let mut total = Totals::default();
    let mut by_provider: BTreeMap<String, Totals> = BTreeMap::new();
    let mut by_model: BTreeMap<String, Totals> = BTreeMap::new();
    for r in &rows {
        total.add(r);
        by_provider.entry(r.provider.clone()).or_default().add(r);
        by_model.entry(r.model.clone()).or_default().add(r);
    }
    Ok(Json(CostReport {
        by_model: by_group(&by_model),
        by_provider: by_group(&by_provider),
        end_date: format_us(end_us),
        range,
        start_date: format_us(start_us),
        totals: Totals::totals(&total),
    }))
}
