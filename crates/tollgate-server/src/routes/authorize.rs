//! `POST /api/v1/authorize`: may this call happen? Checks the tenant's quota and the user's
//! account (status, daily and monthly limits, balance less open holds) in one transaction and,
//! with `hold`, reserves the estimate until the usage event that carries the hold id settles it.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::authorize::{
    AuthorizeBody, AuthorizeRefusal, Decision as DecisionView, DecisionAccount, DecisionLimits,
    Estimate, HoldReleased, Quota, RefusalCode,
};
use tollgate_api::billing::Loose;
use tollgate_core::pricing::{Metered, TOOL_PROVIDER};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::usage::ServiceTier;
use tollgate_core::validate::optional_text;
use tollgate_core::{Currency, Nanos, TokenCounts};
use tollgate_store::{AccountState, AuthorizeRequest, Decision, QuotaState, RateSubjects, Refusal};

use crate::auth::{need, Can, Principal};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::routes::rate_limits::state_view;
use crate::state::AppState;

/// The estimate of one execution of an MCP tool (`model` is `<server>/<tool>`), priced as its
/// execution will be; 422 when the tool is unknown or has no price.
async fn tool_estimate(
    state: &AppState,
    tenant: &str,
    book: &tollgate_core::PriceBook,
    model: &str,
) -> Result<(Nanos, Currency), ApiError> {
    let unknown = || {
        ApiError::invalid_field(
            "model",
            format!("no MCP tool '{model}' (send <server>/<tool>) with a price; send estimated_cost instead"),
        )
    };
    let (server, tool) = model.trim().split_once('/').ok_or_else(unknown)?;
    let target = state
        .store()
        .tool_by_name(tenant, server, tool)
        .await?
        .ok_or_else(unknown)?;
    let priced = crate::routes::mcp::executions::tool_price(book, tenant, &target, now_us())?
        .ok_or_else(unknown)?;
    let cost = priced
        .rates
        .call_cost(None)
        .map_err(|e| ApiError::invalid_field("model", e.to_string()))?;
    Ok((cost, priced.currency))
}

