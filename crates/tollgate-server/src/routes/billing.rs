//! Billing routes: the tenant's plan and quota, an account's balance, ledger history and
//! settings, the credits an operator posts (top-ups, refunds, adjustments), and usage and cost
//! reports. Each is also served at the path the source documents use.
//!
//! Handlers validate and shape; the store decides and writes, one transaction per operation.
//! Money goes over the wire as exact decimal strings and is read back only from strings.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tollgate_core::time::{
    day_of, day_start_us, format_us, month_of, month_start_us, month_string, next_month, now_us,
    parse_instant, DateEdge,
};
use tollgate_core::validate::optional_text;
use tollgate_core::{Currency, Nanos};
use tollgate_store::{
    ledger_flags, Account, AccountSettings, LedgerEntry, LedgerFilter, LedgerKind, NewCredit,
    PeriodSpend, Scope, UsageRow,
};
use uuid::Uuid;

use super::conversations::bounded;
use super::totals::{end_of_today, grouped, Totals};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::state::AppState;

/// The header that marks an answer repeated from the first request with its Idempotency-Key.
const REPLAYED: &str = "idempotent-replayed";

/// For `Option<Option<T>>` fields: absent is None, `null` is `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD", message)
        .with_details(json!({ "field": field }))
}

fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALID_QUERY", message)
}

/// The account a query names: absent or empty is None.
fn query_user(user_id: Option<&str>) -> Result<Option<String>, ApiError> {
    optional_text("user_id", user_id, 255).map_err(|e| invalid_query(e.message))
}

/// The account a body names: absent or empty is the tenant's own (`""`).
fn body_user(user_id: Option<&str>) -> Result<String, ApiError> {
    Ok(optional_text("user_id", user_id, 255)?.unwrap_or_default())
}

/// Reads an amount sent as a JSON string holding a plain decimal with at most nine places.
fn amount(field: &str, value: Option<&Value>, zero_ok: bool) -> Result<Nanos, ApiError> {
    let bad = |why: String| {
        ApiError::bad_request("INVALID_AMOUNT", format!("{field} {why}"))
            .with_details(json!({ "field": field }))
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

/// A currency code, or `default` when absent.
fn currency(value: Option<&Value>, default: &Currency) -> Result<Currency, ApiError> {
    let bad = |message: String| {
        ApiError::bad_request("INVALID_CURRENCY", message)
            .with_details(json!({ "field": "currency" }))
    };
    match value {
        None | Some(Value::Null) => Ok(default.clone()),
        Some(Value::String(s)) => Currency::try_from(s.clone()).map_err(bad),
        Some(_) => Err(bad(
            "currency must be a three-letter ISO 4217 code as a string, like \"USD\"".into(),
        )),
    }
}

/// The `Idempotency-Key` header: 1 to 255 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = v.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::bad_request(
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn money(n: Option<Nanos>) -> Option<String> {
    n.map(|n| n.to_string())
}

/// The tenant's plan and this month's quota use.
async fn limits_view(state: &AppState, tenant_id: &str) -> Result<Value, ApiError> {
    let tenant = state
        .store()
        .find_tenant(tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let (plan, limit) = state.billing().plans.of(tenant.plan.as_deref());
    let month = month_of(now_us());
    let (used, reserved) = state.store().quota_usage(tenant_id, month).await?;
    Ok(json!({
        "plan": plan,
        "limit": limit,
        "used": used,
        "reserved": reserved,
        "remaining": limit.map(|l| (l - used - reserved).max(0)),
        "resets_at": format!("{}-01T00:00:00Z", month_string(next_month(month))),
        "month": month_string(month),
    }))
}

/// Body of `POST /api/v1/billing/plan`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// A configured plan's name, or null for the default plan; required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    plan: Option<Option<String>>,
}

/// Move the tenant to a plan
///
/// For the key's tenant, or the one an operator names in `X-Tenant-Id`.
#[utoipa::path(
    post,
    path = "/api/v1/billing/plan",
    tag = "billing",
    operation_id = "set_plan",
    request_body = PlanBody,
    responses(
        (status = 200, description = "The tenant's limits, as `GET /api/v1/billing/limits` shows them", body = Value),
        (status = 422, description = "`plan` is missing or not a configured plan (with `known`)"),
    )
)]
pub async fn set_plan(
    State(state): State<AppState>,
    auth: Auth,
    Body(body): Body<PlanBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Operator)?;
    let Some(plan) = body.plan else {
        return Err(invalid_field(
            "plan",
            "plan is required: a plan name, or null for the default plan",
        ));
    };
    let plans = &state.billing().plans;
    if let Some(name) = plan.as_deref() {
        if !plans.quotas.contains_key(name) {
            let known: Vec<&str> = plans.quotas.keys().map(String::as_str).collect();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_FIELD",
                format!("'{name}' is not a plan (known: {})", known.join(", ")),
            )
            .with_details(json!({"field": "plan", "known": known})));
        }
    }
    state
        .store()
        .set_plan(&auth.tenant_id, plan.as_deref())
        .await?;
    Ok(Json(limits_view(&state, &auth.tenant_id).await?))
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
pub async fn limits(State(state): State<AppState>, auth: Auth) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    Ok(Json(limits_view(&state, &auth.tenant_id).await?))
}

