//! Plans: the `plans` table operators manage, and the join that gives a tenant's plan and
//! quota wherever a decision reads a tenant row.
//!
//! No process keeps a copy of a plan. Authorization (on both engines: `sqlite_append`,
//! `pg_append`), the limits view, quota alerts and moving a tenant all read the plan through
//! [`PLAN_COLUMNS`] and [`plan_joins`] in the statement that uses it, so a change applies on
//! every instance at the next request.
//!
//! Moving a tenant holds the plan's row (`FOR SHARE` on PostgreSQL) while it writes the
//! tenant, and deleting a plan holds it (`FOR UPDATE`) while it looks for tenants on it, so
//! the two cannot cross and leave a tenant on a deleted plan. (SQLite has one writer.)

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tollgate_core::time::now_us;

use super::{begin_write, numbered};
use crate::db::{Db, Dialect};
use crate::model::QuotaState;
use crate::plans::{Plan, PlanChange, PlanSeed};
use crate::StoreError;

/// The plan a tenant row `t` is on and its quota, as `plan_name` and `plan_requests` (NULL:
/// unlimited), from the joins of [`plan_joins`]. A tenant with no plan set, or whose plan is
/// missing, is on the default plan: never unlimited by accident.
pub(crate) const PLAN_COLUMNS: &str = "COALESCE(p.name, d.name) AS plan_name, \
     CASE WHEN p.name IS NULL THEN d.monthly_requests ELSE p.monthly_requests END \
     AS plan_requests";

/// The joins [`PLAN_COLUMNS`] reads; `default` is the placeholder bound to the default
/// plan's name.
pub(crate) fn plan_joins(default: &str) -> String {
    format!("LEFT JOIN plans p ON p.name = t.plan LEFT JOIN plans d ON d.name = {default}")
}

/// The plan name [`PLAN_COLUMNS`] gave. None means the default plan itself is missing, which
/// start-up and [`delete`] prevent unless instances are configured with different defaults.
pub(crate) fn found(name: Option<String>, default_plan: &str) -> Result<String, StoreError> {
    name.ok_or_else(|| {
        StoreError::Invariant(format!(
            "the default plan '{default_plan}' is not in the database: add it with \
             `tollgate plans set {default_plan}`, or set billing.default_plan (the same on \
             every instance) to a plan there is"
        ))
    })
}

/// A tenant's plan, quota and use in a month: (tenant ?1, default plan ?2, month ?3).
const QUOTA: &str = "SELECT {PLAN}, \
     (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_monthly \
      WHERE tenant_id = t.id AND month = ?3) AS used_requests, \
     (SELECT CAST(COALESCE(SUM(reserved), 0) AS BIGINT) FROM quota_reservations \
      WHERE tenant_id = t.id AND month = ?3) AS reserved_requests \
     FROM tenants t {JOINS} WHERE t.id = ?1";

fn quota_sql(dialect: Dialect) -> String {
    numbered(
        dialect,
        &QUOTA
            .replace("{PLAN}", PLAN_COLUMNS)
            .replace("{JOINS}", &plan_joins("?2")),
    )
}

fn quota_state(r: &AnyRow, default_plan: &str, month: i64) -> Result<QuotaState, StoreError> {
    Ok(QuotaState {
        plan: found(r.try_get("plan_name")?, default_plan)?,
        limit: r.try_get("plan_requests")?,
        used: r.try_get("used_requests")?,
        reserved: r.try_get("reserved_requests")?,
        month,
    })
}

/// The tenant's plan and quota and its use in `month`, in one statement.
pub(super) async fn quota(
    db: &Db,
    tenant: &str,
    default_plan: &str,
    month: i64,
) -> Result<Option<QuotaState>, StoreError> {
    let row = sqlx::query(&quota_sql(db.dialect))
        .bind(tenant)
        .bind(default_plan)
        .bind(month)
        .fetch_optional(&db.reader)
        .await?;
    row.as_ref()
        .map(|r| quota_state(r, default_plan, month))
        .transpose()
}

const PLAN_SELECT: &str = "SELECT p.name, p.monthly_requests, p.created_us, p.updated_us, \
     (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants t WHERE t.plan = p.name) AS tenants \
     FROM plans p";

fn plan(r: &AnyRow) -> Result<Plan, StoreError> {
    Ok(Plan {
        name: r.try_get("name")?,
        monthly_requests: r.try_get("monthly_requests")?,
        tenants: r.try_get("tenants")?,
        created_us: r.try_get("created_us")?,
        updated_us: r.try_get("updated_us")?,
    })
}

