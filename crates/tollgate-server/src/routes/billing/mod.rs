//! Billing routes: the tenant's plan and quota, an account's balance, ledger history and
//! settings, the credits a `billing` key posts (top-ups, refunds, adjustments), and usage and cost
//! reports. Each is also served at the path the source documents use.
//!
//! Handlers validate and shape; the store decides and writes, one transaction per operation.
//! Money goes over the wire as exact decimal strings and is read back only from strings.
//!
//! This module holds the plan and quota routes and the request helpers the others share;
//! [`accounts`] holds an account's balance, history and settings, [`credits`] the top-ups,
//! refunds and adjustments, [`overrides`] an admin's overrides and the audit trail, [`reports`]
//! the usage and cost reports, [`statements`] an account's monthly statement, and [`stream`]
//! an account's balance as server-sent events.

pub(crate) mod accounts;
pub(crate) mod credits;
pub(super) mod overrides;
pub(super) mod prepaid;
pub(crate) mod reports;
pub(crate) mod statement_render;
pub(crate) mod statements;
pub(super) mod stream;

use axum::extract::State;
use axum::Json;
use tollgate_api::billing::{Loose, PlanBody, TenantLimits};
use tollgate_api::ErrorCode;
use tollgate_core::time::{month_of, month_string, next_month, now_us};
use tollgate_core::validate::{optional_text, plan_name};
use tollgate_core::Nanos;
use tollgate_store::{PlanChange, QuotaState};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Body;
use crate::state::AppState;

/// The account a query names: absent or empty is None.
fn query_user(user_id: Option<&str>) -> Result<Option<String>, ApiError> {
    optional_text("user_id", user_id, 255)
        .map_err(|e| ApiError::invalid_query("user_id", e.message))
}

/// The account a body names: absent or empty is the tenant's own (`""`).
fn body_user(user_id: Option<&str>) -> Result<String, ApiError> {
    Ok(optional_text("user_id", user_id, 255)?.unwrap_or_default())
}

/// Reads an amount sent as a JSON string holding a plain decimal with at most nine places.
fn amount(field: &str, value: Option<&Loose>, zero_ok: bool) -> Result<Nanos, ApiError> {
    read_amount(field, value, zero_ok, false)
}

/// Reads an amount sent as a JSON string or, where `numbers` (the paths of the systems
/// Tollgate replaces, whose clients send numbers), a JSON number: either way from its
/// decimal text, never through a float, with at most nine places.
fn read_amount(
    field: &str,
    value: Option<&Loose>,
    zero_ok: bool,
    numbers: bool,
) -> Result<Nanos, ApiError> {
    let bad = |why: String| {
        ApiError::new(ErrorCode::InvalidAmount, format!("{field} {why}")).with_field(field)
    };
    let example = if numbers {
        "a decimal number such as 10.00 or \"10.00\""
    } else {
        "a decimal string such as \"10\" or \"0.5\""
    };
    let scientific;
    let text = match value {
        Some(Loose::Text(s)) => s.trim(),
        None => return Err(bad(format!("is required: {example}"))),
        Some(Loose::Number(n)) if numbers => {
            // A JSON number may use an exponent (1e-3): its exact decimal value.
            if n.contains(['e', 'E']) {
                scientific = rust_decimal::Decimal::from_scientific(n)
                    .map_err(|_| bad(format!("'{n}' is out of range")))?
                    .to_string();
                scientific.as_str()
            } else {
                n.as_str()
            }
        }
        Some(Loose::Number(_)) => {
            return Err(bad(format!(
                "must be {example}, not a JSON number (numbers lose precision)"
            )))
        }
        Some(Loose::Other(_)) => return Err(bad(format!("must be {example}"))),
    };
    if text.is_empty() {
        return Err(bad(format!("must not be empty; send {example}")));
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || !is_digits(fraction) {
        return Err(bad(format!(
            "'{text}' is not a decimal number; send {example}"
        )));
    }
    if negative {
        let sign = if zero_ok {
            "must not be negative"
        } else {
            "must be positive"
        };
        return Err(bad(format!("{sign}, not '{text}'")));
    }
    if fraction.trim_end_matches('0').len() > 9 {
        return Err(bad(format!(
            "'{text}' has more than 9 decimal places; amounts are exact to 0.000000001"
        )));
    }
    let n = Nanos::parse_exact(text).map_err(|_| {
        bad(format!(
            "'{text}' is too large (at most {})",
            Nanos(i64::MAX)
        ))
    })?;
    if n.0 == 0 && !zero_ok {
        return Err(bad("must be greater than zero".into()));
    }
    Ok(n)
}

/// The tenant's plan and quota and this month's use, as one statement read them.
fn tenant_limits(q: &QuotaState) -> TenantLimits {
    TenantLimits {
        limit: q.limit,
        month: month_string(q.month),
        plan: q.plan.clone(),
        remaining: q.limit.map(|l| (l - q.used - q.reserved).max(0)),
        reserved: q.reserved,
        resets_at: format!("{}-01T00:00:00Z", month_string(next_month(q.month))),
        used: q.used,
    }
}

/// The details of a refused plan name: the plans there are.
#[derive(serde::Serialize)]
struct UnknownPlan<'a> {
    known: &'a [String],
}

/// Move the tenant to a plan
///
/// For the key's tenant, or the one an operator key names in `X-Tenant-Id`. Operator keys
/// only: plans are the deployment's.
#[utoipa::path(
    post,
    path = "/api/v1/billing/plan",
    tag = "billing",
    operation_id = "set_plan",
    request_body = PlanBody,
    responses(
        (status = 200, description = "The tenant's limits, as `GET /api/v1/billing/limits` shows them", body = TenantLimits),
        (status = 403, description = "The key is not an operator key"),
        (status = 422, description = "`plan` is missing or not a plan (with `known`, the plans there are)"),
    )
)]
pub async fn set_plan(
    State(state): State<AppState>,
    auth: Can<need::Operator>,
    Body(body): Body<PlanBody>,
) -> Result<Json<TenantLimits>, ApiError> {
    let Some(plan) = body.plan else {
        return Err(ApiError::invalid_field(
            "plan",
            "plan is required: a plan name, or null for the default plan",
        ));
    };
    let plan = match plan {
        Some(name) => Some(plan_name("plan", &name)?),
        None => None,
    };
    let change = state
        .store()
        .set_plan(&auth.tenant_id, plan.as_deref(), month_of(now_us()))
        .await?;
    match change {
        PlanChange::Moved(q) => Ok(Json(tenant_limits(&q))),
        PlanChange::UnknownPlan { known } => {
            let message = format!(
                "'{}' is not a plan (known: {}); operators add plans with PUT /api/v1/plans/NAME",
                plan.unwrap_or_default(),
                known.join(", ")
            );
            let details = serde_json::to_value(UnknownPlan { known: &known })
                .map_err(|e| ApiError::internal(format!("plan names serialize: {e}")))?;
            Err(ApiError::invalid_field("plan", message).with_details(details))
        }
    }
}

/// The plan and its quota
///
/// The tenant's plan, its monthly request quota and this month's use.
#[utoipa::path(
    get,
    path = "/api/v1/billing/limits",
    tag = "billing",
    operation_id = "billing_limits",
    responses(
        (status = 200, description = "The plan, its quota (`limit`, null: unlimited) and this month's use", body = TenantLimits),
    )
)]
pub async fn limits(
    State(state): State<AppState>,
    auth: Can<need::Read>,
) -> Result<Json<TenantLimits>, ApiError> {
    let q = state
        .store()
        .quota(&auth.tenant_id, month_of(now_us()))
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(tenant_limits(&q)))
}
