//! An account's billing routes: the tenant's accounts, an account's balance, its ledger
//! history and its settings (limits and status), and the wire shapes of an account and a
//! ledger entry made from the stored ones.

use axum::extract::State;
use axum::Json;
use tollgate_api::billing::{
    Account as AccountView, AccountLimits, AccountList, AccountUsage, AccountsQuery,
    CurrencyBalance, History, HistoryQuery, LedgerEntry as EntryView, LedgerEntryType, LedgerFlag,
    ListedAccount as ListedView, Loose, Pagination, SettingsBody, UserQuery,
};
use tollgate_core::time::{format_us, parse_instant, DateEdge};
use tollgate_core::validate::optional_text;
use tollgate_core::Nanos;
use tollgate_store::{
    ledger_flags, Account, AccountFilter, AccountSettings, LedgerEntry, LedgerFilter, LedgerKind,
    PeriodSpend,
};

use super::{amount, body_user, query_user};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::routes::conversations::bounded;
use crate::state::AppState;

fn money(n: Option<Nanos>) -> Option<String> {
    n.map(|n| n.to_string())
}

fn flags(bits: i64) -> Vec<LedgerFlag> {
    [
        (ledger_flags::OVER_DAILY_LIMIT, LedgerFlag::OverDailyLimit),
        (
            ledger_flags::OVER_MONTHLY_LIMIT,
            LedgerFlag::OverMonthlyLimit,
        ),
        (ledger_flags::NEGATIVE_BALANCE, LedgerFlag::NegativeBalance),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, flag)| flag)
    .collect()
}

pub(super) fn entry_type(kind: LedgerKind) -> LedgerEntryType {
    match kind {
        LedgerKind::Charge => LedgerEntryType::Charge,
        LedgerKind::Refund => LedgerEntryType::Refund,
        LedgerKind::Topup => LedgerEntryType::Topup,
        LedgerKind::Adjustment => LedgerEntryType::Adjustment,
        LedgerKind::Hold => LedgerEntryType::Hold,
        LedgerKind::Release => LedgerEntryType::Release,
    }
}

pub(super) fn entry_view(e: &LedgerEntry) -> EntryView {
    EntryView {
        amount: e.amount.to_string(),
        balance_after: e.balance_after.to_string(),
        balance_before: e.balance_before.to_string(),
        created_at: format_us(e.created_us),
        currency: e.currency.to_string(),
        delta: e.delta.to_string(),
        description: e.description.clone(),
        flags: flags(e.flags),
        hold_id: e.hold_id.clone(),
        id: e.id.clone(),
        log_id: e.log_id.clone(),
        metadata: e.metadata.clone(),
        payment_id: e.payment_id.clone(),
        payment_provider: e.payment_provider.clone(),
        request_id: e.request_id.clone(),
        kind: entry_type(e.kind),
        user_id: e.user_id.clone(),
    }
}

fn spent_in(periods: &[PeriodSpend], currency: &str) -> Nanos {
    periods
        .iter()
        .find(|p| p.currency.as_str() == currency)
        .map_or(Nanos::ZERO, |p| p.spent)
}

/// The seed's balance shape (USD and UAH fields), plus every currency the account holds.
fn account_view(a: &Account) -> AccountView {
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
    let balances = a
        .balances
        .iter()
        .map(|b| {
            let available = Nanos(b.balance.0.saturating_sub(b.held.0));
            let view = CurrencyBalance {
                available: available.to_string(),
                balance: b.balance.to_string(),
                held: b.held.to_string(),
                spent: b.spent.to_string(),
            };
            (b.currency.to_string(), view)
        })
        .collect();
    AccountView {
        balance_uah: balance_in("UAH").to_string(),
        balance_usd: balance_in("USD").to_string(),
        balances,
        billing_enabled: a.billing_enabled,
        created_at: a.created_us.map(format_us),
        is_active: a.is_active,
        last_request_at: a.last_request_us.map(format_us),
        limit_currency: a.limit_currency.to_string(),
        limits: AccountLimits {
            currency: a.limit_currency.to_string(),
            daily: money(a.daily_limit),
            daily_usd: money(a.daily_limit.filter(|_| usd)),
            monthly: money(a.monthly_limit),
            monthly_usd: money(a.monthly_limit.filter(|_| usd)),
        },
        total_requests: a.total_requests,
        total_spent_usd: spent_usd.to_string(),
        usage: AccountUsage {
            currency: a.limit_currency.to_string(),
            month: spent_in(&a.this_month, limit_cur).to_string(),
            month_usd: spent_in(&a.this_month, "USD").to_string(),
            today: spent_in(&a.today, limit_cur).to_string(),
            today_usd: spent_in(&a.today, "USD").to_string(),
        },
        user_id: a.user_id.clone(),
    }
}