fn flag_names(flags: i64) -> Vec<&'static str> {
    [
        (ledger_flags::OVER_DAILY_LIMIT, "over_daily_limit"),
        (ledger_flags::OVER_MONTHLY_LIMIT, "over_monthly_limit"),
        (ledger_flags::NEGATIVE_BALANCE, "negative_balance"),
    ]
    .into_iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

fn entry_json(e: &LedgerEntry) -> Value {
    json!({
        "id": e.id,
        "user_id": e.user_id,
        "type": e.kind.as_str(),
        "amount": e.amount.to_string(),
        "delta": e.delta.to_string(),
        "currency": e.currency,
        "balance_before": e.balance_before.to_string(),
        "balance_after": e.balance_after.to_string(),
        "log_id": e.log_id,
        "hold_id": e.hold_id,
        "request_id": e.request_id,
        "payment_provider": e.payment_provider,
        "payment_id": e.payment_id,
        "description": e.description,
        "metadata": e.metadata,
        "flags": flag_names(e.flags),
        "created_at": format_us(e.created_us),
    })
}

fn spent_in(periods: &[PeriodSpend], currency: &str) -> Nanos {
    periods
        .iter()
        .find(|p| p.currency.as_str() == currency)
        .map_or(Nanos::ZERO, |p| p.spent)
}

/// The seed's balance shape (USD and UAH fields), plus every currency the account holds.
fn balance_json(a: &Account) -> Value {
    let balance_in = |c: &str| {
        a.balances
            .iter()
            .find(|b| b.currency.as_str() == c)
            .map_or(Nanos::ZERO, |b| b.balance)
    };
    let spent_usd = a
        .balances
        .iter()
        .find(|b| b.currency.as_str() == "USD")
        .map_or(Nanos::ZERO, |b| b.spent);
    let usd = a.limit_currency.as_str() == "USD";
    let limit_cur = a.limit_currency.as_str();
    let balances: Map<String, Value> = a
        .balances
        .iter()
        .map(|b| {
            let available = Nanos(b.balance.0.saturating_sub(b.held.0));
            let v = json!({
                "balance": b.balance.to_string(),
                "held": b.held.to_string(),
                "available": available.to_string(),
                "spent": b.spent.to_string(),
            });
            (b.currency.to_string(), v)
        })
        .collect();
    json!({
        "user_id": a.user_id,
        "is_active": a.is_active,
        "billing_enabled": a.billing_enabled,
        "limit_currency": a.limit_currency,
        "balance_usd": balance_in("USD").to_string(),
        "balance_uah": balance_in("UAH").to_string(),
        "total_spent_usd": spent_usd.to_string(),
        "total_requests": a.total_requests,
        "limits": {
            "currency": a.limit_currency,
            "daily": money(a.daily_limit),
            "monthly": money(a.monthly_limit),
            "daily_usd": money(a.daily_limit.filter(|_| usd)),
            "monthly_usd": money(a.monthly_limit.filter(|_| usd)),
        },
        "usage": {
            "today_usd": spent_in(&a.today, "USD").to_string(),
            "month_usd": spent_in(&a.this_month, "USD").to_string(),
            "currency": a.limit_currency,
            "today": spent_in(&a.today, limit_cur).to_string(),
            "month": spent_in(&a.this_month, limit_cur).to_string(),
        },
        "last_request_at": a.last_request_us.map(format_us),
        "created_at": a.created_us.map(format_us),
        "balances": balances,
    })
}

