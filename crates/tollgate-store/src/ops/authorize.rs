//! Authorization before the call: decide, and optionally hold, in one transaction.
//!
//! A batch of requests is decided in one transaction: the quota rows of its tenants and the
//! balance rows of its accounts are locked first, in a fixed order (tenants, then accounts,
//! each sorted), so that instances sharing a PostgreSQL never deadlock; the requests are then
//! decided one after another against the locked state, so no two of them can both take the
//! last of a limit. Locks are always taken hold → quota → balance, here, when holds expire
//! and when usage settles them.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Any, Row, Transaction};
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{day_of, month_of};
use tollgate_core::{Currency, Nanos};

use super::begin_write;
use super::billing::{ensure_account, insert_entry, lock_balance, quota_usage_in};
use crate::db::{Db, Dialect};
use crate::model::{
    AccountDefaults, AccountState, AuthorizeRequest, Decision, LedgerEntry, LedgerKind, PlanQuotas,
    QuotaState, Refusal,
};
use crate::StoreError;

fn for_update(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

/// Locks a tenant's quota row for `month` and reads its state.
pub(crate) async fn lock_quota(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    month: i64,
    plans: &PlanQuotas,
) -> Result<QuotaState, StoreError> {
    sqlx::query(
        "INSERT INTO quota_reservations (tenant_id, month, reserved) VALUES ($1, $2, 0) \
         ON CONFLICT (tenant_id, month) DO NOTHING",
    )
    .bind(tenant)
    .bind(month)
    .execute(&mut **tx)
    .await?;
    sqlx::query(&format!(
        "SELECT reserved FROM quota_reservations WHERE tenant_id = $1 AND month = $2{}",
        for_update(dialect)
    ))
    .bind(tenant)
    .bind(month)
    .fetch_one(&mut **tx)
    .await?;
    let plan: Option<String> = sqlx::query("SELECT plan FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound("tenant".into()))?
        .try_get(0)?;
    let (used, reserved) = quota_usage_in(&mut **tx, tenant, month).await?;
    let (plan, limit) = plans.of(plan.as_deref());
    Ok(QuotaState {
        plan,
        limit,
        used,
        reserved,
        month,
    })
}

/// An account's locked state while a batch is decided.
struct Held {
    state: AccountState,
    /// Holds added by this batch, per (kind, period) spend row of the balance currency.
    added: Nanos,
}

async fn load_account(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    user: &str,
    currency: &Currency,
    defaults: &AccountDefaults,
    now: i64,
) -> Result<AccountState, StoreError> {
    ensure_account(tx, tenant, user, defaults, now).await?;
    let locked = lock_balance(tx, dialect, tenant, user, currency.as_str()).await?;
    let row = sqlx::query(
        "SELECT is_active, billing_enabled, limit_currency, daily_limit_nanos, \
         monthly_limit_nanos FROM billing_accounts WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant)
    .bind(user)
    .fetch_one(&mut **tx)
    .await?;
    let limit_currency: String = row.try_get(2)?;
    let limit_currency = Currency::try_from(limit_currency).map_err(StoreError::Invariant)?;
    let used = |kind: &'static str, period: i64| {
        sqlx::query(
            "SELECT spent_nanos + held_nanos FROM account_spend WHERE tenant_id = $1 \
             AND user_id = $2 AND currency = $3 AND kind = $4 AND period = $5",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(limit_currency.as_str().to_string())
        .bind(kind)
        .bind(period)
    };
    let daily_used = used("day", day_of(now))
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
        .unwrap_or(0);
    let monthly_used = used("month", month_of(now))
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
        .unwrap_or(0);
    Ok(AccountState {
        user_id: user.to_string(),
        is_active: row.try_get::<i64, _>(0)? != 0,
        billing_enabled: row.try_get::<i64, _>(1)? != 0,
        currency: currency.clone(),
        balance: locked.balance,
        held: locked.held,
        limit_currency,
        daily_limit: row.try_get::<Option<i64>, _>(3)?.map(Nanos),
        daily_used: Nanos(daily_used),
        monthly_limit: row.try_get::<Option<i64>, _>(4)?.map(Nanos),
        monthly_used: Nanos(monthly_used),
    })
}

/// Whether `used + more` passes `limit`.
fn over(limit: Option<Nanos>, used: Nanos, more: Nanos) -> bool {
    limit.is_some_and(|l| used.0.saturating_add(more.0) > l.0)
}

fn decide(q: &QuotaState, a: Option<&AccountState>, r: &AuthorizeRequest) -> Option<Refusal> {
    if let Some(a) = a {
        if !a.is_active {
            return Some(Refusal::AccountDisabled);
        }
    }
    if q.limit
        .is_some_and(|l| q.used.saturating_add(q.reserved) >= l)
    {
        return Some(Refusal::QuotaExceeded);
    }
    let a = a?;
    if a.limit_currency == r.currency {
        if over(a.daily_limit, a.daily_used, r.estimate) {
            return Some(Refusal::DailyLimitExceeded);
        }
        if over(a.monthly_limit, a.monthly_used, r.estimate) {
            return Some(Refusal::MonthlyLimitExceeded);
        }
    }
    if a.billing_enabled {
        let available = a.balance.0.saturating_sub(a.held.0);
        if available <= 0 || available < r.estimate.0 {
            return Some(Refusal::InsufficientBalance);
        }
    }
    None
}

type AccountKey = (String, String, String);

pub(super) async fn authorize(
    db: &Db,
    requests: &[AuthorizeRequest],
    plans: &PlanQuotas,
    defaults: &AccountDefaults,
    now: i64,
) -> Result<Vec<Decision>, StoreError> {
    let month = month_of(now);
    let day = day_of(now);
    let mut tx = begin_write(db).await?;

    let tenants: BTreeSet<&str> = requests.iter().map(|r| r.tenant_id.as_str()).collect();
    let mut quotas: BTreeMap<&str, QuotaState> = BTreeMap::new();
    for t in tenants {
        quotas.insert(t, lock_quota(&mut tx, db.dialect, t, month, plans).await?);
    }
    let keys: BTreeSet<AccountKey> = requests
        .iter()
        .filter_map(|r| {
            r.user_id.as_ref().map(|u| {
                (
                    r.tenant_id.clone(),
                    u.clone(),
                    r.currency.as_str().to_string(),
                )
            })
        })
        .collect();
    let mut accounts: BTreeMap<AccountKey, Held> = BTreeMap::new();
    for key in keys {
        let currency = Currency::try_from(key.2.clone()).map_err(StoreError::Invariant)?;
        let state = load_account(
            &mut tx, db.dialect, &key.0, &key.1, &currency, defaults, now,
        )
        .await?;
        accounts.insert(
            key,
            Held {
                state,
                added: Nanos::ZERO,
            },
        );
    }

    let mut decisions = Vec::with_capacity(requests.len());
    let mut holds = Vec::new();
    for r in requests {
        let key = r.user_id.as_ref().map(|u| {
            (
                r.tenant_id.clone(),
                u.clone(),
                r.currency.as_str().to_string(),
            )
        });
        let quota = quotas
            .get_mut(r.tenant_id.as_str())
            .ok_or_else(|| StoreError::Invariant("an unlocked tenant".into()))?;
        let held = match &key {
            Some(k) => Some(
                accounts
                    .get_mut(k)
                    .ok_or_else(|| StoreError::Invariant("an unlocked account".into()))?,
            ),
            None => None,
        };
        let refusal = decide(quota, held.as_ref().map(|h| &h.state), r);
        let mut decision = Decision {
            refusal,
            hold_id: None,
            hold_expires_us: None,
            quota: quota.clone(),
            account: None,
        };
        if let (None, Some(until)) = (refusal, r.hold_until_us) {
            let id = new_id(IdKind::Hold);
            quota.reserved += 1;
            let mut balance = None;
            if let Some(h) = held {
                h.state.held = Nanos(h.state.held.0.saturating_add(r.estimate.0));
                h.added = Nanos(h.added.0.saturating_add(r.estimate.0));
                if h.state.limit_currency == r.currency {
                    h.state.daily_used = Nanos(h.state.daily_used.0.saturating_add(r.estimate.0));
                    h.state.monthly_used =
                        Nanos(h.state.monthly_used.0.saturating_add(r.estimate.0));
                }
                balance = Some(h.state.balance);
                decision.account = Some(h.state.clone());
            }
            holds.push((r, id.clone(), until, balance));
            decision.hold_id = Some(id);
            decision.hold_expires_us = Some(until);
            decision.quota = quota.clone();
        } else if let Some(h) = held {
            decision.account = Some(h.state.clone());
        }
        decisions.push(decision);
    }

    for (r, id, until, balance) in &holds {
        let user = r.user_id.clone().unwrap_or_default();
        sqlx::query(
            "INSERT INTO holds (tenant_id, id, user_id, currency, amount_nanos, day, month, \
             status, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9)",
        )
        .bind(&r.tenant_id)
        .bind(id)
        .bind(&user)
        .bind(r.currency.as_str())
        .bind(r.estimate.0)
        .bind(day)
        .bind(month)
        .bind(now)
        .bind(*until)
        .execute(&mut *tx)
        .await?;
        if let Some(balance) = balance {
            insert_entry(
                &mut tx,
                &LedgerEntry {
                    id: new_id(IdKind::Transaction),
                    tenant_id: r.tenant_id.clone(),
                    user_id: user.clone(),
                    kind: LedgerKind::Hold,
                    amount: r.estimate,
                    delta: Nanos::ZERO,
                    currency: r.currency.clone(),
                    balance_before: *balance,
                    balance_after: *balance,
                    log_id: None,
                    hold_id: Some(id.clone()),
                    request_id: None,
                    payment_provider: None,
                    payment_id: None,
                    description: None,
                    metadata: Default::default(),
                    flags: 0,
                    created_us: now,
                },
                None,
            )
            .await?;
            add_spend_held(&mut tx, r, &user, day, month, r.estimate.0).await?;
        }
    }
    for ((tenant, user, currency), h) in &accounts {
        if h.added.0 != 0 {
            sqlx::query(
                "UPDATE account_balances SET held_nanos = $1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND currency = $4",
            )
            .bind(h.state.held.0)
            .bind(tenant)
            .bind(user)
            .bind(currency)
            .execute(&mut *tx)
            .await?;
        }
    }
    for (tenant, q) in &quotas {
        sqlx::query(
            "UPDATE quota_reservations SET reserved = $1 WHERE tenant_id = $2 AND month = $3",
        )
        .bind(q.reserved)
        .bind(*tenant)
        .bind(month)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(decisions)
}

/// Adds `amount` to what open holds reserve in the day and month rows of an account.
async fn add_spend_held(
    tx: &mut Transaction<'static, Any>,
    r: &AuthorizeRequest,
    user: &str,
    day: i64,
    month: i64,
    amount: i64,
) -> Result<(), StoreError> {
    for (kind, period) in [("day", day), ("month", month)] {
        sqlx::query(
            "INSERT INTO account_spend (tenant_id, user_id, currency, kind, period, spent_nanos, \
             held_nanos, requests) VALUES ($1, $2, $3, $4, $5, 0, $6, 0) \
             ON CONFLICT (tenant_id, user_id, currency, kind, period) \
             DO UPDATE SET held_nanos = account_spend.held_nanos + excluded.held_nanos",
        )
        .bind(&r.tenant_id)
        .bind(user)
        .bind(r.currency.as_str())
        .bind(kind)
        .bind(period)
        .bind(amount)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// An open hold, as closing it needs it.
pub(crate) struct OpenHold {
    pub(crate) tenant_id: String,
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) currency: String,
    pub(crate) amount: i64,
    pub(crate) day: i64,
    pub(crate) month: i64,
}

const HOLD_COLUMNS: &str = "tenant_id, id, user_id, currency, amount_nanos, day, month";

fn open_hold(row: &sqlx::any::AnyRow) -> Result<OpenHold, StoreError> {
    Ok(OpenHold {
        tenant_id: row.try_get(0)?,
        id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        currency: row.try_get(3)?,
        amount: row.try_get(4)?,
        day: row.try_get(5)?,
        month: row.try_get(6)?,
    })
}

/// Locks an open hold of a tenant, if there is one by that id.
pub(crate) async fn lock_open_hold(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    id: &str,
) -> Result<Option<OpenHold>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 AND id = $2 AND status = 'open'{}",
        for_update(dialect)
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(open_hold).transpose()
}

/// Closes a locked open hold: gives back its quota reservation and held money (with a
/// release entry). `status` is settled, expired or released.
pub(crate) async fn close_hold(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    hold: &OpenHold,
    status: &str,
    now: i64,
    log_id: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE holds SET status = $1, closed_us = $2, log_id = $3 \
         WHERE tenant_id = $4 AND id = $5 AND status = 'open'",
    )
    .bind(status)
    .bind(now)
    .bind(log_id)
    .bind(&hold.tenant_id)
    .bind(&hold.id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE quota_reservations SET reserved = reserved - 1 \
         WHERE tenant_id = $1 AND month = $2 AND reserved > 0",
    )
    .bind(&hold.tenant_id)
    .bind(hold.month)
    .execute(&mut **tx)
    .await?;
    if hold.user_id.is_empty() {
        return Ok(());
    }
    let locked = lock_balance(tx, dialect, &hold.tenant_id, &hold.user_id, &hold.currency).await?;
    sqlx::query(
        "UPDATE account_balances SET held_nanos = held_nanos - $1 \
         WHERE tenant_id = $2 AND user_id = $3 AND currency = $4",
    )
    .bind(hold.amount)
    .bind(&hold.tenant_id)
    .bind(&hold.user_id)
    .bind(&hold.currency)
    .execute(&mut **tx)
    .await?;
    for (kind, period) in [("day", hold.day), ("month", hold.month)] {
        sqlx::query(
            "UPDATE account_spend SET held_nanos = held_nanos - $1 WHERE tenant_id = $2 \
             AND user_id = $3 AND currency = $4 AND kind = $5 AND period = $6",
        )
        .bind(hold.amount)
        .bind(&hold.tenant_id)
        .bind(&hold.user_id)
        .bind(&hold.currency)
        .bind(kind)
        .bind(period)
        .execute(&mut **tx)
        .await?;
    }
    insert_entry(
        tx,
        &LedgerEntry {
            id: new_id(IdKind::Transaction),
            tenant_id: hold.tenant_id.clone(),
            user_id: hold.user_id.clone(),
            kind: LedgerKind::Release,
            amount: Nanos(hold.amount),
            delta: Nanos::ZERO,
            currency: Currency::try_from(hold.currency.clone()).map_err(StoreError::Invariant)?,
            balance_before: locked.balance,
            balance_after: locked.balance,
            log_id: log_id.map(str::to_string),
            hold_id: Some(hold.id.clone()),
            request_id: None,
            payment_provider: None,
            payment_id: None,
            description: Some(format!("hold {status}")),
            metadata: Default::default(),
            flags: 0,
            created_us: now,
        },
        None,
    )
    .await
}

/// Releases up to `limit` holds that expired by `now`; returns how many.
pub(super) async fn expire_holds(db: &Db, now: i64, limit: i64) -> Result<usize, StoreError> {
    let mut tx = begin_write(db).await?;
    let skip = match db.dialect {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let rows = sqlx::query(&format!(
        "SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' AND expires_us <= $1 \
         ORDER BY tenant_id, id LIMIT $2{skip}"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let holds = rows.iter().map(open_hold).collect::<Result<Vec<_>, _>>()?;
    for h in &holds {
        close_hold(&mut tx, db.dialect, h, "expired", now, None).await?;
    }
    tx.commit().await?;
    Ok(holds.len())
}

/// Releases one open hold of a tenant (the call it was for will not happen); false when
/// there is no open hold by that id.
pub(super) async fn release_hold(
    db: &Db,
    tenant: &str,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let mut tx = begin_write(db).await?;
    let Some(hold) = lock_open_hold(&mut tx, db.dialect, tenant, id).await? else {
        return Ok(false);
    };
    close_hold(&mut tx, db.dialect, &hold, "released", now, None).await?;
    tx.commit().await?;
    Ok(true)
}
