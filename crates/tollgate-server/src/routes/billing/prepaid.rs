//! The prepaid-balance billing service's routes at its own paths (`/api/billing/balance`,
//! `history`, `topup`, `settings`), with its request and response shapes: a `success`
//! wrapper, amounts as JSON numbers (read and written from their exact decimal text), USD
//! and UAH fields. They do what the canonical `/api/v1/billing/*` routes do, which keep
//! exact decimal strings.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::billing::prepaid::{
    PrepaidAmount, PrepaidBalance, PrepaidBilling, PrepaidHistory, PrepaidLimits,
    PrepaidPagination, PrepaidSettingsBody, PrepaidTopup, PrepaidTopupBody, PrepaidTransaction,
    PrepaidUsage,
};
use tollgate_api::billing::{
    Account as AccountView, CreditBody, HistoryQuery, LedgerEntry as EntryView, Loose,
    SettingsBody, UserQuery,
};
use tollgate_api::ErrorCode;
use tollgate_core::Nanos;
use tollgate_store::LedgerKind;

use super::accounts::balance_view;
use super::credits::{idempotency_key, post, REPLAYED};
use super::{body_user, read_amount};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::state::AppState;

fn amount(text: &str) -> PrepaidAmount {
    PrepaidAmount(text.to_string())
}

/// The account as the prepaid service showed it.
fn billing(a: &AccountView) -> PrepaidBilling {
    PrepaidBilling {
        balance_usd: amount(&a.balance_usd),
        balance_uah: amount(&a.balance_uah),
        total_spent_usd: amount(&a.total_spent_usd),
        total_requests: a.total_requests,
        limits: PrepaidLimits {
            daily_usd: a.limits.daily_usd.as_deref().map(amount),
            monthly_usd: a.limits.monthly_usd.as_deref().map(amount),
        },
        usage: PrepaidUsage {
            today_usd: amount(&a.usage.today_usd),
            month_usd: amount(&a.usage.month_usd),
        },
        last_request_at: a.last_request_at.clone(),
        is_active: a.is_active,
        billing_enabled: a.billing_enabled,
        user_id: a.user_id.clone(),
    }
}

/// A ledger entry as the prepaid service listed it.
fn transaction(e: &EntryView) -> PrepaidTransaction {
    let zero = Nanos::ZERO.to_string();
    let usd = e.currency == "USD";
    let in_currency = |c: &str| amount(if e.currency == c { &e.amount } else { &zero });
    PrepaidTransaction {
        id: e.id.clone(),
        user_id: e.user_id.clone(),
        kind: serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        amount_usd: in_currency("USD"),
        amount_uah: in_currency("UAH"),
        balance_before_usd: usd.then(|| amount(&e.balance_before)),
        balance_after_usd: usd.then(|| amount(&e.balance_after)),
        currency: e.currency.clone(),
        request_id: e.request_id.clone(),
        description: e.description.clone(),
        payment_provider: e.payment_provider.clone(),
        payment_id: e.payment_id.clone(),
        created_at: e.created_at.clone(),
    }
}

/// Balance, prepaid service's shape
///
/// The account (the caller's own for an end user) in the prepaid service's shape: `success`
/// and `billing`, amounts as JSON numbers. `GET /api/v1/billing/balance` is the canonical form.
#[utoipa::path(
    get,
    path = "/api/billing/balance",
    tag = "billing",
    operation_id = "prepaid_balance",
    params(UserQuery),
    responses(
        (status = 200, description = "The account", body = PrepaidBalance),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn balance(
    state: State<AppState>,
    auth: Can<need::OwnRead>,
    q: Params<UserQuery>,
) -> Result<Json<PrepaidBalance>, ApiError> {
    let Json(a) = super::accounts::balance(state, auth, q).await?;
    Ok(Json(PrepaidBalance {
        success: true,
        billing: billing(&a),
    }))
}

/// History, prepaid service's shape
///
/// The account's ledger, newest first, in the prepaid service's shape: `success`,
/// `transactions` with `amount_usd`, `balance_before_usd` and `balance_after_usd`, and
/// `pagination`. `GET /api/v1/billing/history` is the canonical form.
#[utoipa::path(
    get,
    path = "/api/billing/history",
    tag = "billing",
    operation_id = "prepaid_history",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of the ledger, newest first", body = PrepaidHistory),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn history(
    state: State<AppState>,
    auth: Can<need::OwnRead>,
    q: Params<HistoryQuery>,
) -> Result<Json<PrepaidHistory>, ApiError> {
    let Json(h) = super::accounts::history(state, auth, q).await?;
    Ok(Json(PrepaidHistory {
        success: true,
        transactions: h.transactions.iter().map(transaction).collect(),
        pagination: PrepaidPagination {
            limit: h.pagination.limit,
            offset: h.pagination.offset,
            count: h.pagination.count,
            total: h.pagination.total,
        },
    }))
}