/// The estimate: the client's cost, else the price of the estimated tokens (or of one tool
/// execution, for provider `mcp`), else zero.
async fn estimate(
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
    let service_tier = b
        .service_tier
        .as_deref()
        .map(|t| ServiceTier::parse("service_tier", t))
        .transpose()
        .map_err(|e| ApiError::invalid_field("service_tier", e.message))?
        .unwrap_or_default();
    if let Some(cost) = &b.estimated_cost {
        // A number is read from its decimal text, as a string is: never through a float.
        let parsed = match cost {
            Loose::Text(text) | Loose::Number(text) => Nanos::parse_exact(text.trim()).ok(),
            Loose::Other(_) => None,
        };
        return match parsed {
            Some(n) if n.0 >= 0 => Ok((n, currency)),
            _ => Err(ApiError::invalid_field(
                "estimated_cost",
                "estimated_cost must be a non-negative amount with at most 9 decimal places, such as \"0.05\"",
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
    if provider.trim().eq_ignore_ascii_case(TOOL_PROVIDER) {
        return tool_estimate(state, tenant, &book, model).await;
    }
    match book.find(tenant, provider, model, now_us()) {
        Some(m) => {
            let call = Metered {
                service_tier,
                ..Metered::tokens(&tokens)
            };
            let cost = m
                .entry
                .rates
                .cost_split(&call)
                .map_err(|e| ApiError::invalid_field("estimated_input_tokens", e.to_string()))?
                .total;
            Ok((cost, m.entry.currency.clone()))
        }
        None if tokens.total() == 0 => Ok((Nanos::ZERO, currency)),
        None => Err(ApiError::invalid_field(
            "model",
            format!("no price is known for model '{model}'; send estimated_cost instead"),
        )),
    }
}

fn quota(q: &QuotaState) -> Quota {
    let (year, month) = (q.month / 100, q.month % 100);
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Quota {
        limit: q.limit,
        plan: q.plan.clone(),
        remaining: q.limit.map(|l| (l - q.used - q.reserved).max(0)),
        reserved: q.reserved,
        resets_at: format!("{ny:04}-{nm:02}-01T00:00:00Z"),
        used: q.used,
    }
}

fn limits(a: &AccountState) -> DecisionLimits {
    DecisionLimits {
        currency: a.limit_currency.to_string(),
        daily: a.daily_limit.map(|n| n.to_string()),
        daily_used: a.daily_used.to_string(),
        monthly: a.monthly_limit.map(|n| n.to_string()),
        monthly_used: a.monthly_used.to_string(),
    }
}

fn account(a: &AccountState) -> DecisionAccount {
    let available = Nanos(a.balance.0.saturating_sub(a.held.0));
    DecisionAccount {
        available: available.to_string(),
        balance: a.balance.to_string(),
        billing_enabled: a.billing_enabled,
        currency: a.currency.to_string(),
        held: a.held.to_string(),
        is_active: a.is_active,
        limits: limits(a),
        overdraft: a.overdraft.to_string(),
        user_id: a.user_id.clone(),
    }
}

fn refusal(r: Refusal) -> (RefusalCode, &'static str) {
    match r {
        Refusal::QuotaExceeded => (
            RefusalCode::QuotaExceeded,
            "the tenant's plan quota for this month is used up; upgrade the plan or wait for the next month",
        ),
        Refusal::AccountDisabled => (
            RefusalCode::AccountDisabled,
            "this account is disabled; an administrator can re-activate it in the billing settings",
        ),
        Refusal::DailyLimitExceeded => (
            RefusalCode::DailyLimitExceeded,
            "this call would pass the account's daily spending limit; raise the limit or wait until tomorrow (UTC)",
        ),
        Refusal::MonthlyLimitExceeded => (
            RefusalCode::MonthlyLimitExceeded,
            "this call would pass the account's monthly spending limit; raise the limit or wait for the next month",
        ),
        Refusal::InsufficientBalance => (
            RefusalCode::InsufficientBalance,
            "the account's balance, less open holds, does not cover this call; top up the balance",
        ),
        Refusal::RateLimited => (
            RefusalCode::RateLimited,
            "this call would pass a requests- or tokens-per-minute limit (`rate_limits` says which); retry after `Retry-After` seconds, or ask an administrator to raise the limit",
        ),
    }
}

/// The rate-limit headers of a decision: the tightest limit's numbers, and on a refusal when
/// to retry (absent when the call alone passes a limit and never will fit).
fn rate_headers(response: &mut Response, d: &Decision) {
    let mut put = |name: &'static str, value: i64| {
        response
            .headers_mut()
            .insert(name, HeaderValue::from(value));
    };
    let tightest = |limit: fn(&tollgate_store::RateState) -> Option<(i64, i64)>| {
        d.rates
            .iter()
            .filter_map(limit)
            .min_by_key(|(l, used)| l - used)
    };
    if let Some((limit, used)) = tightest(|s| s.limits.rpm.map(|l| (l, s.used.requests))) {
        put("x-ratelimit-limit-requests", limit);
        put("x-ratelimit-remaining-requests", (limit - used).max(0));
    }
    if let Some((limit, used)) = tightest(|s| s.limits.tpm.map(|l| (l, s.used.tokens))) {
        put("x-ratelimit-limit-tokens", limit);
        put("x-ratelimit-remaining-tokens", (limit - used).max(0));
    }
    let exceeded: Vec<_> = d.rates.iter().filter_map(|s| s.exceeded).collect();
    if !exceeded.is_empty() && exceeded.iter().all(|e| e.retry_after_seconds.is_some()) {
        let wait = exceeded
            .iter()
            .filter_map(|e| e.retry_after_seconds)
            .max()
            .unwrap_or(1);
        put("retry-after", wait);
    }
}

fn decision_view(d: &Decision, estimate: Nanos, currency: &Currency) -> DecisionView {
    DecisionView {
        allowed: d.refusal.is_none(),
        balance: d.account.as_ref().map(account),
        estimate: Estimate {
            amount: estimate.to_string(),
            currency: currency.to_string(),
        },
        hold_expires_at: d.hold_expires_us.map(format_us),
        hold_id: d.hold_id.clone(),
        limits: d.account.as_ref().map(limits),
        quota: quota(&d.quota),
        rate_limits: d.rates.iter().map(state_view).collect(),
    }
}

/// May this call happen?
///
/// Checks the rate limits of the key, the user and the client IP, the plan quota and the
/// account's status, daily and monthly limits and balance less open holds, in one
/// transaction; with `hold`, reserves the estimate. Every answer carries the tightest rate
/// limit in `X-RateLimit-Limit-Requests`/`-Remaining-Requests` (and `-Tokens`).
#[utoipa::path(
    post,
    path = "/api/v1/authorize",
    tag = "authorize",
    operation_id = "authorize",
    request_body = AuthorizeBody,
    responses(
        (status = 200, description = "Allowed: `allowed: true`, `hold_id` and `hold_expires_at` (with `hold`), `estimate`, `quota`, `balance`, `limits`", body = DecisionView),
        (status = 402, description = "Refused: `QUOTA_EXCEEDED`, `ACCOUNT_DISABLED`, `DAILY_LIMIT_EXCEEDED`, `MONTHLY_LIMIT_EXCEEDED` or `INSUFFICIENT_BALANCE`, with the same numbers in `error`", body = AuthorizeRefusal),
        (status = 429, description = "Refused: `RATE_LIMITED`, a requests- or tokens-per-minute limit of the key, the user or the client IP would be passed; `Retry-After` says when to retry, `rate_limits` in `error` which limit", body = AuthorizeRefusal),
        (status = 404, description = "An end user named another account"),
        (status = 422, description = "A field is invalid, or the model has no price and no `estimated_cost` was sent"),
    )
)]
pub async fn authorize(
    State(state): State<AppState>,
    auth: Can<need::OwnIngest>,
    ClientIp(ip): ClientIp,
    Body(body): Body<AuthorizeBody>,
) -> Result<Response, ApiError> {
    let user_id = auth.account_user(optional_text("user_id", body.user_id.as_deref(), 255)?)?;
    let (estimate, currency) = estimate(&state, &auth.tenant_id, &body).await?;
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
            rate: RateSubjects {
                key_id: match &auth.principal {
                    Principal::Key(k) => Some(k.id.clone()),
                    Principal::User(_) => None,
                },
                ip: ip.map(|ip| ip.to_string()),
                tokens: rate_tokens(&body),
            },
        })
        .await?;
    let view = decision_view(&decision, estimate, &currency);
    let mut response = match decision.refusal {
        None => {
            state.metrics().decision("allowed");
            Json(view).into_response()
        }
        Some(r) => {
            let (code, message) = refusal(r);
            let code = code.error_code();
            state.metrics().decision(code.as_str());
            // The refusal's error carries the decision's members beside code and message.
            let details = serde_json::to_value(&view)
                .map_err(|e| ApiError::internal(format!("a decision serializes: {e}")))?;
            ApiError::new(code, message)
                .with_details(details)
                .into_response()
        }
    };
    rate_headers(&mut response, &decision);
    Ok(response)
}

/// The tokens a call counts against tokens-per-minute limits: those `authorize` is told to
/// expect (none known: tokens limits are not weighed for it).
fn rate_tokens(b: &AuthorizeBody) -> i64 {
    let known = |n: Option<i64>| n.unwrap_or(0).clamp(0, 1_000_000_000);
    known(b.estimated_input_tokens) + known(b.estimated_output_tokens)
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
        (status = 200, description = "The hold, released", body = HoldReleased),
        (status = 404, description = "No such open hold (unknown, settled, expired or released)"),
    )
)]
pub async fn release(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    PathParam(hold_id): PathParam,
) -> Result<Json<HoldReleased>, ApiError> {
    let released = state
        .store()
        .release_hold(&auth.tenant_id, &hold_id, now_us())
        .await?;
    if !released {
        return Err(ApiError::not_found("Open hold"));
    }
    Ok(Json(HoldReleased {
        hold_id,
        released: true,
    }))
}
