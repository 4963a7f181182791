//! Usage and cost reports: the tenant's (or one account's) use today or this month, and its
//! cost by provider and by model.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::{day_of, day_start_us, format_us, month_of, month_start_us, now_us};
use tollgate_store::UsageRow;

use super::query_user;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::totals::{breakdown, end_of_today, grouped, Totals};
use crate::state::AppState;

/// Query of `GET /api/v1/billing/usage`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `day` (today, UTC) or `month` (default).
    period: Option<String>,
    /// One account's usage (none: the whole tenant's; an end user: their own).
    user_id: Option<String>,
}

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
        (status = 200, description = "`requests`, `tokens`, `cost` by currency, `period`, `user_id`, `start_date`, `end_date`, `by_provider`", body = Value),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    Params(q): Params<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = auth.account_user(query_user(q.user_id.as_deref())?)?;
    let period = q.period.as_deref().unwrap_or("month").trim();
    let now = now_us();
    let start_us = match period {
        "day" => day_start_us(day_of(now)),
        "month" => month_start_us(month_of(now)),
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
    let mut body = total.json();
    body["period"] = json!(period);
    body["user_id"] = json!(user);
    body["start_date"] = json!(format_us(start_us));
    body["end_date"] = json!(format_us(end_us));
    body["by_provider"] = grouped(&by_provider);
    Ok(Json(body))
}

/// Query of `GET /api/v1/billing/cost-report`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `month` (default) or `all`.
    range: Option<String>,
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
        (status = 200, description = "`range`, `start_date`, `end_date`, `totals`, `by_provider`, `by_model`", body = Value),
    )
)]
pub async fn cost_report(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let range = q.range.as_deref().unwrap_or("month").trim();
    let start_us = match range {
        "month" => month_start_us(month_of(now_us())),
        "all" => 0,
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
    let mut body = breakdown(&rows);
    body["range"] = json!(range);
    body["start_date"] = json!(format_us(start_us));
    body["end_date"] = json!(format_us(end_us));
    Ok(Json(body))
}