/// Top up, prepaid service's shape
///
/// Money paid in, as the prepaid service's clients send it: `amount_usd` or `amount_uah` (a
/// JSON number or a decimal string, at most 9 decimals; one currency per top-up),
/// `description`, `payment_provider`, `payment_id`. A payment (`payment_provider` and
/// `payment_id`) is credited once: sent again, it answers the first credit (header
/// `idempotent-replayed: true`). Needs the `billing` scope.
#[utoipa::path(
    post,
    path = "/api/billing/topup",
    tag = "billing",
    operation_id = "prepaid_topup",
    params(("Idempotency-Key" = Option<String>, Header, description = "As on `POST /api/v1/billing/topup`; without one, the payment's provider and id are the key")),
    request_body = PrepaidTopupBody,
    responses(
        (status = 200, description = "The ledger entry and the account after it", body = PrepaidTopup),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`, naming `amount_usd` or `amount_uah`)"),
        (status = 403, description = "The key lacks the `billing` scope"),
        (status = 409, description = "The payment (or `Idempotency-Key`) was credited before with another amount"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn topup(
    State(state): State<AppState>,
    auth: Can<need::Billing>,
    headers: HeaderMap,
    Body(b): Body<PrepaidTopupBody>,
) -> Result<Response, ApiError> {
    let usd = optional_amount("amount_usd", b.amount_usd.as_ref())?;
    let uah = optional_amount("amount_uah", b.amount_uah.as_ref())?;
    let (field, currency, value) = match (usd, uah) {
        (Some(n), None) => ("amount_usd", "USD", n),
        (None, Some(n)) => ("amount_uah", "UAH", n),
        (None, None) => {
            return Err(
                ApiError::new(ErrorCode::InvalidAmount, "send amount_usd or amount_uah above 0, such as 10.00")
                    .with_field("amount_usd"),
            )
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidAmount,
                "one currency per top-up: send amount_usd or amount_uah above 0, and the other in a second top-up",
            )
            .with_field("amount_uah"))
        }
    };
    let key = match idempotency_key(&headers)? {
        Some(k) => Some(k),
        // A payment is credited once, whoever sends it again.
        None => match (b.payment_provider.as_deref(), b.payment_id.as_deref()) {
            (provider, Some(id)) if !id.trim().is_empty() => Some(format!(
                "payment:{}:{}",
                provider.unwrap_or("").trim(),
                id.trim()
            )),
            _ => None,
        },
    };
    let body = CreditBody {
        amount: Some(Loose::Text(value.to_string())),
        currency: Some(Loose::Text(currency.to_string())),
        description: b.description,
        payment_provider: b.payment_provider,
        payment_id: b.payment_id,
        user_id: b.user_id,
        ..CreditBody::default()
    };
    let (credited, replayed) = post(&state, &auth, key, body, LedgerKind::Topup)
        .await
        .map_err(|e| {
            if e.detail().field.as_deref() == Some("amount") {
                e.with_field(field)
            } else {
                e
            }
        })?;
    let mut response = Json(PrepaidTopup {
        success: true,
        transaction: transaction(&credited.transaction),
        billing: billing(&credited.balance),
    })
    .into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// An amount that may be absent or zero (the source documents send `"amount_uah": 0`).
fn optional_amount(field: &str, value: Option<&Loose>) -> Result<Option<Nanos>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => Ok(Some(read_amount(field, Some(v), true, true)?).filter(|n| n.0 > 0)),
    }
}

/// A limit that may be absent (left as it is) or null (removed).
fn limit(field: &str, value: Option<Option<Loose>>) -> Result<Option<Option<Loose>>, ApiError> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => {
            let n = read_amount(field, Some(&v), true, true)?;
            Ok(Some(Some(Loose::Text(n.to_string()))))
        }
    }
}

/// Settings, prepaid service's shape
///
/// The account's USD limits (`daily_limit_usd`, `monthly_limit_usd`: JSON numbers or decimal
/// strings, null removes) and status, as the prepaid service's clients send them; answers
/// the account in its shape. Needs the `billing` or the `admin` scope.
#[utoipa::path(
    put,
    path = "/api/billing/settings",
    tag = "billing",
    operation_id = "prepaid_settings",
    request_body = PrepaidSettingsBody,
    responses(
        (status = 200, description = "The account after the change", body = PrepaidBalance),
        (status = 400, description = "A bad limit (`INVALID_AMOUNT`)"),
        (status = 403, description = "The key has neither the `billing` nor the `admin` scope"),
        (status = 422, description = "The account's limits are in another currency than USD"),
    )
)]
pub async fn settings(
    state: State<AppState>,
    auth: Can<need::BillingOrAdmin>,
    Body(b): Body<PrepaidSettingsBody>,
) -> Result<Json<PrepaidBalance>, ApiError> {
    let daily = limit("daily_limit_usd", b.daily_limit_usd)?;
    let monthly = limit("monthly_limit_usd", b.monthly_limit_usd)?;
    if daily.is_some() || monthly.is_some() {
        let user = body_user(b.user_id.as_deref())?;
        let current = balance_view(&state, &auth.tenant_id, &user).await?;
        if current.limit_currency != "USD" {
            let field = if daily.is_some() {
                "daily_limit_usd"
            } else {
                "monthly_limit_usd"
            };
            return Err(ApiError::invalid_field(
                field,
                format!(
                    "the account's limits are in {}; set them with PUT /api/v1/billing/settings",
                    current.limit_currency
                ),
            ));
        }
    }
    let body = SettingsBody {
        user_id: b.user_id,
        daily_limit: daily,
        monthly_limit: monthly,
        is_active: b.is_active,
        billing_enabled: b.billing_enabled,
    };
    let Json(a) = super::accounts::settings(state, auth, Body(body)).await?;
    Ok(Json(PrepaidBalance {
        success: true,
        billing: billing(&a),
    }))
}
