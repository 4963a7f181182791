//! `POST /api/v1/authorize`: may this call happen? Checks the tenant's quota and the user's
//! account (status, daily and monthly limits, balance less open holds) in one transaction and,
//! with `hold`, reserves the estimate until the usage event that carries the hold id settles it.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::optional_text;
use tollgate_core::{Currency, Nanos, TokenCounts};
use tollgate_store::{AccountState, AuthorizeRequest, Decision, QuotaState, Refusal};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Body of `POST /api/v1/authorize`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// The end user whose account pays (none: the tenant's own; an end user: their own).
    user_id: Option<String>,
    /// The provider, to price the estimated tokens.
    provider: Option<String>,
    /// The model, to price the estimated tokens.
    model: Option<String>,
    /// Estimated prompt tokens.
    estimated_input_tokens: Option<i64>,
    /// Estimated generated tokens.
    estimated_output_tokens: Option<i64>,
    /// A decimal string ("0.05") or a number; wins over the token estimate.
    #[schema(value_type = Option<String>, example = "0.05")]
    estimated_cost: Option<Value>,
    /// The currency of `estimated_cost` (default: the account limits' currency).
    currency: Option<String>,
    /// Reserve the estimate until the usage event carrying the hold id settles it.
    #[serde(default)]
    hold: bool,
    /// How long the hold lasts (default `billing.hold_ttl_seconds`).
    hold_ttl_seconds: Option<i64>,
}

/// The estimate: the client's cost, else the price of the estimated tokens, else zero.
fn estimate(
    state: &AppState,
    tenant: &str,
    b: &AuthorizeBody,
) -> Result<(Nanos, Currency), ApiError> {
    let currency = match b.currency.as_deref() {
        Some(c) => {
            Currency::try_from(c.to_string()).map_err(|e| ApiError::invalid_field("currency", e))?
        }
        None => state.billing().defaults.limit_currency.clone(),
    };
    if let Some(cost) = &b.estimated_cost {
        let parsed = match cost {
            Value::String(s) => Nanos::parse_exact(s.trim()).ok(),
            Value::Number(n) => n.as_f64().and_then(|f| Nanos::from_f64(f).ok()),
            _ => None,
        };
        return match parsed {
            Some(n) if n.0 >= 0 => Ok((n, currency)),
            _ => Err(ApiError::invalid_field(
                "estimated_cost",
                "estimated_cost must be a non-negative amount, such as \"0.05\"",
            )),
        };
    }
    let tokens = TokenCounts {
        input: b.estimated_input_tokens.unwrap_or(0),
        output: b.estimated_output_tokens.unwrap_or(0),
        ..Default::default()
    };
    if tokens.input < 0
        || tokens.output < 0
        || tokens.input > 1_000_000_000
        || tokens.output > 1_000_000_000
    {
        return Err(ApiError::invalid_field(
            "estimated_input_tokens",
            "estimated token counts must be between 0 and 1000000000",
        ));
    }
    let Some(model) = b.model.as_deref() else {
        return Ok((Nanos::ZERO, currency));
    };
    let book = state.prices().current();
    let provider = b.provider.as_deref().unwrap_or("");
    match book.find(tenant, provider, model, now_us()) {
        Some(m) => {
            let cost =
                m.entry.rates.cost(&tokens).map_err(|e| {
                    ApiError::invalid_field("estimated_input_tokens", e.to_string())
                })?;
            Ok((cost, m.entry.currency.clone()))
        }
        None if tokens.total() == 0 => Ok((Nanos::ZERO, currency)),
        None => Err(ApiError::invalid_field(
            "model",
            format!("no price is known for model '{model}'; send estimated_cost instead"),
        )),
    }
}

fn quota_json(q: &QuotaState) -> Value {
    let (year, month) = (q.month / 100, q.month % 100);
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    json!({
        "plan": q.plan,
        "limit": q.limit,
        "used": q.used,
        "reserved": q.reserved,
        "remaining": q.limit.map(|l| (l - q.used - q.reserved).max(0)),
        "resets_at": format!("{ny:04}-{nm:02}-01T00:00:00Z"),
    })
}

fn account_json(a: &AccountState) -> Value {
    let available = Nanos(a.balance.0.saturating_sub(a.held.0));
    json!({
        "user_id": a.user_id,
        "is_active": a.is_active,
        "billing_enabled": a.billing_enabled,
        "currency": a.currency,
        "balance": a.balance.to_string(),
        "held": a.held.to_string(),
        "available": available.to_string(),
        "limits": {
            "currency": a.limit_currency,
            "daily": a.daily_limit.map(|n| n.to_string()),
            "daily_used": a.daily_used.to_string(),
            "monthly": a.monthly_limit.map(|n| n.to_string()),
            "monthly_used": a.monthly_used.to_string(),
        },
    })
}

