//! Billing accounts, their balances and the ledger: the credits posted to them, their
//! settings, and the audit that checks every balance against its ledger.
//!
//! Every change to a balance is one ledger entry written in the same transaction, under the
//! balance row's lock (`FOR UPDATE` on PostgreSQL; SQLite's write lock), so the balance is
//! always the sum of its entries.

use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{day_of, month_of, now_us};
use tollgate_core::{Currency, Nanos};

use super::charges::{self, LEDGER_COLUMNS};
use super::decode::json_object;
use crate::db::{query, Db, Dialect, Row, Sql, Tx};
use crate::model::{
    Account, AccountBalance, AccountDefaults, AccountSettings, AuditFinding, AuditReport,
    LedgerEntry, LedgerFilter, LedgerKind, NewCredit, PeriodSpend,
};
use crate::StoreError;

/// Creates the account with `defaults` unless it exists.
pub(crate) async fn ensure_account(
    tx: &mut Tx,
    tenant: &str,
    user: &str,
    defaults: &AccountDefaults,
    now: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
         limit_currency, daily_limit_nanos, monthly_limit_nanos, total_requests, created_us, \
         updated_us) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) \
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant)
    .bind(user)
    .bind(i64::from(defaults.is_active))
    .bind(i64::from(defaults.billing_enabled))
    .bind(defaults.limit_currency.as_str())
    .bind(defaults.daily_limit.map(|n| n.0))
    .bind(defaults.monthly_limit.map(|n| n.0))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A balance row, locked for this transaction (created at zero if missing).
pub(crate) struct LockedBalance {
    pub(crate) balance: Nanos,
}

pub(crate) async fn lock_balance(
    tx: &mut Tx,
    dialect: Dialect,
    tenant: &str,
    user: &str,
    currency: &str,
) -> Result<LockedBalance, StoreError> {
    query(
        "INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, held_nanos, \
         spent_nanos) VALUES ($1, $2, $3, 0, 0, 0) \
         ON CONFLICT (tenant_id, user_id, currency) DO NOTHING",
    )
    .bind(tenant)
    .bind(user)
    .bind(currency)
    .execute(&mut *tx)
    .await?;
    let lock = match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let row = query(format!(
        "SELECT balance_nanos FROM account_balances \
         WHERE tenant_id = $1 AND user_id = $2 AND currency = $3{lock}"
    ))
    .bind(tenant)
    .bind(user)
    .bind(currency)
    .fetch_one(&mut *tx)
    .await?;
    Ok(LockedBalance {
        balance: Nanos(row.try_get(0)?),
    })
}

fn entry(row: &Row) -> Result<LedgerEntry, StoreError> {
    let kind: String = row.try_get(3)?;
    let currency: String = row.try_get(6)?;
    Ok(LedgerEntry {
        id: row.try_get(0)?,
        tenant_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        kind: LedgerKind::parse(&kind)
            .ok_or_else(|| StoreError::Invariant(format!("unknown ledger kind {kind}")))?,
        amount: Nanos(row.try_get(4)?),
        delta: Nanos(row.try_get(5)?),
        currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
        balance_before: Nanos(row.try_get(7)?),
        balance_after: Nanos(row.try_get(8)?),
        log_id: row.try_get(9)?,
        hold_id: row.try_get(10)?,
        request_id: row.try_get(11)?,
        payment_provider: row.try_get(12)?,
        payment_id: row.try_get(13)?,
        description: row.try_get(14)?,
        metadata: json_object(row.try_get(15)?),
        flags: row.try_get(16)?,
        created_us: row.try_get(17)?,
    })
}

/// Writes one ledger entry (the caller updates the balance row in the same transaction).
pub(crate) async fn insert_entry(
    tx: &mut Tx,
    _dialect: Dialect,
    e: &LedgerEntry,
    idempotency: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(&format!(
        "INSERT INTO ledger_entries ({LEDGER_COLUMNS}, idempotency_key, request_hash) VALUES ("
    ));
    let mut args = charges::entry_args(e);
    args.push(idempotency.map(|(k, _)| k.to_string()).into());
    args.push(idempotency.map(|(_, h)| h.to_string()).into());
    for (i, arg) in args.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(arg);
    }
    sql.push(")");
    sql.execute(&mut *tx).await?;
    Ok(())
}

/// The entry an Idempotency-Key already wrote, if any: Ok(Some) for a repeat of the same
/// request, a conflict for a different request under the same key.
async fn replay(
    db: &Db,
    tenant: &str,
    key: &str,
    hash: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let row = query(format!(
        "SELECT {LEDGER_COLUMNS}, request_hash FROM ledger_entries \
         WHERE tenant_id = $1 AND idempotency_key = $2"
    ))
    .bind(tenant)
    .bind(key)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: Option<String> = row.try_get(18)?;
    if stored.as_deref() != Some(hash) {
        return Err(StoreError::Conflict(
            "this Idempotency-Key was used for a different request; use a new key".into(),
        ));
    }
    Ok(Some(entry(&row)?))
}

