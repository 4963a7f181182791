//! Billing accounts, their balances and the ledger: the credits posted to them, their
//! settings, and the audit that checks every balance against its ledger.
//!
//! Every change to a balance is one ledger entry written in the same transaction, under the
//! balance row's lock (`FOR UPDATE` on PostgreSQL; SQLite's write lock), so the balance is
//! always the sum of its entries.

use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{day_of, month_of, now_us};
use tollgate_core::{Currency, Nanos};

use super::charges::{self, LedgerRow, LEDGER_COLUMNS};
use crate::db::{query, row, Db, Dialect, FromRow, Sql, Tx};
use crate::model::{
    Account, AccountBalance, AccountDefaults, AccountSettings, AuditFinding, AuditReport,
    LedgerEntry, LedgerFilter, NewCredit, PeriodSpend,
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
    /// What open holds reserve on it.
    pub(crate) held: Nanos,
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
        "SELECT balance_nanos, held_nanos FROM account_balances \
         WHERE tenant_id = $1 AND user_id = $2 AND currency = $3{lock}"
    ))
    .bind(tenant)
    .bind(user)
    .bind(currency)
    .fetch_one(&mut *tx)
    .await?;
    Ok(LockedBalance {
        balance: Nanos(row.get("balance_nanos")?),
        held: Nanos(row.get("held_nanos")?),
    })
}

