//! Webhook endpoints, the alert outbox and deliveries.
//!
//! Alerts are inserted with ON CONFLICT DO NOTHING on their dedupe key, by the transaction
//! that crosses a threshold (`charges`, receipts) or by the quota scan here. Fanning out and
//! claiming due deliveries take their rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! instances sharing a database never take the same row; a claim also sets a lease, which
//! keeps a delivery that is being sent from being claimed again and expires if its worker dies
//! (claims and outcomes are `leases`, shared with email deliveries).

use std::collections::BTreeMap;

use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::month_of;

use super::alerts::{self, ALERT_INSERT};
use super::email;
use super::leases::{self, skip_locked, Claimed, Leased};
use super::plans::{found, PLAN_COLUMNS, PLAN_JOINS};
use crate::db::numbered as sql;
use crate::db::{query, row, Db, Dialect, FromRow, Row, Tx};
use crate::webhooks::{Delivery, DueDelivery, EventType, NewAlert, NewWebhook, Webhook};
use crate::StoreError;

const ENDPOINT_COLUMNS: &str = "tenant_id, id, url, secret, event_types, description, created_us";

row! {
    /// An endpoint as [`ENDPOINT_COLUMNS`] reads it: its event types are a JSON array.
    struct EndpointRow {
        tenant_id: String,
        id: String,
        url: String,
        secret: String,
        event_types: String,
        description: Option<String>,
        created_us: i64,
    }
}

impl TryFrom<EndpointRow> for Webhook {
    type Error = StoreError;

    fn try_from(r: EndpointRow) -> Result<Webhook, StoreError> {
        let names: Vec<String> = serde_json::from_str(&r.event_types)
            .map_err(|e| StoreError::Invariant(format!("webhook event types: {e}")))?;
        Ok(Webhook {
            tenant_id: r.tenant_id,
            id: r.id,
            url: r.url,
            secret: r.secret,
            event_types: names.iter().filter_map(|n| EventType::parse(n)).collect(),
            description: r.description,
            created_us: r.created_us,
        })
    }
}

pub(super) async fn create(db: &Db, w: &NewWebhook) -> Result<Webhook, StoreError> {
    let types: Vec<&str> = w.event_types.iter().map(|t| t.as_str()).collect();
    query(sql(
        db.dialect,
        &format!("INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
    ))
    .bind(&w.tenant_id)
    .bind(&w.id)
    .bind(&w.url)
    .bind(&w.secret)
    .bind(serde_json::Value::from(types).to_string())
    .bind(&w.description)
    .bind(w.created_us)
    .execute(db.write())
    .await?;
    Ok(w.clone())
}

pub(super) async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Webhook>, StoreError> {
    query(sql(
        db.dialect,
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 ORDER BY id"
        ),
    ))
    .bind(tenant_id)
    .fetch_all_as::<EndpointRow>(db)
    .await?
    .into_iter()
    .map(Webhook::try_from)
    .collect()
}