/// Posts a top-up, refund or adjustment. Returns the entry and whether it was a repeat of an
/// earlier request with the same Idempotency-Key (nothing new written).
pub(super) async fn post_credit(
    db: &Db,
    c: &NewCredit,
    defaults: &AccountDefaults,
) -> Result<(LedgerEntry, bool), StoreError> {
    if let Some(key) = c.idempotency_key.as_deref() {
        if let Some(e) = replay(db, &c.tenant_id, key, &c.request_hash).await? {
            return Ok((e, true));
        }
    }
    let now = now_us();
    let mut tx = db.begin_write().await?;
    ensure_account(&mut tx, &c.tenant_id, &c.user_id, defaults, now).await?;
    let locked = lock_balance(
        &mut tx,
        db.dialect,
        &c.tenant_id,
        &c.user_id,
        c.currency.as_str(),
    )
    .await?;
    let after = locked
        .balance
        .checked_add(c.delta)
        .ok_or_else(|| StoreError::Conflict("the balance would overflow".into()))?;
    let e = LedgerEntry {
        id: new_id(IdKind::Transaction),
        tenant_id: c.tenant_id.clone(),
        user_id: c.user_id.clone(),
        kind: c.kind,
        amount: c.amount,
        delta: c.delta,
        currency: c.currency.clone(),
        balance_before: locked.balance,
        balance_after: after,
        log_id: c.log_id.clone(),
        hold_id: None,
        request_id: None,
        payment_provider: c.payment_provider.clone(),
        payment_id: c.payment_id.clone(),
        description: c.description.clone(),
        metadata: c.metadata.clone(),
        flags: 0,
        created_us: now,
    };
    let idempotency = c
        .idempotency_key
        .as_deref()
        .map(|k| (k, c.request_hash.as_str()));
    let inserted = insert_entry(&mut tx, db.dialect, &e, idempotency).await;
    if let Err(StoreError::Conflict(_)) = inserted {
        // A concurrent request with the same key won the race: answer as a repeat.
        drop(tx);
        if let Some(key) = c.idempotency_key.as_deref() {
            if let Some(first) = replay(db, &c.tenant_id, key, &c.request_hash).await? {
                return Ok((first, true));
            }
        }
        return Err(StoreError::Conflict(
            "a concurrent request conflicted".into(),
        ));
    }
    inserted?;
    query(
        "UPDATE account_balances SET balance_nanos = $1 \
         WHERE tenant_id = $2 AND user_id = $3 AND currency = $4",
    )
    .bind(after.0)
    .bind(&c.tenant_id)
    .bind(&c.user_id)
    .bind(c.currency.as_str())
    .execute(&mut tx)
    .await?;
    if let Some(low) = c.balance_low {
        let alert = super::alerts::balance_alert(
            &c.tenant_id,
            &c.user_id,
            c.currency.as_str(),
            day_of(now),
            low.0,
            locked.balance.0,
            after.0,
            now,
        );
        if let Some(alert) = alert {
            super::webhooks::raise_in(&mut tx, db.dialect, &[alert]).await?;
        }
    }
    tx.commit().await?;
    Ok((e, false))
}

