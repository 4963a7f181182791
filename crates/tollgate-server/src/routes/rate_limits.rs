//! Rate limits (`/api/v1/rate-limits`): the tenant's plan's requests and tokens per minute,
//! and its keys' and users' own limits, which an admin key sets and removes. The plan's limits
//! are set by operators with the plan (`PUT /api/v1/plans/{name}`, `rate_limits`).
//!
//! Limits are weighed by `POST /api/v1/authorize` in its own transaction (see the store's
//! `rate` module), so a change here applies on every instance from the next decision.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use tollgate_api::rate::{
    PerMinute, PlanRateLimits, RateLimitState, RateLimits, RateOverride as OverrideView, RateScope,
};
use tollgate_core::rate::{Limits, Measure};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::optional_text;
use tollgate_store::{PlanRates, RateKind, RateOverride, RateState, StoreError};

use crate::auth::{need, Can, Principal};
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::state::AppState;

/// The largest limit accepted: far above any real rate, far below overflow.
const MAX_LIMIT: i64 = 1_000_000_000_000;

/// A pair of limits from the wire, each checked and named by `field` when it is not.
pub(crate) fn limits_in(field: &str, p: PerMinute) -> Result<Limits, ApiError> {
    let check = |name: &str, v: Option<i64>| match v {
        Some(n) if !(0..=MAX_LIMIT).contains(&n) => Err(ApiError::invalid_field(
            &format!("{field}.{name}"),
            format!("{field}.{name} must be between 0 and {MAX_LIMIT}, or null for no limit"),
        )),
        _ => Ok(v),
    };
    Ok(Limits {
        rpm: check("requests_per_minute", p.requests_per_minute)?,
        tpm: check("tokens_per_minute", p.tokens_per_minute)?,
    })
}

fn limits_out(l: Limits) -> PerMinute {
    PerMinute {
        requests_per_minute: l.rpm,
        tokens_per_minute: l.tpm,
    }
}

/// A plan's limits from the wire.
pub(crate) fn plan_rates_in(p: PlanRateLimits) -> Result<PlanRates, ApiError> {
    Ok(PlanRates {
        key: limits_in("rate_limits.key", p.key)?,
        user: limits_in("rate_limits.user", p.user)?,
        ip: limits_in("rate_limits.ip", p.ip)?,
    })
}

/// A plan's limits for the wire.
pub(crate) fn plan_rates_out(p: &PlanRates) -> PlanRateLimits {
    PlanRateLimits {
        key: limits_out(p.key),
        user: limits_out(p.user),
        ip: limits_out(p.ip),
    }
}

fn scope(kind: RateKind) -> RateScope {
    match kind {
        RateKind::Key => RateScope::Key,
        RateKind::User => RateScope::User,
        RateKind::Ip => RateScope::Ip,
    }
}

/// A limit as a decision weighed it, for the wire.
pub(crate) fn state_view(s: &RateState) -> RateLimitState {
    let remaining = |limit: Option<i64>, used: i64| limit.map(|l| (l - used).max(0));
    RateLimitState {
        exceeded: s.exceeded.map(|e| {
            match e.measure {
                Measure::Requests => "requests",
                Measure::Tokens => "tokens",
            }
            .to_string()
        }),
        requests_per_minute: s.limits.rpm,
        requests_remaining: remaining(s.limits.rpm, s.used.requests),
        requests_used: s.used.requests,
        retry_after_seconds: s.exceeded.and_then(|e| e.retry_after_seconds),
        scope: scope(s.kind),
        subject: s.subject.clone(),
        tokens_per_minute: s.limits.tpm,
        tokens_remaining: remaining(s.limits.tpm, s.used.tokens),
        tokens_used: s.used.tokens,
    }
}

/// The tenant's rate limits
///
/// The plan's requests and tokens per minute for each key, user and client IP, and the keys'
/// and users' own limits.
#[utoipa::path(
    get,
    path = "/api/v1/rate-limits",
    tag = "billing",
    operation_id = "rate_limits",
    responses(
        (status = 200, description = "The plan's limits and the overrides", body = RateLimits),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
) -> Result<Json<RateLimits>, ApiError> {
    let store = state.store();
    let plan = store
        .quota(&auth.tenant_id, tollgate_core::time::month_of(now_us()))
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?
        .plan;
    let rates = store.plan_rates(&auth.tenant_id).await?;
    let overrides = store.rate_overrides(&auth.tenant_id).await?;
    Ok(Json(RateLimits {
        plan,
        plan_limits: plan_rates_out(&rates),
        overrides: overrides
            .into_iter()
            .map(|o| OverrideView {
                scope: scope(o.kind),
                subject: o.subject,
                requests_per_minute: o.limits.rpm,
                tokens_per_minute: o.limits.tpm,
                set_by: o.set_by,
                updated_at: format_us(o.updated_us),
            })
            .collect(),
    }))
}