/// Writes one ledger entry (the caller updates the balance row in the same transaction).
pub(crate) async fn insert_entry(
    tx: &mut Tx,
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
    let stored: Option<String> = row.get("request_hash")?;
    if stored.as_deref() != Some(hash) {
        return Err(StoreError::Conflict(
            "this Idempotency-Key was used for a different request; use a new key".into(),
        ));
    }
    Ok(Some(LedgerRow::from_row(&row)?.try_into()?))
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
    let inserted = insert_entry(&mut tx, &e, idempotency).await;
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

row! {
    struct AccountRow {
        is_active: i64,
        billing_enabled: i64,
        limit_currency: String,
        daily_limit_nanos: Option<i64>,
        monthly_limit_nanos: Option<i64>,
        total_requests: i64,
        last_request_us: Option<i64>,
        created_us: i64,
    }
}

impl AccountRow {
    /// The account of (`tenant`, `user`), before its balances and spend are read.
    fn into_account(self, tenant: &str, user: &str) -> Result<Account, StoreError> {
        Ok(Account {
            tenant_id: tenant.to_string(),
            user_id: user.to_string(),
            is_active: self.is_active != 0,
            billing_enabled: self.billing_enabled != 0,
            limit_currency: Currency::try_from(self.limit_currency)
                .map_err(StoreError::Invariant)?,
            daily_limit: self.daily_limit_nanos.map(Nanos),
            monthly_limit: self.monthly_limit_nanos.map(Nanos),
            total_requests: self.total_requests,
            last_request_us: self.last_request_us,
            created_us: Some(self.created_us),
            balances: Vec::new(),
            today: Vec::new(),
            this_month: Vec::new(),
        })
    }
}

row! {
    struct BalanceRow {
        currency: String,
        balance_nanos: i64,
        held_nanos: i64,
        spent_nanos: i64,
        requests: i64,
        last_request_us: Option<i64>,
    }
}

impl TryFrom<BalanceRow> for AccountBalance {
    type Error = StoreError;

    fn try_from(r: BalanceRow) -> Result<AccountBalance, StoreError> {
        Ok(AccountBalance {
            currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
            balance: Nanos(r.balance_nanos),
            held: Nanos(r.held_nanos),
            spent: Nanos(r.spent_nanos),
        })
    }
}

/// Adds the calls a balance row counts to its account's: those its own row counted before
/// the balance rows counted them, and the latest call of either.
pub(super) fn count_calls(a: &mut Account, requests: i64, last_request_us: Option<i64>) {
    a.total_requests += requests;
    a.last_request_us = a.last_request_us.max(last_request_us);
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
    .fetch_optional_as::<AccountRow>(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut a = row.into_account(tenant, user)?;
    let rows = query(
        "SELECT currency, balance_nanos, held_nanos, spent_nanos, requests, last_request_us \
         FROM account_balances WHERE tenant_id = $1 AND user_id = $2 ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
    .fetch_all_as::<BalanceRow>(db)
    .await?;
    for r in rows {
        count_calls(&mut a, r.requests, r.last_request_us);
        a.balances.push(AccountBalance::try_from(r)?);
    }
    let now = now_us();
    a.today = spend(db, tenant, user, "day", day_of(now)).await?;
    a.this_month = spend(db, tenant, user, "month", month_of(now)).await?;
    Ok(Some(a))
}

row! {
    struct SpendRow { currency: String, spent_nanos: i64, requests: i64 }
}

impl TryFrom<SpendRow> for PeriodSpend {
    type Error = StoreError;

    fn try_from(r: SpendRow) -> Result<PeriodSpend, StoreError> {
        Ok(PeriodSpend {
            currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
            spent: Nanos(r.spent_nanos),
            requests: r.requests,
        })
    }
}

async fn spend(
    db: &Db,
    tenant: &str,
    user: &str,
    kind: &str,
    period: i64,
) -> Result<Vec<PeriodSpend>, StoreError> {
    query(
        "SELECT currency, spent_nanos, requests FROM account_spend \
         WHERE tenant_id = $1 AND user_id = $2 AND kind = $3 AND period = $4 ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
    .bind(kind)
    .bind(period)
    .fetch_all_as::<SpendRow>(db)
    .await?
    .into_iter()
    .map(PeriodSpend::try_from)
    .collect()
}

/// The entries of an account that `f` selects, after `select`.
fn ledger_query(select: &str, tenant: &str, user: &str, f: &LedgerFilter) -> Sql {
    let mut sql = Sql::new(&format!(
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

/// Ledger entries of an account, newest first, and how many `f` selects in all.
pub(super) async fn ledger(
    db: &Db,
    tenant: &str,
    user: &str,
    f: &LedgerFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<LedgerEntry>, i64), StoreError> {
    let mut sql = ledger_query(LEDGER_COLUMNS, tenant, user, f);
    sql.push(" ORDER BY created_us DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let entries = sql
        .fetch_all_as::<LedgerRow>(db)
        .await?
        .into_iter()
        .map(LedgerEntry::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    // A short first page is the whole selection; otherwise count it.
    let total = if offset == 0 && (entries.len() as i64) < limit {
        entries.len() as i64
    } else {
        ledger_query("CAST(COUNT(*) AS BIGINT) AS n", tenant, user, f)
            .fetch_one(db)
            .await?
            .get("n")?
    };
    Ok((entries, total))
}

row! {
    /// A payment's entries on one account and currency, summed.
    struct PaymentRow {
        user_id: String,
        currency: String,
        credited: i64,
        debited: i64,
    }
}

/// What the entries naming `provider`'s payment `payment_id` moved, per account and currency.
pub(super) async fn payment_totals(
    db: &Db,
    tenant: &str,
    provider: &str,
    payment_id: &str,
) -> Result<Vec<crate::model::PaymentTotals>, StoreError> {
    let rows = query(
        "SELECT user_id, currency, \
         CAST(SUM(CASE WHEN delta_nanos > 0 THEN delta_nanos ELSE 0 END) AS BIGINT) AS credited, \
         CAST(SUM(CASE WHEN delta_nanos < 0 THEN -delta_nanos ELSE 0 END) AS BIGINT) AS debited \
         FROM ledger_entries WHERE tenant_id = $1 AND payment_provider = $2 AND payment_id = $3 \
         GROUP BY user_id, currency ORDER BY user_id, currency",
    )
    .bind(tenant)
    .bind(provider)
    .bind(payment_id)
    .fetch_all_as::<PaymentRow>(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(crate::model::PaymentTotals {
                user_id: r.user_id,
                currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
                credited: Nanos(r.credited),
                debited: Nanos(r.debited),
            })
        })
        .collect()
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

row! {
    struct AuditRow {
        tenant_id: String,
        user_id: String,
        currency: String,
        balance_nanos: i64,
        held_nanos: i64,
        ledger_sum_nanos: i64,
        open_holds_nanos: i64,
    }
}

impl From<AuditRow> for AuditFinding {
    fn from(r: AuditRow) -> AuditFinding {
        AuditFinding {
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            currency: r.currency,
            balance: Nanos(r.balance_nanos),
            held: Nanos(r.held_nanos),
            ledger_sum: Nanos(r.ledger_sum_nanos),
            open_holds: Nanos(r.open_holds_nanos),
        }
    }
}

/// Every account and currency whose stored balance differs from the sum of its ledger, or
/// whose held amount differs from its open holds.
pub(super) async fn audit(db: &Db) -> Result<AuditReport, StoreError> {
    let rows = query(
        "SELECT b.tenant_id, b.user_id, b.currency, b.balance_nanos, b.held_nanos, \
           (SELECT CAST(COALESCE(SUM(l.delta_nanos), 0) AS BIGINT) FROM ledger_entries l \
            WHERE l.tenant_id = b.tenant_id AND l.user_id = b.user_id \
              AND l.currency = b.currency) AS ledger_sum_nanos, \
           (SELECT CAST(COALESCE(SUM(h.amount_nanos), 0) AS BIGINT) FROM holds h \
            WHERE h.tenant_id = b.tenant_id AND h.user_id = b.user_id \
              AND h.currency = b.currency AND h.status = 'open') AS open_holds_nanos \
         FROM account_balances b ORDER BY b.tenant_id, b.user_id, b.currency",
    )
    .fetch_all_as::<AuditRow>(db)
    .await?;
    let mut report = AuditReport::default();
    for r in rows {
        report.checked += 1;
        let f = AuditFinding::from(r);
        if f.balance != f.ledger_sum || f.held != f.open_holds {
            report.findings.push(f);
        }
    }
    Ok(report)
}