fn refusal(r: Refusal) -> (ErrorCode, &'static str) {
    match r {
        Refusal::QuotaExceeded => (
            ErrorCode::QuotaExceeded,
            "the tenant's plan quota for this month is used up; upgrade the plan or wait for the next month",
        ),
        Refusal::AccountDisabled => (
            ErrorCode::AccountDisabled,
            "this account is disabled; an administrator can re-activate it in the billing settings",
        ),
        Refusal::DailyLimitExceeded => (
            ErrorCode::DailyLimitExceeded,
            "this call would pass the account's daily spending limit; raise the limit or wait until tomorrow (UTC)",
        ),
        Refusal::MonthlyLimitExceeded => (
            ErrorCode::MonthlyLimitExceeded,
            "this call would pass the account's monthly spending limit; raise the limit or wait for the next month",
        ),
        Refusal::InsufficientBalance => (
            ErrorCode::InsufficientBalance,
            "the account's balance, less open holds, does not cover this call; top up the balance",
        ),
    }
}

fn decision_json(d: &Decision, estimate: Nanos, currency: &Currency) -> Value {
    json!({
        "allowed": d.refusal.is_none(),
        "hold_id": d.hold_id,
        "hold_expires_at": d.hold_expires_us.map(format_us),
        "estimate": {"amount": estimate.to_string(), "currency": currency},
        "quota": quota_json(&d.quota),
        "balance": d.account.as_ref().map(account_json),
        "limits": d.account.as_ref().map(|a| account_json(a)["limits"].clone()),
    })
}

/// May this call happen?
///
/// Checks the plan quota and the account's status, daily and monthly limits and balance less
/// open holds, in one transaction; with `hold`, reserves the estimate.
#[utoipa::path(
    post,
    path = "/api/v1/authorize",
    tag = "authorize",
    operation_id = "authorize",
    request_body = AuthorizeBody,
    responses(
        (status = 200, description = "Allowed: `allowed: true`, `hold_id` and `hold_expires_at` (with `hold`), `estimate`, `quota`, `balance`, `limits`", body = Value),
        (status = 402, description = "Refused: `QUOTA_EXCEEDED`, `ACCOUNT_DISABLED`, `DAILY_LIMIT_EXCEEDED`, `MONTHLY_LIMIT_EXCEEDED` or `INSUFFICIENT_BALANCE`, with the same numbers in `error`"),
        (status = 404, description = "An end user named another account"),
        (status = 422, description = "A field is invalid, or the model has no price and no `estimated_cost` was sent"),
    )
)]
pub async fn authorize(
    State(state): State<AppState>,
    auth: Can<need::OwnIngest>,
    Body(body): Body<AuthorizeBody>,
) -> Result<Json<Value>, ApiError> {
    let user_id = auth.account_user(optional_text("user_id", body.user_id.as_deref(), 255)?)?;
    let (estimate, currency) = estimate(&state, &auth.tenant_id, &body)?;
    let billing = state.billing();
    let hold_until_us = if body.hold {
        let ttl = match body.hold_ttl_seconds {
            None => billing.hold_ttl.as_secs() as i64,
            Some(t) if t >= 1 && t as u64 <= billing.max_hold_ttl.as_secs() => t,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "hold_ttl_seconds",
                    format!(
                        "hold_ttl_seconds must be between 1 and {}",
                        billing.max_hold_ttl.as_secs()
                    ),
                ))
            }
        };
        Some(now_us() + ttl * 1_000_000)
    } else {
        None
    };
    let decision = state
        .authorizer()
        .authorize(AuthorizeRequest {
            tenant_id: auth.tenant_id.clone(),
            user_id,
            estimate,
            currency: currency.clone(),
            hold_until_us,
        })
        .await?;
    let body = decision_json(&decision, estimate, &currency);
    match decision.refusal {
        None => {
            state.metrics().decision("allowed");
            Ok(Json(body))
        }
        Some(r) => {
            let (code, message) = refusal(r);
            state.metrics().decision(code.as_str());
            Err(ApiError::new(code, message).with_details(body))
        }
    }
}

/// Release a hold
///
/// The call will not happen: give the held estimate back.
#[utoipa::path(
    post,
    path = "/api/v1/authorize/{hold_id}/release",
    tag = "authorize",
    operation_id = "release_hold",
    params(("hold_id" = String, Path, description = "The hold's id, from `POST /api/v1/authorize`")),
    responses(
        (status = 200, description = "`{\"hold_id\", \"released\": true}`", body = Value),
        (status = 404, description = "No such open hold (unknown, settled, expired or released)"),
    )
)]
pub async fn release(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    PathParam(hold_id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let released = state
        .store()
        .release_hold(&auth.tenant_id, &hold_id, now_us())
        .await?;
    if !released {
        return Err(ApiError::not_found("Open hold"));
    }
    Ok(Json(json!({"hold_id": hold_id, "released": true})))
}
