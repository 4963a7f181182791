//! Alerts by email: a tenant's recipients, the email deliveries an alert is fanned out to, and
//! claiming and finishing them.
//!
//! Email deliveries work as webhook deliveries do (see `webhooks`): one row per (alert,
//! address), made by the fan-out with ON CONFLICT DO NOTHING; claims take due rows with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and set a lease, and an attempt's outcome is written
//! only while its lease is still the claim's. So instances sharing a database send each
//! message once, and a worker that dies mid-send leaves a lease that expires.

use tollgate_core::ids::{new_id, IdKind};

use crate::db::numbered as sql;
use crate::db::{query, row, Db, Dialect, Tx};
use crate::webhooks::{AlertRecipient, Attempt, DeliveryStatus, DueEmail, EmailDelivery};
use crate::StoreError;

fn skip_locked(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    }
}

row! {
    struct RecipientRow { email: String, set_by: String, created_us: i64 }
}

/// The tenant's recipients, by address.
pub(super) async fn recipients(
    db: &Db,
    tenant_id: &str,
) -> Result<Vec<AlertRecipient>, StoreError> {
    Ok(query(sql(
        db.dialect,
        "SELECT email, set_by, created_us FROM alert_recipients WHERE tenant_id = ?1 ORDER BY email",
    ))
    .bind(tenant_id)
    .fetch_all_as::<RecipientRow>(db)
    .await?
    .into_iter()
    .map(|r| AlertRecipient {
        email: r.email,
        set_by: r.set_by,
        created_us: r.created_us,
    })
    .collect())
}