async fn put_one(
    state: &AppState,
    auth: &Can<need::Admin>,
    kind: RateKind,
    subject: String,
    body: PerMinute,
) -> Result<Json<OverrideView>, ApiError> {
    let subject = optional_text("subject", Some(&subject), 255)?
        .ok_or_else(|| ApiError::invalid_field("subject", "subject cannot be empty"))?;
    let limits = limits_in("body", body)?;
    if !limits.any() {
        return Err(ApiError::invalid_field(
            "requests_per_minute",
            "send requests_per_minute, tokens_per_minute or both; to go back to the plan's limits, DELETE this override",
        ));
    }
    let set_by = match &auth.principal {
        Principal::Key(k) => k.id.clone(),
        Principal::User(u) => format!("user:{u}"),
    };
    let o = RateOverride {
        kind,
        subject,
        limits,
        set_by,
        updated_us: now_us(),
    };
    match state.store().set_rate_override(&auth.tenant_id, &o).await {
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(&format!("API key '{}'", o.subject)))
        }
        other => other?,
    }
    Ok(Json(OverrideView {
        scope: scope(o.kind),
        subject: o.subject,
        requests_per_minute: o.limits.rpm,
        tokens_per_minute: o.limits.tpm,
        set_by: o.set_by,
        updated_at: format_us(o.updated_us),
    }))
}

async fn delete_one(
    state: &AppState,
    auth: &Can<need::Admin>,
    kind: RateKind,
    subject: &str,
) -> Result<StatusCode, ApiError> {
    let subject = optional_text("subject", Some(subject), 255)?.unwrap_or_default();
    let subject = subject.as_str();
    if state
        .store()
        .delete_rate_override(&auth.tenant_id, kind, subject)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(&format!(
            "rate limits of {} '{subject}'",
            kind.as_str()
        )))
    }
}

/// Set an API key's own rate limits
///
/// Replaces the plan's limits for one of the tenant's keys: a member set to a number is the
/// key's own limit; null or absent is the plan's.
#[utoipa::path(
    put,
    path = "/api/v1/rate-limits/keys/{key_id}",
    tag = "billing",
    operation_id = "put_key_rate_limit",
    params(("key_id" = String, Path, description = "The key's id (`key_…`)")),
    request_body = PerMinute,
    responses(
        (status = 200, description = "The key's own limits, as stored", body = OverrideView),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "No such key in this tenant"),
        (status = 422, description = "A limit is negative or too large"),
    )
)]
pub async fn put_key(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(key_id): PathParam,
    Body(body): Body<PerMinute>,
) -> Result<Json<OverrideView>, ApiError> {
    put_one(&state, &auth, RateKind::Key, key_id, body).await
}

/// Set an end user's own rate limits
///
/// Replaces the plan's limits for one end user: a member set to a number is the user's own
/// limit; null or absent is the plan's.
#[utoipa::path(
    put,
    path = "/api/v1/rate-limits/users/{user_id}",
    tag = "billing",
    operation_id = "put_user_rate_limit",
    params(("user_id" = String, Path, description = "The end user's id")),
    request_body = PerMinute,
    responses(
        (status = 200, description = "The user's own limits, as stored", body = OverrideView),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 422, description = "A limit is negative or too large"),
    )
)]
pub async fn put_user(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(user_id): PathParam,
    Body(body): Body<PerMinute>,
) -> Result<Json<OverrideView>, ApiError> {
    put_one(&state, &auth, RateKind::User, user_id, body).await
}

/// Remove an API key's own rate limits
///
/// The key takes its plan's limits again.
#[utoipa::path(
    delete,
    path = "/api/v1/rate-limits/keys/{key_id}",
    tag = "billing",
    operation_id = "delete_key_rate_limit",
    params(("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "The key has no limits of its own"),
    )
)]
pub async fn delete_key(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(key_id): PathParam,
) -> Result<StatusCode, ApiError> {
    delete_one(&state, &auth, RateKind::Key, &key_id).await
}

/// Remove an end user's own rate limits
///
/// The user takes the plan's limits again.
#[utoipa::path(
    delete,
    path = "/api/v1/rate-limits/users/{user_id}",
    tag = "billing",
    operation_id = "delete_user_rate_limit",
    params(("user_id" = String, Path, description = "The end user's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 404, description = "The user has no limits of its own"),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(user_id): PathParam,
) -> Result<StatusCode, ApiError> {
    delete_one(&state, &auth, RateKind::User, &user_id).await
}