/// The account's balance view; one never used shows the defaults, without creating it.
async fn balance_view(state: &AppState, tenant_id: &str, user_id: &str) -> Result<Value, ApiError> {
    if let Some(a) = state.store().account(tenant_id, user_id).await? {
        return Ok(balance_json(&a));
    }
    let d = &state.billing().defaults;
    Ok(balance_json(&Account {
        tenant_id: tenant_id.to_string(),
        user_id: user_id.to_string(),
        is_active: d.is_active,
        billing_enabled: d.billing_enabled,
        limit_currency: d.limit_currency.clone(),
        daily_limit: d.daily_limit,
        monthly_limit: d.monthly_limit,
        total_requests: 0,
        last_request_us: None,
        created_us: None,
        balances: Vec::new(),
        today: Vec::new(),
        this_month: Vec::new(),
    }))
}

/// `user_id` alone.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The account (none: the tenant's own; an end user: their own).
    user_id: Option<String>,
}

/// An account's balance
///
/// Its balances, limits and spend; an account never used shows the defaults.
#[utoipa::path(
    get,
    path = "/api/v1/billing/balance",
    tag = "billing",
    operation_id = "billing_balance",
    params(UserQuery),
    responses(
        (status = 200, description = "`balance_usd`, `balance_uah`, `total_spent_usd`, `total_requests`, `limits`, `usage`, `last_request_at`, and every currency it holds", body = Value),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn balance(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require_account(Scope::Read)?;
    let user = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    Ok(Json(balance_view(&state, &auth.tenant_id, &user).await?))
}

/// Query of `GET /api/v1/billing/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The account (none: the tenant's own; an end user: their own).
    user_id: Option<String>,
    /// How many, 1 to 500 (default 50).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
    /// Only entries of this kind, such as `usage`, `topup`, `refund` or `adjustment`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// From this day or instant (also `start_date`).
    #[serde(alias = "start_date")]
    start: Option<String>,
    /// Until this day or instant (also `end_date`).
    #[serde(alias = "end_date")]
    end: Option<String>,
}

fn instant(field: &str, text: Option<&str>, edge: DateEdge) -> Result<Option<i64>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => parse_instant(t, edge)
            .map(Some)
            .map_err(|e| invalid_query(format!("{field}: {e}"))),
    }
}

/// An account's ledger
///
/// Its ledger entries, newest first, each with the balance after it.
#[utoipa::path(
    get,
    path = "/api/v1/billing/history",
    tag = "billing",
    operation_id = "billing_history",
    params(HistoryQuery),
    responses(
        (status = 200, description = "`user_id`, `transactions` and `pagination` (`limit`, `offset`, `count`, `total`, `has_more`)", body = Value),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require_account(Scope::Read)?;
    let user = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let offset = bounded("offset", q.offset, 0, 0, i64::MAX)?;
    let kind = match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(LedgerKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = LedgerKind::ALL.iter().map(|k| k.as_str()).collect();
            invalid_query(format!("type must be one of {}", names.join(", ")))
        })?),
    };
    let start_us = instant("start", q.start.as_deref(), DateEdge::Start)?;
    let end_us = instant("end", q.end.as_deref(), DateEdge::End)?;
    if let (Some(s), Some(e)) = (start_us, end_us) {
        if s > e {
            return Err(invalid_query("start must not be after end"));
        }
    }
    let filter = LedgerFilter {
        kind,
        start_us,
        end_us,
    };
    let (entries, total) = state
        .store()
        .ledger(&auth.tenant_id, &user, &filter, limit, offset)
        .await?;
    Ok(Json(json!({
        "user_id": user,
        "transactions": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "pagination": {
            "limit": limit,
            "offset": offset,
            "count": entries.len(),
            "total": total,
            "has_more": offset.saturating_add(entries.len() as i64) < total,
        },
    })))
}