/// Replaces the tenant's recipients with `emails`, as set by `set_by` at `now`. Pending
/// deliveries to addresses taken off the list are still sent: they were due when raised.
pub(super) async fn set_recipients(
    db: &Db,
    tenant_id: &str,
    emails: &[String],
    set_by: &str,
    now: i64,
) -> Result<Vec<AlertRecipient>, StoreError> {
    let mut tx = db.begin_write().await?;
    query(sql(
        db.dialect,
        "DELETE FROM alert_recipients WHERE tenant_id = ?1",
    ))
    .bind(tenant_id)
    .execute(&mut tx)
    .await?;
    for email in emails {
        query(sql(
            db.dialect,
            "INSERT INTO alert_recipients (tenant_id, email, set_by, created_us) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant_id, email) DO NOTHING",
        ))
        .bind(tenant_id)
        .bind(email)
        .bind(set_by)
        .bind(now)
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await?;
    recipients(db, tenant_id).await
}

/// The addresses of the tenant's recipients, in a transaction of the caller's (the fan-out).
pub(super) async fn addresses_in(
    tx: &mut Tx,
    dialect: Dialect,
    tenant_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(query(sql(
        dialect,
        "SELECT email, set_by, created_us FROM alert_recipients WHERE tenant_id = ?1",
    ))
    .bind(tenant_id)
    .fetch_all_as::<RecipientRow>(&mut *tx)
    .await?
    .into_iter()
    .map(|r| r.email)
    .collect())
}

/// One pending email delivery of `event_id` to each of `addresses`, unless it has one.
pub(super) async fn fan_out_in(
    tx: &mut Tx,
    dialect: Dialect,
    tenant_id: &str,
    event_id: &str,
    addresses: &[String],
    now: i64,
) -> Result<(), StoreError> {
    for to in addresses {
        query(sql(
            dialect,
            "INSERT INTO email_deliveries (tenant_id, id, event_id, recipient, status, attempts, \
             next_attempt_us, created_us) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5) \
             ON CONFLICT (tenant_id, event_id, recipient) DO NOTHING",
        ))
        .bind(tenant_id)
        .bind(new_id(IdKind::Delivery))
        .bind(event_id)
        .bind(to)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

row! {
    struct DueRow { tenant_id: String, id: String }
}

row! {
    /// What writing and sending a claimed email needs.
    struct SendRow {
        event_id: String,
        event_type: String,
        data: String,
        event_created_us: i64,
        recipient: String,
        attempts: i64,
    }
}

/// Claims up to `limit` email deliveries due at `now` until `lease_until`.
pub(super) async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DueEmail>, StoreError> {
    let due_where = "status = 'pending' AND next_attempt_us <= ?1 \
         AND (lease_until_us IS NULL OR lease_until_us <= ?1)";
    let any = query(sql(
        db.dialect,
        &format!("SELECT 1 FROM email_deliveries WHERE {due_where} LIMIT 1"),
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
            "SELECT tenant_id, id FROM email_deliveries WHERE {due_where} \
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
            "UPDATE email_deliveries SET lease_until_us = ?1 WHERE tenant_id = ?2 AND id = ?3",
        ))
        .bind(lease_until)
        .bind(&tenant_id)
        .bind(&id)
        .execute(&mut tx)
        .await?;
        let row = query(sql(
            db.dialect,
            "SELECT e.id AS event_id, e.event_type, e.data, e.created_us AS event_created_us, \
             d.recipient, d.attempts FROM email_deliveries d \
             JOIN alert_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
             WHERE d.tenant_id = ?1 AND d.id = ?2",
        ))
        .bind(&tenant_id)
        .bind(&id)
        .fetch_one_as::<SendRow>(&mut tx)
        .await?;
        out.push(DueEmail {
            tenant_id,
            id,
            event_id: row.event_id,
            event_type: row.event_type,
            data: row.data,
            event_created_us: row.event_created_us,
            recipient: row.recipient,
            attempts: row.attempts,
            lease_until_us: lease_until,
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// Records one attempt's outcome and releases the lease, if the lease is still the claim's
/// (false, and nothing written, otherwise).
pub(super) async fn finish(
    db: &Db,
    claim: &DueEmail,
    attempt: &Attempt,
    now: i64,
) -> Result<bool, StoreError> {
    let status = match (&attempt.error, attempt.retry_at_us) {
        (None, _) => DeliveryStatus::Delivered,
        (Some(_), Some(_)) => DeliveryStatus::Pending,
        (Some(_), None) => DeliveryStatus::Failed,
    };
    let updated = query(sql(
        db.dialect,
        "UPDATE email_deliveries SET attempts = attempts + 1, last_attempt_us = ?1, \
         last_status_code = ?2, last_error = ?3, status = ?4, next_attempt_us = ?5, \
         lease_until_us = NULL WHERE tenant_id = ?6 AND id = ?7 AND status = 'pending' \
         AND lease_until_us = ?8",
    ))
    .bind(now)
    .bind(attempt.status_code)
    .bind(&attempt.error)
    .bind(status.as_str())
    .bind(attempt.retry_at_us)
    .bind(&claim.tenant_id)
    .bind(&claim.id)
    .bind(claim.lease_until_us)
    .execute(db.write())
    .await?;
    Ok(updated > 0)
}

row! {
    struct DeliveryRow {
        id: String,
        event_id: String,
        event_type: String,
        recipient: String,
        status: String,
        attempts: i64,
        next_attempt_us: Option<i64>,
        last_attempt_us: Option<i64>,
        last_status_code: Option<i64>,
        last_error: Option<String>,
        created_us: i64,
    }
}

/// A page of the tenant's email deliveries, newest first, and how many it has in all.
pub(super) async fn deliveries(
    db: &Db,
    tenant_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<EmailDelivery>, i64), StoreError> {
    let total: i64 = query(sql(
        db.dialect,
        "SELECT COUNT(*) AS n FROM email_deliveries WHERE tenant_id = ?1",
    ))
    .bind(tenant_id)
    .fetch_one(db)
    .await?
    .get("n")?;
    let rows = query(sql(
        db.dialect,
        "SELECT d.id, d.event_id, e.event_type, d.recipient, d.status, d.attempts, \
         d.next_attempt_us, d.last_attempt_us, d.last_status_code, d.last_error, d.created_us \
         FROM email_deliveries d JOIN alert_events e \
         ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.tenant_id = ?1 ORDER BY d.id DESC LIMIT ?2 OFFSET ?3",
    ))
    .bind(tenant_id)
    .bind(limit)
    .bind(offset)
    .fetch_all_as::<DeliveryRow>(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let status = DeliveryStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Invariant(format!("delivery status '{}'", r.status)))?;
        out.push(EmailDelivery {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            recipient: r.recipient,
            status,
            attempts: r.attempts,
            next_attempt_us: r.next_attempt_us,
            last_attempt_us: r.last_attempt_us,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_us: r.created_us,
        });
    }
    Ok((out, total))
}
