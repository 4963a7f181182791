//! Alerts by email: a tenant's recipients, the email deliveries an alert is fanned out to, and
//! claiming and finishing them.
//!
//! Email deliveries work as webhook deliveries do (see `webhooks`): one row per (alert,
//! address), made by the fan-out with ON CONFLICT DO NOTHING, and claimed and finished under a
//! lease by the same code (`leases`), so instances sharing a database send each message once.

use tollgate_core::ids::{new_id, IdKind};

use super::leases::{self, Claimed, Leased};
use crate::db::numbered as sql;
use crate::db::{query, row, Db, Dialect, FromRow, Row, Tx};
use crate::webhooks::{AlertRecipient, DueEmail, EmailDelivery};
use crate::StoreError;

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

/// Email deliveries, as a claim reads them: with their address.
impl Claimed for DueEmail {
    const LEASED: Leased = Leased {
        table: "email_deliveries",
        columns: "d.recipient",
        joins: "",
    };

    fn lease(&self) -> (&str, &str, i64) {
        (&self.tenant_id, &self.id, self.lease_until_us)
    }
}

impl FromRow for DueEmail {
    fn from_row(row: &Row) -> Result<DueEmail, StoreError> {
        Ok(DueEmail {
            tenant_id: row.get("tenant_id")?,
            id: row.get("id")?,
            event_id: row.get("event_id")?,
            event_type: row.get("event_type")?,
            data: row.get("data")?,
            event_created_us: row.get("event_created_us")?,
            recipient: row.get("recipient")?,
            attempts: row.get("attempts")?,
            lease_until_us: row.get("lease_until_us")?,
        })
    }
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
        let status = leases::status(&r.status)?;
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