/// The account's balance view; one never used shows the defaults, without creating it.
pub(super) async fn balance_view(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> Result<AccountView, ApiError> {
    if let Some(a) = state.store().account(tenant_id, user_id).await? {
        return Ok(account_view(&a));
    }
    let d = &state.billing().defaults;
    Ok(account_view(&Account {
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
        (status = 200, description = "The account: the seed's USD and UAH fields, its limits and spend, and every currency it holds", body = AccountView),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn balance(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    Params(q): Params<UserQuery>,
) -> Result<Json<AccountView>, ApiError> {
    let user = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    Ok(Json(balance_view(&state, &auth.tenant_id, &user).await?))
}

/// The tenant's accounts
///
/// A page of the tenant's billing accounts (those used or set up; the tenant's own is
/// `user_id` `""`), ordered by user id, each with its balances, limits, spend today and this
/// month, and open holds. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/billing/accounts",
    tag = "billing",
    operation_id = "billing_accounts",
    params(AccountsQuery),
    responses(
        (status = 200, description = "A page of accounts, by user id", body = AccountList),
        (status = 400, description = "A bad `limit`, `offset` or `user_prefix` (`INVALID_QUERY`, field named)"),
        (status = 403, description = "The key lacks the `read` scope, or an end user asked"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<AccountsQuery>,
) -> Result<Json<AccountList>, ApiError> {
    let user_prefix = optional_text("user_prefix", q.user_prefix.as_deref(), 255)
        .map_err(|e| ApiError::invalid_query("user_prefix", e.message))?;
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let offset = bounded("offset", q.offset, 0, 0, i64::MAX)?;
    let filter = AccountFilter {
        user_prefix,
        limit,
        offset,
    };
    let (listed, total) = state.store().accounts(&auth.tenant_id, &filter).await?;
    Ok(Json(AccountList {
        pagination: Pagination::new(limit, offset, listed.len(), total),
        accounts: listed
            .iter()
            .map(|l| ListedView {
                account: account_view(&l.account),
                open_holds: l.open_holds,
            })
            .collect(),
    }))
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
        (status = 200, description = "A page of the ledger, newest first", body = History),
        (status = 404, description = "An end user named another account"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
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
    Ok(Json(History {
        pagination: Pagination::new(limit, offset, entries.len(), total),
        transactions: entries.iter().map(entry_view).collect(),
        user_id: user,
    }))
}

fn limit_change(field: &str, v: Option<Option<Loose>>) -> Result<Option<Option<Nanos>>, ApiError> {
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
        (status = 200, description = "The account, as `GET /api/v1/billing/balance` shows it", body = AccountView),
        (status = 400, description = "A bad limit (`INVALID_AMOUNT`)"),
        (status = 403, description = "The key has neither the `billing` nor the `admin` scope"),
    )
)]
pub async fn settings(
    State(state): State<AppState>,
    // Limits move money: the billing scope sets them; admin keys keep the right they had.
    auth: Can<need::BillingOrAdmin>,
    Body(b): Body<SettingsBody>,
) -> Result<Json<AccountView>, ApiError> {
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
    Ok(Json(account_view(&account)))
}