pub(super) async fn get(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Webhook>, StoreError> {
    query(sql(
        db.dialect,
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2"
        ),
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional_as::<EndpointRow>(db)
    .await?
    .map(Webhook::try_from)
    .transpose()
}

/// Removes an endpoint and its delivery log (pending deliveries are not sent).
pub(super) async fn delete(db: &Db, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    query(sql(
        db.dialect,
        "DELETE FROM webhook_deliveries WHERE tenant_id = ?1 AND endpoint_id = ?2",
    ))
    .bind(tenant_id)
    .bind(id)
    .execute(&mut tx)
    .await?;
    let gone = query(sql(
        db.dialect,
        "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2",
    ))
    .bind(tenant_id)
    .bind(id)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(gone > 0)
}

row! {
    struct DeliveryRow {
        id: String,
        endpoint_id: String,
        event_id: String,
        event_type: String,
        status: String,
        attempts: i64,
        next_attempt_us: Option<i64>,
        last_attempt_us: Option<i64>,
        last_status_code: Option<i64>,
        last_error: Option<String>,
        created_us: i64,
    }
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Delivery, StoreError> {
        let status = leases::status(&r.status)?;
        Ok(Delivery {
            id: r.id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            status,
            attempts: r.attempts,
            next_attempt_us: r.next_attempt_us,
            last_attempt_us: r.last_attempt_us,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_us: r.created_us,
        })
    }
}

/// A page of an endpoint's deliveries, newest first, and how many it has in all; None when
/// the tenant has no such endpoint.
pub(super) async fn deliveries(
    db: &Db,
    tenant_id: &str,
    endpoint_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Option<(Vec<Delivery>, i64)>, StoreError> {
    if get(db, tenant_id, endpoint_id).await?.is_none() {
        return Ok(None);
    }
    let total: i64 = query(sql(
        db.dialect,
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ?1 AND endpoint_id = ?2",
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .fetch_one(db)
    .await?
    .get("n")?;
    let out = query(sql(
        db.dialect,
        "SELECT d.id, d.endpoint_id, d.event_id, e.event_type, d.status, d.attempts, \
         d.next_attempt_us, d.last_attempt_us, d.last_status_code, d.last_error, d.created_us \
         FROM webhook_deliveries d JOIN alert_events e \
         ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.tenant_id = ?1 AND d.endpoint_id = ?2 ORDER BY d.id DESC LIMIT ?3 OFFSET ?4",
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(limit)
    .bind(offset)
    .fetch_all_as::<DeliveryRow>(db)
    .await?
    .into_iter()
    .map(Delivery::try_from)
    .collect::<Result<_, _>>()?;
    Ok(Some((out, total)))
}

async fn insert_alert(tx: &mut Tx, dialect: Dialect, a: &NewAlert) -> Result<u64, StoreError> {
    query(sql(dialect, ALERT_INSERT))
        .bind(&a.tenant_id)
        .bind(new_id(IdKind::Event))
        .bind(a.event_type.as_str())
        .bind(&a.dedupe_key)
        .bind(a.data.to_string())
        .bind(a.created_us)
        .execute(&mut *tx)
        .await
}

/// Whether any endpoint of the tenant wants `t` (alerts off the hot path ask first).
pub(super) async fn subscribed(
    tx: &mut Tx,
    dialect: Dialect,
    tenant_id: &str,
    t: EventType,
) -> Result<bool, StoreError> {
    Ok(query(sql(
        dialect,
        "SELECT 1 FROM webhook_endpoints WHERE tenant_id = ?1 AND event_types LIKE ?2 LIMIT 1",
    ))
    .bind(tenant_id)
    .bind(format!("%\"{}\"%", t.as_str()))
    .fetch_optional(&mut *tx)
    .await?
    .is_some())
}

/// Raises alerts (in a transaction of the caller's) unless already raised.
pub(super) async fn raise_in(
    tx: &mut Tx,
    dialect: Dialect,
    alerts: &[NewAlert],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for a in alerts {
        n += insert_alert(tx, dialect, a).await?;
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

row! {
    /// A tenant's plan and quota ([`PLAN_COLUMNS`]) and its requests this month.
    struct TenantQuotaRow {
        id: String,
        plan_name: Option<String>,
        plan_requests: Option<i64>,
        used_requests: i64,
    }
}

/// Raises `quota.threshold` for tenants with an endpoint that wants it (or an email recipient)
/// and whose recorded
/// requests this month reached a threshold of their plan's quota. Returns alerts new. Each
/// tenant's plan, quota and count are read together, by one statement.
pub(super) async fn scan_quotas(db: &Db, now: i64) -> Result<usize, StoreError> {
    let month = month_of(now);
    let tenants = query(sql(
        db.dialect,
        &format!(
            "SELECT t.id, {PLAN_COLUMNS}, \
             (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_monthly \
              WHERE tenant_id = t.id AND month = ?1) AS used_requests \
             FROM tenants t {PLAN_JOINS} WHERE t.id IN (SELECT tenant_id FROM webhook_endpoints \
              WHERE event_types LIKE '%\"quota.threshold\"%' \
              UNION SELECT tenant_id FROM alert_recipients) ORDER BY t.id"
        ),
    ))
    .bind(month)
    .fetch_all_as::<TenantQuotaRow>(db)
    .await?;
    let mut raised = Vec::new();
    for r in tenants {
        let plan = found(r.plan_name)?;
        let Some(quota) = r.plan_requests else {
            continue;
        };
        for a in alerts::quota_alerts(&r.id, &plan, month, quota, r.used_requests, now) {
            // Once raised, a threshold stays raised all month: check with a read, so that an
            // idle scan never takes the write lock.
            let known = query(sql(
                db.dialect,
                "SELECT 1 FROM alert_events WHERE tenant_id = ?1 AND dedupe_key = ?2",
            ))
            .bind(&a.tenant_id)
            .bind(&a.dedupe_key)
            .fetch_optional(db)
            .await?;
            if known.is_none() {
                raised.push(a);
            }
        }
    }
    if raised.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let n = raise_in(&mut tx, db.dialect, &raised).await?;
    tx.commit().await?;
    Ok(n)
}

row! {
    struct AlertRow { tenant_id: String, id: String, event_type: String }
}

/// Fans up to `limit` undispatched alerts out to the endpoints that want them, one pending
/// delivery each, and (for the alerts people act on) to the tenant's email recipients, one
/// pending email delivery each. Returns the alerts dispatched.
pub(super) async fn dispatch(db: &Db, limit: i64, now: i64) -> Result<usize, StoreError> {
    // Mostly there is nothing to do: find that out without the write lock.
    let any = query("SELECT 1 FROM alert_events WHERE dispatched = 0 LIMIT 1")
        .fetch_optional(db)
        .await?;
    if any.is_none() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let events = query(sql(
        db.dialect,
        &format!(
            "SELECT tenant_id, id, event_type FROM alert_events WHERE dispatched = 0 \
             ORDER BY created_us LIMIT ?1{}",
            skip_locked(db.dialect)
        ),
    ))
    .bind(limit)
    .fetch_all_as::<AlertRow>(&mut tx)
    .await?;
    let dispatched = events.len();
    let mut endpoints: BTreeMap<String, Vec<Webhook>> = BTreeMap::new();
    let mut recipients: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for AlertRow {
        tenant_id: tenant,
        id: event_id,
        event_type,
    } in events
    {
        if !endpoints.contains_key(&tenant) {
            let list = query(sql(
                db.dialect,
                &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1"),
            ))
            .bind(&tenant)
            .fetch_all_as::<EndpointRow>(&mut tx)
            .await?
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<Vec<_>, _>>()?;
            endpoints.insert(tenant.clone(), list);
        }
        let wanted = EventType::parse(&event_type);
        for e in endpoints[&tenant]
            .iter()
            .filter(|e| wanted.is_some_and(|t| e.event_types.contains(&t)))
        {
            query(sql(
                db.dialect,
                "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, status, \
                 attempts, next_attempt_us, created_us) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5) \
                 ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING",
            ))
            .bind(&tenant)
            .bind(new_id(IdKind::Delivery))
            .bind(&e.id)
            .bind(&event_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        if wanted.is_some_and(EventType::emailed) {
            if !recipients.contains_key(&tenant) {
                let list = email::addresses_in(&mut tx, db.dialect, &tenant).await?;
                recipients.insert(tenant.clone(), list);
            }
            email::fan_out_in(
                &mut tx,
                db.dialect,
                &tenant,
                &event_id,
                &recipients[&tenant],
                now,
            )
            .await?;
        }
        query(sql(
            db.dialect,
            "UPDATE alert_events SET dispatched = 1 WHERE tenant_id = ?1 AND id = ?2",
        ))
        .bind(&tenant)
        .bind(&event_id)
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok(dispatched)
}

/// Webhook deliveries, as a claim reads them: with their endpoint's URL and secret.
impl Claimed for DueDelivery {
    const LEASED: Leased = Leased {
        table: "webhook_deliveries",
        columns: "w.url, w.secret",
        joins: "JOIN webhook_endpoints w ON w.tenant_id = d.tenant_id AND w.id = d.endpoint_id",
    };

    fn lease(&self) -> (&str, &str, i64) {
        (&self.tenant_id, &self.id, self.lease_until_us)
    }
}

impl FromRow for DueDelivery {
    fn from_row(row: &Row) -> Result<DueDelivery, StoreError> {
        Ok(DueDelivery {
            tenant_id: row.get("tenant_id")?,
            id: row.get("id")?,
            event_id: row.get("event_id")?,
            event_type: row.get("event_type")?,
            data: row.get("data")?,
            event_created_us: row.get("event_created_us")?,
            url: row.get("url")?,
            secret: row.get("secret")?,
            attempts: row.get("attempts")?,
            lease_until_us: row.get("lease_until_us")?,
        })
    }
}
