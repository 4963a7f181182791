//! An account's admin overrides and its audit trail: an overdraft per currency, a suspension
//! with its reason, an exemption from limits until a time. Admin keys only; every change is
//! recorded in the account's audit trail with the id of the key that made it, in the
//! transaction that makes it.

use axum::extract::State;
use axum::Json;
use tollgate_api::billing::{
    AccountOverrides as OverridesView, AuditEntry, AuditQuery, AuditTrail, OverridesBody, UserQuery,
};
use tollgate_core::time::{format_us, now_us, parse_instant, DateEdge};
use tollgate_core::validate::optional_text;
use tollgate_core::Currency;
use tollgate_store::{AccountOverrides, OverrideChange};

use super::{amount, body_user, query_user};
use crate::auth::{need, Can, Principal};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::state::AppState;

fn view(o: &AccountOverrides, now: i64) -> OverridesView {
    OverridesView {
        exempt_until: o
            .exempt_until_us
            .filter(|until| *until > now)
            .map(format_us),
        overdraft: o
            .overdrafts
            .iter()
            .map(|(c, n)| (c.clone(), n.to_string()))
            .collect(),
        suspended: o.suspended,
        // A reason outlives its suspension only when the account was re-activated another
        // way (its settings); it says nothing then.
        suspended_reason: o.suspended_reason.clone().filter(|_| o.suspended),
        user_id: o.user_id.clone(),
    }
}

/// Change an account's admin overrides
///
/// Sets an overdraft (how far below zero the balance of a currency may go before `authorize`
/// refuses), suspends or resumes the account, or lifts its spending and rate limits until a
/// time; absent members are left as they are. Each change is recorded in the account's audit
/// trail (`GET /api/v1/billing/audit`) with the key that made it and the `reason` given.
#[utoipa::path(
    put,
    path = "/api/v1/billing/overrides",
    tag = "billing",
    operation_id = "billing_overrides_put",
    request_body = OverridesBody,
    responses(
        (status = 200, description = "The account's overrides, as they are now", body = OverridesView),
        (status = 400, description = "A bad overdraft (`INVALID_AMOUNT`)"),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 422, description = "A bad currency, time or reason, or nothing to change"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Body(b): Body<OverridesBody>,
) -> Result<Json<OverridesView>, ApiError> {
    let user = body_user(b.user_id.as_deref())?;
    let now = now_us();
    let overdraft = match &b.overdraft {
        None if b.currency.is_some() => {
            return Err(ApiError::invalid_field(
                "currency",
                "currency names the overdraft's currency: send it with overdraft",
            ))
        }
        None => None,
        Some(v) => {
            // None: the account's own limit currency, read where it is written.
            let currency = b
                .currency
                .as_deref()
                .map(|c| {
                    Currency::try_from(c.to_string())
                        .map_err(|e| ApiError::invalid_field("currency", e))
                })
                .transpose()?;
            Some((currency, amount("overdraft", Some(v), true)?))
        }
    };
    let exempt_until_us = match &b.exempt_until {
        None => None,
        Some(None) => Some(None),
        Some(Some(text)) => {
            let until = parse_instant(text, DateEdge::Start)
                .map_err(|e| ApiError::invalid_field("exempt_until", e.to_string()))?;
            if until <= now {
                return Err(ApiError::invalid_field(
                    "exempt_until",
                    "exempt_until must be in the future (send null to end an exemption)",
                ));
            }
            Some(Some(until))
        }
    };
    let reason = optional_text("reason", b.reason.as_deref(), 1000)?;
    if overdraft.is_none() && b.suspended.is_none() && exempt_until_us.is_none() {
        return Err(ApiError::invalid_field(
            "overdraft",
            "nothing to change: send overdraft, suspended or exempt_until",
        ));
    }
    let set_by = match &auth.principal {
        Principal::Key(k) => k.id.clone(),
        Principal::User(u) => format!("user:{u}"),
    };
    let change = OverrideChange {
        overdraft,
        suspended: b.suspended,
        reason,
        exempt_until_us,
        set_by,
        at_us: now,
    };
    let o = state
        .store()
        .set_account_overrides(&auth.tenant_id, &user, &change, &state.billing().defaults)
        .await?;
    Ok(Json(view(&o, now)))
}

/// An account's admin overrides
///
/// Its overdrafts, whether it is suspended and why, and until when its limits are lifted.
#[utoipa::path(
    get,
    path = "/api/v1/billing/overrides",
    tag = "billing",
    operation_id = "billing_overrides",
    params(UserQuery),
    responses(
        (status = 200, description = "The account's overrides", body = OverridesView),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "No such account"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Params(q): Params<UserQuery>,
) -> Result<Json<OverridesView>, ApiError> {
    let user = query_user(q.user_id.as_deref())?.unwrap_or_default();
    let o = state
        .store()
        .account_overrides(&auth.tenant_id, &user)
        .await?
        .ok_or_else(|| ApiError::not_found("Account"))?;
    Ok(Json(view(&o, now_us())))
}

/// An account's audit trail
///
/// Every override change, newest first, with what changed, who changed it and when.
#[utoipa::path(
    get,
    path = "/api/v1/billing/audit",
    tag = "billing",
    operation_id = "billing_audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The changes", body = AuditTrail),
        (status = 400, description = "A bad `limit`"),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditTrail>, ApiError> {
    let user = query_user(q.user_id.as_deref())?.unwrap_or_default();
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "limit",
                "limit must be between 1 and 500",
            ))
        }
    };
    let entries = state
        .store()
        .account_audit(&auth.tenant_id, &user, limit)
        .await?
        .into_iter()
        .map(|e| AuditEntry {
            action: e.action,
            created_at: format_us(e.created_us),
            detail: match e.detail {
                serde_json::Value::Object(m) => m,
                _ => Default::default(),
            },
            id: e.id,
            set_by: e.set_by,
        })
        .collect();
    Ok(Json(AuditTrail {
        entries,
        user_id: user,
    }))
}