/// Every plan, by name.
pub(super) async fn list(db: &Db) -> Result<Vec<Plan>, StoreError> {
    let rows = sqlx::query(&format!("{PLAN_SELECT} ORDER BY p.name"))
        .fetch_all(&db.reader)
        .await?;
    rows.iter().map(plan).collect()
}

async fn one(tx: &mut Transaction<'static, Any>, name: &str) -> Result<Plan, StoreError> {
    let row = sqlx::query(&format!("{PLAN_SELECT} WHERE p.name = $1"))
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    plan(&row)
}

/// Locks a plan's row (`lock`: the PostgreSQL lock clause) and says whether it exists.
async fn lock(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    name: &str,
    lock: &str,
) -> Result<bool, StoreError> {
    let clause = match dialect {
        Dialect::Postgres => lock,
        Dialect::Sqlite => "",
    };
    let row = sqlx::query(&format!("SELECT name FROM plans WHERE name = $1{clause}"))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Adds a plan or changes its quota.
pub(super) async fn put(
    db: &Db,
    name: &str,
    monthly_requests: Option<i64>,
) -> Result<(Plan, bool), StoreError> {
    let mut tx = begin_write(db).await?;
    let existed = lock(&mut tx, db.dialect, name, " FOR UPDATE").await?;
    sqlx::query(
        "INSERT INTO plans (name, monthly_requests, created_us, updated_us) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE \
         SET monthly_requests = excluded.monthly_requests, updated_us = excluded.updated_us",
    )
    .bind(name)
    .bind(monthly_requests)
    .bind(now_us())
    .execute(&mut *tx)
    .await?;
    let saved = one(&mut tx, name).await?;
    tx.commit().await?;
    Ok((saved, !existed))
}

/// Adds the plans not there yet; returns the database's plans of those names.
pub(super) async fn seed(db: &Db, seeds: &[PlanSeed]) -> Result<Vec<Plan>, StoreError> {
    let mut tx = begin_write(db).await?;
    let now = now_us();
    let mut out = Vec::with_capacity(seeds.len());
    for s in seeds {
        sqlx::query(
            "INSERT INTO plans (name, monthly_requests, created_us, updated_us) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&s.name)
        .bind(s.monthly_requests)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        out.push(one(&mut tx, &s.name).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// Deletes a plan no tenant is on and that is not the default.
pub(super) async fn delete(db: &Db, name: &str, default_plan: &str) -> Result<bool, StoreError> {
    if name == default_plan {
        return Err(StoreError::Conflict(format!(
            "plan '{name}' is the default plan (billing.default_plan), the plan of every tenant \
             with none set; it cannot be deleted"
        )));
    }
    let mut tx = begin_write(db).await?;
    if !lock(&mut tx, db.dialect, name, " FOR UPDATE").await? {
        return Ok(false);
    }
    let on = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tenants WHERE plan = $1")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    let n: i64 = on.try_get("n")?;
    if n > 0 {
        let tenants = if n == 1 { "tenant is" } else { "tenants are" };
        return Err(StoreError::Conflict(format!(
            "plan '{name}' cannot be deleted: {n} {tenants} on it; move them to another plan first"
        )));
    }
    sqlx::query("DELETE FROM plans WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves a tenant to a plan that exists (checked under the plan's lock), and reads its quota.
pub(super) async fn set_tenant_plan(
    db: &Db,
    tenant: &str,
    plan: Option<&str>,
    default_plan: &str,
    month: i64,
) -> Result<PlanChange, StoreError> {
    let mut tx = begin_write(db).await?;
    if let Some(name) = plan {
        if !lock(&mut tx, db.dialect, name, " FOR SHARE").await? {
            let rows = sqlx::query("SELECT name FROM plans ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
            let known = rows
                .iter()
                .map(|r| r.try_get("name"))
                .collect::<Result<Vec<String>, _>>()?;
            return Ok(PlanChange::UnknownPlan { known });
        }
    }
    let done = sqlx::query("UPDATE tenants SET plan = $1 WHERE id = $2")
        .bind(plan)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("tenant".into()));
    }
    let row = sqlx::query(&quota_sql(db.dialect))
        .bind(tenant)
        .bind(default_plan)
        .bind(month)
        .fetch_one(&mut *tx)
        .await?;
    let quota = quota_state(&row, default_plan, month)?;
    tx.commit().await?;
    Ok(PlanChange::Moved(quota))
}