/// Body of the top-up, refund and adjustment routes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// A positive decimal string, at most 9 places; anything else is refused with
    /// `INVALID_AMOUNT`.
    #[schema(value_type = String, example = "10.00")]
    amount: Option<Value>,
    /// A three-letter ISO 4217 code (default: the account limits' currency).
    #[schema(value_type = Option<String>, example = "USD")]
    currency: Option<Value>,
    /// Why (at most 1,000 characters).
    description: Option<String>,
    /// Who took the payment.
    payment_provider: Option<String>,
    /// The payment's id there.
    payment_id: Option<String>,
    /// The account (none: the tenant's own).
    user_id: Option<String>,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
    /// Refunds only: the usage event refunded.
    log_id: Option<String>,
    /// Adjustments only: `credit` (default) or `debit`.
    direction: Option<String>,
}

/// Top up an account
///
/// Money paid in, credited to the account's balance.
#[utoipa::path(
    post,
    path = "/api/v1/billing/topup",
    tag = "billing",
    operation_id = "billing_topup",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Value),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn topup(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Topup).await
}

/// Refund an account
///
/// Money given back, optionally for one usage event (`log_id`).
#[utoipa::path(
    post,
    path = "/api/v1/billing/refund",
    tag = "billing",
    operation_id = "billing_refund",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Value),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
        (status = 404, description = "No such usage event (`log_id`)"),
    )
)]
pub async fn refund(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Refund).await
}

/// Adjust an account
///
/// An operator's correction, either way (`direction`: `credit` or `debit`).
#[utoipa::path(
    post,
    path = "/api/v1/billing/adjustment",
    tag = "billing",
    operation_id = "billing_adjustment",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Value),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn adjustment(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Adjustment).await
}

/// Whether an adjustment takes money away; the field is refused on other kinds.
fn debits(kind: LedgerKind, direction: Option<&str>) -> Result<bool, ApiError> {
    match (kind, direction) {
        (_, None) => Ok(false),
        (LedgerKind::Adjustment, Some("credit")) => Ok(false),
        (LedgerKind::Adjustment, Some("debit")) => Ok(true),
        (LedgerKind::Adjustment, Some(other)) => Err(invalid_field(
            "direction",
            format!("direction must be \"credit\" or \"debit\", not '{other}'"),
        )),
        (_, Some(_)) => Err(invalid_field(
            "direction",
            "direction applies to adjustments only",
        )),
    }
}

