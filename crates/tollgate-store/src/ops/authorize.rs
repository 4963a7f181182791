//! Authorization before the call: decide, and optionally hold, in one transaction.
//!
//! A batch of requests is decided in one transaction: the quota rows of its tenants and the
//! balance rows of its accounts are locked first, in a fixed order (tenants, then accounts,
//! each sorted), so that instances sharing a PostgreSQL never deadlock; the requests are then
//! decided one after another against the locked state, so no two of them can both take the
//! last of a limit. A tenant's reserved requests are its open holds, counted after its quota
//! row is locked: only authorizations lock that row, so settling, releasing and expiring a
//! hold (which lock hold → balance, the store's order, see `ops`) never wait for it.
//!
//! The decisions are made here ([`decide_batch`]) from what each engine's executor read under
//! lock: SQLite's runs on the rusqlite writer (`sqlite_append`), PostgreSQL's with one array
//! statement per table (`pg_append`), because a batch touches dozens of accounts.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::billing;
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{day_of, month_of};
use tollgate_core::{Currency, Nanos};

use super::billing::{insert_entry, lock_balance};
use super::charges::{self, HoldRow, OpenHold, Stmt};
use super::rate::Windows;
use crate::db::{query, Arg, Db, Dialect, Tx};
use crate::model::{AccountState, AuthorizeRequest, Decision, LedgerEntry, LedgerKind, QuotaState};
use crate::StoreError;

