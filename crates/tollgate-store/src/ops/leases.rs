//! Leased deliveries: claiming due rows and recording an attempt's outcome, for every table of
//! deliveries an alert is fanned out to (`webhook_deliveries`, `email_deliveries`). The tables
//! share their status, attempt and lease columns; what differs (the table, and what sending
//! one delivery needs) is passed in.
//!
//! A claim takes due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL and sets a lease; an
//! attempt's outcome is written only while its lease is still the claim's. So instances
//! sharing a database send each delivery once, and a worker that dies mid-send leaves a lease
//! that expires.

use crate::db::numbered as sql;
use crate::db::{query, row, Db, Dialect, FromRow};
use crate::webhooks::{Attempt, DeliveryStatus};
use crate::StoreError;

/// What a claim reads of a table of deliveries.
pub(super) struct Leased {
    /// The table, read as `d`.
    pub table: &'static str,
    /// Columns a claim reads besides the delivery's and its event's (see [`claim`]).
    pub columns: &'static str,
    /// Joins those columns need (after `alert_events e`); may be empty.
    pub joins: &'static str,
}

/// A delivery as a claim takes it, read from the columns [`claim`] names.
pub(super) trait Claimed: FromRow {
    /// What a claim reads of its table.
    const LEASED: Leased;

    /// Its tenant and id, and the lease its claim set (the claim's token).
    fn lease(&self) -> (&str, &str, i64);
}

/// `FOR UPDATE SKIP LOCKED` where the engine has it (SQLite's writer is alone anyway).
pub(super) fn skip_locked(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    }
}

/// A stored delivery status, or an invariant error.
pub(super) fn status(name: &str) -> Result<DeliveryStatus, StoreError> {
    DeliveryStatus::parse(name)
        .ok_or_else(|| StoreError::Invariant(format!("delivery status '{name}'")))
}

row! {
    struct DueRow { tenant_id: String, id: String }
}

/// Claims up to `limit` deliveries of `T`'s table due at `now` until `lease_until`. Each is
/// read from the delivery's `tenant_id`, `id`, `attempts` and `lease_until_us`, its event's
/// `event_id`, `event_type`, `data` and `event_created_us`, and `T::LEASED.columns`.
pub(super) async fn claim<T: Claimed>(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<T>, StoreError> {
    let Leased {
        table,
        columns,
        joins,
    } = T::LEASED;
    let due_where = "status = 'pending' AND next_attempt_us <= ?1 \
         AND (lease_until_us IS NULL OR lease_until_us <= ?1)";
    // Mostly there is nothing due: find that out without the write lock.
    let any = query(sql(
        db.dialect,
        &format!("SELECT 1 FROM {table} WHERE {due_where} LIMIT 1"),
    ))
    .bind(now)
    .fetch_optional(db)
    .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let due = query(sql(
        db.dialect,
        &format!(
            "SELECT tenant_id, id FROM {table} WHERE {due_where} \
             ORDER BY next_attempt_us LIMIT ?2{}",
            skip_locked(db.dialect)
        ),
    ))
    .bind(now)
    .bind(limit)
    .fetch_all_as::<DueRow>(&mut tx)
    .await?;
    let mut out = Vec::with_capacity(due.len());
    for DueRow { tenant_id, id } in due {
        query(sql(
            db.dialect,
            &format!("UPDATE {table} SET lease_until_us = ?1 WHERE tenant_id = ?2 AND id = ?3"),
        ))
        .bind(lease_until)
        .bind(&tenant_id)
        .bind(&id)
        .execute(&mut tx)
        .await?;
        let claimed = query(sql(
            db.dialect,
            &format!(
                "SELECT d.tenant_id, d.id, d.attempts, d.lease_until_us, e.id AS event_id, \
                 e.event_type, e.data, e.created_us AS event_created_us, {columns} \
                 FROM {table} d \
                 JOIN alert_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id {joins} \
                 WHERE d.tenant_id = ?1 AND d.id = ?2"
            ),
        ))
        .bind(&tenant_id)
        .bind(&id)
        .fetch_one_as::<T>(&mut tx)
        .await?;
        out.push(claimed);
    }
    tx.commit().await?;
    Ok(out)
}

/// Records one attempt's outcome and releases the lease, if the lease is still the claim's:
/// false when it lapsed and the delivery was claimed again (or is no longer pending), in which
/// case nothing is written.
pub(super) async fn finish<T: Claimed>(
    db: &Db,
    claim: &T,
    attempt: &Attempt,
    now: i64,
) -> Result<bool, StoreError> {
    let table = T::LEASED.table;
    let (tenant_id, id, lease_until_us) = claim.lease();
    let status = match (&attempt.error, attempt.retry_at_us) {
        (None, _) => DeliveryStatus::Delivered,
        (Some(_), Some(_)) => DeliveryStatus::Pending,
        (Some(_), None) => DeliveryStatus::Failed,
    };
    let updated = query(sql(
        db.dialect,
        &format!(
            "UPDATE {table} SET attempts = attempts + 1, last_attempt_us = ?1, \
             last_status_code = ?2, last_error = ?3, status = ?4, next_attempt_us = ?5, \
             lease_until_us = NULL WHERE tenant_id = ?6 AND id = ?7 AND status = 'pending' \
             AND lease_until_us = ?8"
        ),
    ))
    .bind(now)
    .bind(attempt.status_code)
    .bind(&attempt.error)
    .bind(status.as_str())
    .bind(attempt.retry_at_us)
    .bind(tenant_id)
    .bind(id)
    .bind(lease_until_us)
    .execute(db.write())
    .await?;
    Ok(updated > 0)
}
