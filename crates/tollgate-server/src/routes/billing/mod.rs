//! Billing routes: the tenant's plan and quota, an account's balance, ledger history and
//! settings, the credits a `billing` key posts (top-ups, refunds, adjustments), and usage and cost
//! reports. Each is also served at the path the source documents use.
//!
//! Handlers validate and shape; the store decides and writes, one transaction per operation.
//! Money goes over the wire as exact decimal strings and is read back only from strings.
//!
//! This module holds the plan and quota routes and the request helpers the others share;
//! [`accounts`] holds an account's balance, history and settings, [`credits`] the top-ups,
//! refunds and adjustments, and [`reports`] the usage and cost reports.

pub(super) mod accounts;
pub(super) mod credits;
pub(super) mod reports;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use tollgate_core::time::{month_of, month_string, next_month, now_us};
use tollgate_core::validate::{optional_text, plan_name};
use tollgate_core::Nanos;
use tollgate_store::{PlanChange, QuotaState};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Body;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// For `Option<Option<T>>` fields: absent is None, `null` is `Some(None)`.
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

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
fn amount(field: &str, value: Option<&Value>, zero_ok: bool) -> Result<Nanos, ApiError> {
    let bad = |why: String| {
        ApiError::new(ErrorCode::InvalidAmount, format!("{field} {why}")).with_field(field)
    };
    let example = "a decimal string such as \"10\" or \"0.5\"";
    let text = match value {
        Some(Value::String(s)) => s.trim(),
        None | Some(Value::Null) => return Err(bad(format!("is required: {example}"))),
        Some(Value::Number(_)) => {
            return Err(bad(format!(
                "must be {example}, not a JSON number (numbers lose precision)"
            )))
        }
        Some(_) => return Err(bad(format!("must be {example}"))),
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
fn limits_json(q: &QuotaState) -> Value {
    json!({
        "plan": q.plan,
        "limit": q.limit,
        "used": q.used,
        "reserved": q.reserved,
        "remaining": q.limit.map(|l| (l - q.used - q.reserved).max(0)),
        "resets_at": format!("{}-01T00:00:00Z", month_string(next_month(q.month))),
        "month": month_string(q.month),
    })
}

/// Body of `POST /api/v1/billing/plan`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// A plan's name (see `GET /api/v1/plans`), or null for the default plan; required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    plan: Option<Option<String>>,
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
        (status = 200, description = "The tenant's limits, as `GET /api/v1/billing/limits` shows them", body = Value),
        (status = 403, description = "The key is not an operator key"),
        (status = 422, description = "`plan` is missing or not a plan (with `known`, the plans there are)"),
    )
)]
pub async fn set_plan(
    State(state): State<AppState>,
    auth: Can<need::Operator>,
    Body(body): Body<PlanBody>,
) -> Result<Json<Value>, ApiError> {
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
        PlanChange::Moved(q) => Ok(Json(limits_json(&q))),
        PlanChange::UnknownPlan { known } => Err(ApiError::new(
            ErrorCode::InvalidField,
            format!(
                "'{}' is not a plan (known: {}); operators add plans with PUT /api/v1/plans/NAME",
                plan.unwrap_or_default(),
                known.join(", ")
            ),
        )
        .with_details(json!({"field": "plan", "known": known}))),
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
        (status = 200, description = "`plan`, `limit` (null: unlimited), `used`, `reserved`, `remaining`, `resets_at`, `month`", body = Value),
    )
)]
pub async fn limits(
    State(state): State<AppState>,
    auth: Can<need::Read>,
) -> Result<Json<Value>, ApiError> {
    let q = state
        .store()
        .quota(&auth.tenant_id, month_of(now_us()))
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(limits_json(&q)))
}