fn for_update(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

/// An account's state for a decision: is_active, billing_enabled, limit_currency, daily and
/// monthly limits, balance and held of the request's currency. (tenant, user, currency)
pub(crate) const ACCOUNT_STATE: &str = "SELECT a.is_active, a.billing_enabled, a.limit_currency, \
     a.daily_limit_nanos, a.monthly_limit_nanos, b.balance_nanos, b.held_nanos, \
     b.overdraft_nanos, a.exempt_until_us \
     FROM account_balances b JOIN billing_accounts a \
     ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id \
     WHERE b.tenant_id = ?1 AND b.user_id = ?2 AND b.currency = ?3";

/// Requests recorded in a month and requests its open holds reserve: (tenant, month), as
/// `used_requests` and `reserved_requests`. One statement, so both come from one snapshot: a
/// hold settled concurrently is counted either as reserved or as recorded, never neither.
pub(crate) const QUOTA_USAGE: &str = "SELECT \
     (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_monthly \
      WHERE tenant_id = ?1 AND month = ?2) AS used_requests, \
     (SELECT CAST(COUNT(*) AS BIGINT) FROM holds \
      WHERE tenant_id = ?1 AND month = ?2 AND status = 'open') AS reserved_requests";

/// Creates the row of a tenant's month that authorizations lock: (tenant, month).
pub(crate) const QUOTA_ROW: &str = "INSERT INTO quota_reservations (tenant_id, month) \
     VALUES (?1, ?2) ON CONFLICT (tenant_id, month) DO NOTHING";

pub(crate) type AccountKey = (String, String, String);

/// The tenants whose quota rows a batch locks, in lock order.
pub(crate) fn batch_tenants(requests: &[AuthorizeRequest]) -> BTreeSet<String> {
    requests.iter().map(|r| r.tenant_id.clone()).collect()
}

/// The accounts a batch locks, in lock order.
pub(crate) fn batch_accounts(requests: &[AuthorizeRequest]) -> BTreeSet<AccountKey> {
    requests
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
        .collect()
}

/// The rows a batch of decisions writes.
#[derive(Default)]
pub(crate) struct HoldWrites {
    /// New holds: (tenant, id, user, currency, amount, day, month, created, expires).
    pub(crate) holds: Vec<Vec<Arg>>,
    /// Their ledger entries.
    pub(crate) entries: Vec<LedgerEntry>,
    /// Final held amount of each account that placed a hold.
    pub(crate) balances: Vec<(AccountKey, i64)>,
}

impl HoldWrites {
    /// The writes as one statement per row (SQLite, where statements are cheap).
    pub(crate) fn statements(&self) -> Vec<Stmt> {
        let mut out = Vec::new();
        for h in &self.holds {
            out.push(Stmt {
                sql: HOLD_INSERT,
                args: h.clone(),
            });
        }
        for e in &self.entries {
            out.push(Stmt {
                sql: charges::LEDGER_INSERT,
                args: charges::entry_args(e),
            });
        }
        for ((tenant, user, currency), held) in &self.balances {
            out.push(Stmt {
                sql: "UPDATE account_balances SET held_nanos = ?1 \
                      WHERE tenant_id = ?2 AND user_id = ?3 AND currency = ?4",
                args: vec![
                    (*held).into(),
                    tenant.clone().into(),
                    user.clone().into(),
                    currency.clone().into(),
                ],
            });
        }
        out
    }
}

/// The columns of a new hold, in [`HoldWrites::holds`] order.
pub(crate) const HOLD_COLUMNS_NEW: &str =
    "tenant_id, id, user_id, currency, amount_nanos, day, month, created_us, expires_us";

const HOLD_INSERT: &str = "INSERT INTO holds (tenant_id, id, user_id, currency, amount_nanos, \
     day, month, created_us, expires_us, status) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open')";

/// Decides a batch, one request after another, against the locked state, and plans the
/// rows its holds write (the engine's executor writes them, and what `rates` counted). Rate
/// limits are weighed first: a call they refuse does not count against them, nor touch the
/// quota or the account.
pub(crate) fn decide_batch(
    requests: &[AuthorizeRequest],
    quotas: &mut BTreeMap<String, QuotaState>,
    accounts: &mut BTreeMap<AccountKey, AccountState>,
    rates: &mut Windows,
    now: i64,
) -> Result<(Vec<Decision>, HoldWrites), StoreError> {
    let day = day_of(now);
    let month = month_of(now);
    let mut decisions = Vec::with_capacity(requests.len());
    let mut w = HoldWrites::default();
    let mut touched: BTreeSet<AccountKey> = BTreeSet::new();
    for r in requests {
        let key = r.user_id.as_ref().map(|u| {
            (
                r.tenant_id.clone(),
                u.clone(),
                r.currency.as_str().to_string(),
            )
        });
        let quota = quotas
            .get_mut(&r.tenant_id)
            .ok_or_else(|| StoreError::Invariant("an unlocked tenant".into()))?;
        let mut account = match &key {
            Some(k) => Some(
                accounts
                    .get_mut(k)
                    .ok_or_else(|| StoreError::Invariant("an unlocked account".into()))?,
            ),
            None => None,
        };
        // An admin's exemption lifts the user's rate limits with its spending limits.
        let exempt = account.as_deref().is_some_and(|a| a.exempt_at(now));
        let (mut rate_states, admitted) = rates.weigh(r, now, exempt);
        let refusal = if admitted {
            billing::decide(quota, account.as_deref(), r.estimate, &r.currency, now)
        } else {
            Some(billing::Refusal::RateLimited)
        };
        if refusal.is_none() {
            rates.add(r, now, exempt, &mut rate_states);
        }
        let mut hold_id = None;
        if let (None, Some(until)) = (refusal, r.hold_until_us) {
            let id = new_id(IdKind::Hold);
            // The hold itself is the reservation; later requests of the batch count it.
            billing::reserve(quota, account.as_deref_mut(), r.estimate, &r.currency);
            let user = r.user_id.clone().unwrap_or_default();
            w.holds.push(vec![
                r.tenant_id.clone().into(),
                id.clone().into(),
                user.clone().into(),
                r.currency.as_str().into(),
                r.estimate.0.into(),
                day.into(),
                month.into(),
                now.into(),
                until.into(),
            ]);
            if let (Some(a), Some(k)) = (account.as_deref(), &key) {
                touched.insert(k.clone());
                w.entries.push(LedgerEntry {
                    id: new_id(IdKind::Transaction),
                    tenant_id: r.tenant_id.clone(),
                    user_id: user.clone(),
                    kind: LedgerKind::Hold,
                    amount: r.estimate,
                    delta: Nanos::ZERO,
                    currency: r.currency.clone(),
                    balance_before: a.balance,
                    balance_after: a.balance,
                    log_id: None,
                    hold_id: Some(id.clone()),
                    request_id: None,
                    payment_provider: None,
                    payment_id: None,
                    description: None,
                    metadata: Default::default(),
                    flags: 0,
                    created_us: now,
                });
            }
            hold_id = Some((id, until));
        }
        decisions.push(Decision {
            refusal,
            hold_id: hold_id.as_ref().map(|(id, _)| id.clone()),
            hold_expires_us: hold_id.map(|(_, until)| until),
            quota: quota.clone(),
            account: account.map(|a| a.clone()),
            rates: rate_states,
        });
    }
    for key in touched {
        let held = accounts[&key].held.0;
        w.balances.push((key, held));
    }
    Ok((decisions, w))
}

/// The columns of an open hold, as [`HoldRow`] reads them.
const HOLD_COLUMNS: &str = "tenant_id, id, user_id, currency, amount_nanos";

/// Locks an open hold of a tenant, if there is one by that id.
pub(crate) async fn lock_open_hold(
    tx: &mut Tx,
    dialect: Dialect,
    tenant: &str,
    id: &str,
) -> Result<Option<OpenHold>, StoreError> {
    let row = query(format!(
        "SELECT {HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 AND id = $2 AND status = 'open'{}",
        for_update(dialect)
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional_as::<HoldRow>(&mut *tx)
    .await?;
    Ok(row.map(OpenHold::from))
}

/// Closes a locked open hold: gives back its held money (with a release entry); closed, it
/// no longer counts against the quota. `status` is settled, expired or released.
pub(crate) async fn close_hold(
    tx: &mut Tx,
    dialect: Dialect,
    hold: &OpenHold,
    status: &str,
    now: i64,
    log_id: Option<&str>,
) -> Result<(), StoreError> {
    query(
        "UPDATE holds SET status = $1, closed_us = $2, log_id = $3 \
         WHERE tenant_id = $4 AND id = $5 AND status = 'open'",
    )
    .bind(status)
    .bind(now)
    .bind(log_id)
    .bind(&hold.tenant_id)
    .bind(&hold.id)
    .execute(&mut *tx)
    .await?;
    if hold.user_id.is_empty() {
        return Ok(());
    }
    let locked = lock_balance(tx, dialect, &hold.tenant_id, &hold.user_id, &hold.currency).await?;
    let held = billing::held_after_release(locked.held.0, hold.amount).ok_or_else(|| {
        StoreError::Invariant(format!(
            "hold {} reserves more than its account holds",
            hold.id
        ))
    })?;
    query(
        "UPDATE account_balances SET held_nanos = $1 \
         WHERE tenant_id = $2 AND user_id = $3 AND currency = $4",
    )
    .bind(held)
    .bind(&hold.tenant_id)
    .bind(&hold.user_id)
    .bind(&hold.currency)
    .execute(&mut *tx)
    .await?;
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

/// Locks what closing `holds` (already locked) writes, in the store's lock order: every
/// balance row, sorted, before any is written. (SQLite's transaction holds the whole
/// database.)
async fn lock_for_closing(
    tx: &mut Tx,
    dialect: Dialect,
    holds: &[OpenHold],
) -> Result<(), StoreError> {
    if dialect == Dialect::Sqlite || holds.len() < 2 {
        return Ok(());
    }
    let balances: BTreeSet<(&str, &str, &str)> = holds
        .iter()
        .filter(|h| !h.user_id.is_empty())
        .map(|h| {
            (
                h.tenant_id.as_str(),
                h.user_id.as_str(),
                h.currency.as_str(),
            )
        })
        .collect();
    for (tenant, user, currency) in balances {
        lock_balance(tx, dialect, tenant, user, currency).await?;
    }
    Ok(())
}

/// The account a hold reserves money on, if it is a user's.
fn account_of(hold: &OpenHold) -> Option<(String, String)> {
    (!hold.user_id.is_empty()).then(|| (hold.tenant_id.clone(), hold.user_id.clone()))
}

/// Releases up to `limit` holds that expired by `now`; returns how many, and the accounts
/// whose holds they were.
pub(super) async fn expire_holds(
    db: &Db,
    now: i64,
    limit: i64,
) -> Result<(usize, Vec<(String, String)>), StoreError> {
    let mut tx = db.begin_write().await?;
    let skip = match db.dialect {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let holds: Vec<OpenHold> = query(format!(
        "SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' AND expires_us <= $1 \
         ORDER BY tenant_id, id LIMIT $2{skip}"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all_as::<HoldRow>(&mut tx)
    .await?
    .into_iter()
    .map(OpenHold::from)
    .collect();
    lock_for_closing(&mut tx, db.dialect, &holds).await?;
    for h in &holds {
        close_hold(&mut tx, db.dialect, h, "expired", now, None).await?;
    }
    // Minutes no rate limit weighs any more go with the same job: no authorization writes
    // them, so this waits for no lock an authorization holds.
    query(super::rate::PRUNE)
        .bind(super::rate::oldest_kept(now))
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok((holds.len(), holds.iter().filter_map(account_of).collect()))
}

/// Holds open now, across every tenant (read through the open-holds index).
pub(super) async fn open_holds(db: &Db) -> Result<i64, StoreError> {
    query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM holds WHERE status = 'open'")
        .fetch_one(db)
        .await?
        .get("n")
}

/// Releases one open hold of a tenant (the call it was for will not happen); None when
/// there is no open hold by that id, else the account it was on (None inside for the
/// tenant's quota alone).
pub(super) async fn release_hold(
    db: &Db,
    tenant: &str,
    id: &str,
    now: i64,
) -> Result<Option<Option<(String, String)>>, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(hold) = lock_open_hold(&mut tx, db.dialect, tenant, id).await? else {
        return Ok(None);
    };
    close_hold(&mut tx, db.dialect, &hold, "released", now, None).await?;
    tx.commit().await?;
    Ok(Some(account_of(&hold)))
}