async fn credit(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    b: CreditBody,
    kind: LedgerKind,
) -> Result<Response, ApiError> {
    auth.require(Scope::Operator)?;
    let idempotency_key = idempotency_key(headers)?;
    let user_id = body_user(b.user_id.as_deref())?;
    let amount = amount("amount", b.amount.as_ref(), false)?;
    let defaults = &state.billing().defaults;
    let currency = currency(b.currency.as_ref(), &defaults.limit_currency)?;
    let debit = debits(kind, b.direction.as_deref())?;
    let log_id = match (kind, b.log_id.as_deref()) {
        (_, None) => None,
        (LedgerKind::Refund, Some(id)) => {
            let uuid = Uuid::parse_str(id.trim()).map_err(|_| {
                invalid_field("log_id", "log_id must be a usage event's id (a UUID)")
            })?;
            state
                .store()
                .find_log_entry(&auth.tenant_id, uuid)
                .await?
                .ok_or_else(|| ApiError::not_found("usage event"))?;
            Some(uuid.to_string())
        }
        (_, Some(_)) => return Err(invalid_field("log_id", "log_id applies to refunds only")),
    };
    let description = optional_text("description", b.description.as_deref(), 1000)?;
    let payment_provider = optional_text("payment_provider", b.payment_provider.as_deref(), 100)?;
    let payment_id = optional_text("payment_id", b.payment_id.as_deref(), 255)?;
    let metadata = b.metadata.unwrap_or_default();
    // The request as understood, so "10" and "10.0" under one key are the same request.
    let understood = json!({
        "user_id": user_id, "amount": amount.to_string(), "currency": currency,
        "debit": debit, "log_id": log_id, "description": description,
        "payment_provider": payment_provider, "payment_id": payment_id, "metadata": metadata,
    });
    let canonical = tollgate_receipts::canonicalize(&understood)
        .map_err(|e| invalid_field("metadata", format!("metadata: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(format!("billing/{}\n", kind.as_str()).as_bytes());
    hasher.update(&canonical);
    let credit = NewCredit {
        tenant_id: auth.tenant_id.clone(),
        user_id,
        kind,
        amount,
        delta: if debit { Nanos(-amount.0) } else { amount },
        currency,
        description,
        payment_provider,
        payment_id,
        log_id,
        metadata,
        idempotency_key,
        request_hash: hex::encode(hasher.finalize()),
        balance_low: state.billing().balance_low,
    };
    let (entry, replayed) = state.store().post_credit(&credit, defaults).await?;
    let balance = balance_view(state, &auth.tenant_id, &entry.user_id).await?;
    let mut response =
        Json(json!({"transaction": entry_json(&entry), "balance": balance})).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Body of `PUT /api/v1/billing/settings`; an absent field is left as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// The account (none: the tenant's own).
    user_id: Option<String>,
    /// A decimal string, or null to remove the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    daily_limit: Option<Option<Value>>,
    /// A decimal string, or null to remove the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    monthly_limit: Option<Option<Value>>,
    /// Whether the account may spend.
    is_active: Option<bool>,
    /// Whether usage is charged to the balance (prepaid) and authorize requires it to cover.
    billing_enabled: Option<bool>,
}

fn limit_change(field: &str, v: Option<Option<Value>>) -> Result<Option<Option<Nanos>>, ApiError> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => amount(field, Some(&v), true).map(|n| Some(Some(n))),
    }
}

/// Change an account's settings
///
/// Its limits and status; an absent field is left as it is.
#[utoipa::path(
    put,
    path = "/api/v1/billing/settings",
    tag = "billing",
    operation_id = "billing_settings",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The account, as `GET /api/v1/billing/balance` shows it", body = Value),
        (status = 400, description = "A bad limit (`INVALID_AMOUNT`)"),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    auth: Auth,
    Body(b): Body<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Admin)?;
    let user = body_user(b.user_id.as_deref())?;
    let change = AccountSettings {
        daily_limit: limit_change("daily_limit", b.daily_limit)?,
        monthly_limit: limit_change("monthly_limit", b.monthly_limit)?,
        is_active: b.is_active,
        billing_enabled: b.billing_enabled,
    };
    let account = state
        .store()
        .update_account(&auth.tenant_id, &user, &change, &state.billing().defaults)
        .await?;
    Ok(Json(balance_json(&account)))
}

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
    auth: Auth,
    Params(q): Params<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require_account(Scope::Read)?;
    let user = auth.account_user(query_user(q.user_id.as_deref())?)?;
    let period = q.period.as_deref().unwrap_or("month").trim();
    let now = now_us();
    let start_us = match period {
        "day" => day_start_us(day_of(now)),
        "month" => month_start_us(month_of(now)),
        _ => return Err(invalid_query("period must be day or month")),
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
    auth: Auth,
    Params(q): Params<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let range = q.range.as_deref().unwrap_or("month").trim();
    let start_us = match range {
        "month" => month_start_us(month_of(now_us())),
        "all" => 0,
        _ => return Err(invalid_query("range must be month or all")),
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
    Ok(Json(json!({
        "range": range,
        "start_date": format_us(start_us),
        "end_date": format_us(end_us),
        "totals": total.json(),
        "by_provider": grouped(&by_provider),
        "by_model": grouped(&by_model),
    })))
}