/// An account as stored, or None if it was never used.
pub(super) async fn account(
    db: &Db,
    tenant: &str,
    user: &str,
) -> Result<Option<Account>, StoreError> {
    let row = query(
        "SELECT is_active, billing_enabled, limit_currency, daily_limit_nanos, \
         monthly_limit_nanos, total_requests, last_request_us, created_us \
         FROM billing_accounts WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant)
    .bind(user)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let currency: String = row.try_get(2)?;
    let mut a = Account {
        tenant_id: tenant.to_string(),
        user_id: user.to_string(),
        is_active: row.try_get::<i64>(0)? != 0,
        billing_enabled: row.try_get::<i64>(1)? != 0,
        limit_currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
        daily_limit: row.try_get::<Option<i64>>(3)?.map(Nanos),
        monthly_limit: row.try_get::<Option<i64>>(4)?.map(Nanos),
        total_requests: row.try_get(5)?,
        last_request_us: row.try_get(6)?,
        created_us: Some(row.try_get(7)?),
        balances: Vec::new(),
        today: Vec::new(),
        this_month: Vec::new(),
    };
    let rows = query(
        "SELECT currency, balance_nanos, held_nanos, spent_nanos FROM account_balances \
         WHERE tenant_id = $1 AND user_id = $2 ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
    .fetch_all(db)
    .await?;
    for r in &rows {
        let currency: String = r.try_get(0)?;
        a.balances.push(AccountBalance {
            currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
            balance: Nanos(r.try_get(1)?),
            held: Nanos(r.try_get(2)?),
            spent: Nanos(r.try_get(3)?),
        });
    }
    let now = now_us();
    a.today = spend(db, tenant, user, "day", day_of(now)).await?;
    a.this_month = spend(db, tenant, user, "month", month_of(now)).await?;
    Ok(Some(a))
}

async fn spend(
    db: &Db,
    tenant: &str,
    user: &str,
    kind: &str,
    period: i64,
) -> Result<Vec<PeriodSpend>, StoreError> {
    let rows = query(
        "SELECT currency, spent_nanos, requests FROM account_spend \
         WHERE tenant_id = $1 AND user_id = $2 AND kind = $3 AND period = $4 ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
    .bind(kind)
    .bind(period)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let currency: String = r.try_get(0)?;
            Ok(PeriodSpend {
                currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
                spent: Nanos(r.try_get(1)?),
                requests: r.try_get(2)?,
            })
        })
        .collect()
}

/// Ledger entries of an account, newest first.
/// The entries of an account that `f` selects, after `select`.
fn ledger_query(
    _db: &Db,
    select: &str,
    tenant: &str,
    user: &str,
    f: &LedgerFilter,
) -> crate::db::Sql {
    let mut sql = crate::db::Sql::new(&format!(
        "SELECT {select} FROM ledger_entries WHERE tenant_id = "
    ));
    sql.push_bind(tenant)
        .push(" AND user_id = ")
        .push_bind(user);
    if let Some(k) = f.kind {
        sql.push(" AND kind = ").push_bind(k.as_str());
    }
    if let Some(s) = f.start_us {
        sql.push(" AND created_us >= ").push_bind(s);
    }
    if let Some(e) = f.end_us {
        sql.push(" AND created_us <= ").push_bind(e);
    }
    sql
}

pub(super) async fn ledger(
    db: &Db,
    tenant: &str,
    user: &str,
    f: &LedgerFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<LedgerEntry>, i64), StoreError> {
    let mut sql = ledger_query(db, LEDGER_COLUMNS, tenant, user, f);
    sql.push(" ORDER BY created_us DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = sql.fetch_all(db).await?;
    let entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    // A short first page is the whole selection; otherwise count it.
    let total = if offset == 0 && (entries.len() as i64) < limit {
        entries.len() as i64
    } else {
        ledger_query(db, "CAST(COUNT(*) AS BIGINT)", tenant, user, f)
            .fetch_one(db)
            .await?
            .try_get(0)?
    };
    Ok((entries, total))
}

/// Changes an account's settings (creating it with `defaults` first); returns it.
pub(super) async fn update_settings(
    db: &Db,
    tenant: &str,
    user: &str,
    s: &AccountSettings,
    defaults: &AccountDefaults,
) -> Result<Account, StoreError> {
    let now = now_us();
    let mut tx = db.begin_write().await?;
    ensure_account(&mut tx, tenant, user, defaults, now).await?;
    let mut sql = crate::db::Sql::new("UPDATE billing_accounts SET updated_us = ");
    sql.push_bind(now);
    if let Some(d) = s.daily_limit {
        sql.push(", daily_limit_nanos = ").push_bind(d.map(|n| n.0));
    }
    if let Some(m) = s.monthly_limit {
        sql.push(", monthly_limit_nanos = ")
            .push_bind(m.map(|n| n.0));
    }
    if let Some(a) = s.is_active {
        sql.push(", is_active = ").push_bind(i64::from(a));
    }
    if let Some(b) = s.billing_enabled {
        sql.push(", billing_enabled = ").push_bind(i64::from(b));
    }
    sql.push(" WHERE tenant_id = ")
        .push_bind(tenant)
        .push(" AND user_id = ")
        .push_bind(user);
    sql.execute(&mut tx).await?;
    tx.commit().await?;
    account(db, tenant, user)
        .await?
        .ok_or_else(|| StoreError::Invariant("an updated account is missing".into()))
}

/// Every account and currency whose stored balance differs from the sum of its ledger, or
/// whose held amount differs from its open holds.
pub(super) async fn audit(db: &Db) -> Result<AuditReport, StoreError> {
    let rows = query(
        "SELECT b.tenant_id, b.user_id, b.currency, b.balance_nanos, b.held_nanos, \
           (SELECT CAST(COALESCE(SUM(l.delta_nanos), 0) AS BIGINT) FROM ledger_entries l \
            WHERE l.tenant_id = b.tenant_id AND l.user_id = b.user_id \
              AND l.currency = b.currency), \
           (SELECT CAST(COALESCE(SUM(h.amount_nanos), 0) AS BIGINT) FROM holds h \
            WHERE h.tenant_id = b.tenant_id AND h.user_id = b.user_id \
              AND h.currency = b.currency AND h.status = 'open') \
         FROM account_balances b ORDER BY b.tenant_id, b.user_id, b.currency",
    )
    .fetch_all(db)
    .await?;
    let mut report = AuditReport::default();
    for r in &rows {
        report.checked += 1;
        let f = AuditFinding {
            tenant_id: r.try_get(0)?,
            user_id: r.try_get(1)?,
            currency: r.try_get(2)?,
            balance: Nanos(r.try_get(3)?),
            held: Nanos(r.try_get(4)?),
            ledger_sum: Nanos(r.try_get(5)?),
            open_holds: Nanos(r.try_get(6)?),
        };
        if f.balance != f.ledger_sum || f.held != f.open_holds {
            report.findings.push(f);
        }
    }
    Ok(report)
}
