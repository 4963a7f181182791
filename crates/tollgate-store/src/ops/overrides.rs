//! Admin overrides on an account: an overdraft per currency, a suspension with its reason,
//! an exemption from limits until a time. Each change writes an entry of the account's audit
//! trail (`account_audit`) in the transaction that makes it, naming who made it.
//!
//! Locks follow the store's order (see `ops`): the balance row of an overdraft's currency,
//! then the account's own row.

use serde_json::json;
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::Nanos;

use super::billing::{ensure_account, lock_balance};
use crate::db::{query, row, Db, Sql, Tx};
use crate::model::{AccountAuditEntry, AccountDefaults, AccountOverrides, OverrideChange};
use crate::StoreError;

async fn record(
    tx: &mut Tx,
    tenant: &str,
    user: &str,
    action: &str,
    detail: serde_json::Value,
    set_by: &str,
    now: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO account_audit (tenant_id, id, user_id, action, detail, set_by, created_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(new_id(IdKind::Transaction))
    .bind(user)
    .bind(action)
    .bind(detail.to_string())
    .bind(set_by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Applies `change` to the account (created with `defaults` if new) and records each part.
pub(super) async fn set(
    db: &Db,
    tenant: &str,
    user: &str,
    change: &OverrideChange,
    defaults: &AccountDefaults,
) -> Result<AccountOverrides, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = change.at_us;
    ensure_account(&mut tx, tenant, user, defaults, now).await?;
    if let Some((currency, amount)) = &change.overdraft {
        let currency = match currency {
            Some(c) => c.as_str().to_string(),
            None => query(
                "SELECT limit_currency FROM billing_accounts WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant)
            .bind(user)
            .fetch_one(&mut tx)
            .await?
            .get("limit_currency")?,
        };
        lock_balance(&mut tx, db.dialect, tenant, user, &currency).await?;
        query(
            "UPDATE account_balances SET overdraft_nanos = $1 \
             WHERE tenant_id = $2 AND user_id = $3 AND currency = $4",
        )
        .bind(amount.0)
        .bind(tenant)
        .bind(user)
        .bind(&currency)
        .execute(&mut tx)
        .await?;
        let detail = json!({
            "currency": currency,
            "amount": amount.to_string(),
            "reason": change.reason,
        });
        record(
            &mut tx,
            tenant,
            user,
            "overdraft",
            detail,
            &change.set_by,
            now,
        )
        .await?;
    }
    if let Some(suspended) = change.suspended {
        let reason = if suspended {
            change.reason.clone()
        } else {
            None
        };
        query(
            "UPDATE billing_accounts SET is_active = $1, suspended_reason = $2, updated_us = $3 \
             WHERE tenant_id = $4 AND user_id = $5",
        )
        .bind(i64::from(!suspended))
        .bind(&reason)
        .bind(now)
        .bind(tenant)
        .bind(user)
        .execute(&mut tx)
        .await?;
        let (action, detail) = if suspended {
            ("suspend", json!({"reason": reason}))
        } else {
            ("resume", json!({"reason": change.reason}))
        };
        record(&mut tx, tenant, user, action, detail, &change.set_by, now).await?;
    }
    if let Some(until) = change.exempt_until_us {
        query(
            "UPDATE billing_accounts SET exempt_until_us = $1, updated_us = $2 \
             WHERE tenant_id = $3 AND user_id = $4",
        )
        .bind(until)
        .bind(now)
        .bind(tenant)
        .bind(user)
        .execute(&mut tx)
        .await?;
        let detail = json!({
            "until": until.map(tollgate_core::time::format_us),
            "reason": change.reason,
        });
        record(&mut tx, tenant, user, "exempt", detail, &change.set_by, now).await?;
    }
    let found = read(&mut tx, tenant, user).await?;
    tx.commit().await?;
    found.ok_or_else(|| StoreError::Invariant("an account just written is missing".into()))
}

row! {
    /// An account's override columns.
    struct OverrideRow {
        is_active: bool,
        suspended_reason: Option<String>,
        exempt_until_us: Option<i64>,
    }
}

row! {
    /// One currency's overdraft.
    struct OverdraftRow {
        currency: String,
        overdraft_nanos: i64,
    }
}

fn override_sql(tenant: &str, user: &str) -> Sql {
    query(
        "SELECT is_active, suspended_reason, exempt_until_us FROM billing_accounts \
         WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant)
    .bind(user)
}

fn overdraft_sql(tenant: &str, user: &str) -> Sql {
    query(
        "SELECT currency, overdraft_nanos FROM account_balances \
         WHERE tenant_id = $1 AND user_id = $2 AND overdraft_nanos > 0 ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
}

fn assemble(user: &str, a: OverrideRow, overdrafts: Vec<OverdraftRow>) -> AccountOverrides {
    AccountOverrides {
        user_id: user.to_string(),
        overdrafts: overdrafts
            .into_iter()
            .map(|r| (r.currency, Nanos(r.overdraft_nanos)))
            .collect(),
        suspended: !a.is_active,
        suspended_reason: a.suspended_reason,
        exempt_until_us: a.exempt_until_us,
    }
}

async fn read(
    tx: &mut Tx,
    tenant: &str,
    user: &str,
) -> Result<Option<AccountOverrides>, StoreError> {
    let Some(a) = override_sql(tenant, user)
        .fetch_optional_as::<OverrideRow>(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let overdrafts = overdraft_sql(tenant, user)
        .fetch_all_as::<OverdraftRow>(&mut *tx)
        .await?;
    Ok(Some(assemble(user, a, overdrafts)))
}

/// An account's overrides; None when it has never been used.
pub(super) async fn get(
    db: &Db,
    tenant: &str,
    user: &str,
) -> Result<Option<AccountOverrides>, StoreError> {
    let Some(a) = override_sql(tenant, user)
        .fetch_optional_as::<OverrideRow>(db)
        .await?
    else {
        return Ok(None);
    };
    let overdrafts = overdraft_sql(tenant, user)
        .fetch_all_as::<OverdraftRow>(db)
        .await?;
    Ok(Some(assemble(user, a, overdrafts)))
}

row! {
    /// An audit entry as [`audit`] reads it.
    struct AuditRow {
        id: String,
        action: String,
        detail: String,
        set_by: String,
        created_us: i64,
    }
}

/// An account's audit trail, newest first, at most `limit` entries.
pub(super) async fn audit(
    db: &Db,
    tenant: &str,
    user: &str,
    limit: i64,
) -> Result<Vec<AccountAuditEntry>, StoreError> {
    query(
        "SELECT id, action, detail, set_by, created_us FROM account_audit \
         WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_us DESC, id DESC LIMIT $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(limit)
    .fetch_all_as::<AuditRow>(db)
    .await?
    .into_iter()
    .map(|r| {
        let detail = serde_json::from_str(&r.detail)
            .map_err(|e| StoreError::Invariant(format!("an audit entry's detail: {e}")))?;
        Ok(AccountAuditEntry {
            id: r.id,
            action: r.action,
            detail,
            set_by: r.set_by,
            created_us: r.created_us,
        })
    })
    .collect()
}
