//! An account's billing routes: its balance, its ledger history and its settings (limits and
//! status), and the JSON shapes of an account and a ledger entry.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tollgate_core::time::{format_us, parse_instant, DateEdge};
use tollgate_core::Nanos;
use tollgate_store::{
    ledger_flags, Account, AccountSettings, LedgerEntry, LedgerFilter, LedgerKind, PeriodSpend,
};

use super::{amount, body_user, present, query_user};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::routes::conversations::{bounded, pagination};
use crate::state::AppState;

fn money(n: Option<Nanos>) -> Option<String> {
    n.map(|n| n.to_string())
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

pub(super) fn entry_json(e: &LedgerEntry) -> Value {
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
pub(super) async fn balance_view(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> Result<Value, ApiError> {
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
    auth: Can<need::OwnRead>,
    Params(q): Params<UserQuery>,
) -> Result<Json<Value>, ApiError> {
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
            .map_err(|e| ApiError::invalid_query(field, format!("{field}: {e}"))),
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
    auth: Can<need::OwnRead>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let offset = bounded("offset", q.offset, 0, 0, i64::MAX)?;
    let kind = match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(LedgerKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = LedgerKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid_query("type", format!("type must be one of {}", names.join(", ")))
        })?),
    };
    let start_us = instant("start", q.start.as_deref(), DateEdge::Start)?;
    let end_us = instant("end", q.end.as_deref(), DateEdge::End)?;
    if let (Some(s), Some(e)) = (start_us, end_us) {
        if s > e {
            return Err(ApiError::invalid_query(
                "start",
                "start must not be after end",
            ));
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
        "pagination": pagination(limit, offset, entries.len(), total),
    })))
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
/// Its limits and status; an absent field is left as it is. Needs the `billing` or the
/// `admin` scope.
#[utoipa::path(
    put,
    path = "/api/v1/billing/settings",
    tag = "billing",
    operation_id = "billing_settings",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The account, as `GET /api/v1/billing/balance` shows it", body = Value),
        (status = 400, description = "A bad limit (`INVALID_AMOUNT`)"),
        (status = 403, description = "The key has neither the `billing` nor the `admin` scope"),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    // Limits move money: the billing scope sets them; admin keys keep the right they had.
    auth: Can<need::BillingOrAdmin>,
    Body(b): Body<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
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
