//! Plans: the `plans` table operators manage, the default plan (`deployment_settings`), and
//! the join that gives a tenant's plan and quota wherever a decision reads a tenant row.
//!
//! No process keeps a copy of a plan or of the default plan's name. Authorization (on both
//! engines: `sqlite_append`, `pg_append`), the limits view, quota alerts and moving a tenant
//! all read the plan through [`PLAN_COLUMNS`] and [`PLAN_JOINS`] in the statement that uses
//! it, so a change applies on every instance at the next request.
//!
//! Locks (PostgreSQL; SQLite has one writer): plan rows first, by name, then the one
//! `deployment_settings` row. Moving a tenant holds the plan's row (`FOR SHARE`) while it
//! writes the tenant; deleting a plan holds it (`FOR UPDATE`) while it looks for tenants on
//! it and checks it is not the default; choosing a default holds the plan's row before it
//! writes the choice. So none of them can cross and leave a tenant, or the default, on a
//! deleted plan (the default's foreign key would refuse it too). Seeding at start
//! (`plan_seed`) takes the same order.

use tollgate_core::time::now_us;

use crate::db::{numbered, query, row, Db, Dialect, Tx};
use crate::model::QuotaState;
use crate::plans::{Plan, PlanChange, PlanPut, PlanSource, PlanUpdate};
use crate::StoreError;

/// The plan a tenant row `t` is on and its quota, as `plan_name` and `plan_requests` (NULL:
/// unlimited), from [`PLAN_JOINS`]. A tenant with no plan set, or whose plan is missing, is on
/// the default plan: never unlimited by accident.
pub(crate) const PLAN_COLUMNS: &str = "COALESCE(p.name, d.name) AS plan_name, \
     CASE WHEN p.name IS NULL THEN d.monthly_requests ELSE p.monthly_requests END \
     AS plan_requests";

/// The joins [`PLAN_COLUMNS`] reads: the tenant's own plan `p`, and the default plan `d` as
/// the database chose it.
pub(crate) const PLAN_JOINS: &str = "LEFT JOIN plans p ON p.name = t.plan \
     LEFT JOIN deployment_settings ds ON ds.id = 1 \
     LEFT JOIN plans d ON d.name = ds.default_plan";

/// The plan name [`PLAN_COLUMNS`] gave. None means the database has no default plan, which
/// the migration and the default's foreign key prevent.
pub(crate) fn found(name: Option<String>) -> Result<String, StoreError> {
    name.ok_or_else(|| {
        StoreError::Invariant(
            "the database has no default plan (deployment_settings); choose one with \
             `tollgate plans default NAME`"
                .into(),
        )
    })
}

/// A tenant's plan, quota and use in a month: (tenant ?1, month ?2).
const QUOTA: &str = "SELECT {PLAN}, \
     (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_monthly \
      WHERE tenant_id = t.id AND month = ?2) AS used_requests, \
     (SELECT CAST(COUNT(*) AS BIGINT) FROM holds \
      WHERE tenant_id = t.id AND month = ?2 AND status = 'open') AS reserved_requests \
     FROM tenants t {JOINS} WHERE t.id = ?1";

fn quota_sql(dialect: Dialect) -> String {
    numbered(
        dialect,
        &QUOTA
            .replace("{PLAN}", PLAN_COLUMNS)
            .replace("{JOINS}", PLAN_JOINS),
    )
}

row! {
    /// A tenant's quota as [`QUOTA`] reads it.
    struct QuotaRow {
        plan_name: Option<String>,
        plan_requests: Option<i64>,
        used_requests: i64,
        reserved_requests: i64,
    }
}

impl QuotaRow {
    fn into_state(self, month: i64) -> Result<QuotaState, StoreError> {
        Ok(QuotaState {
            plan: found(self.plan_name)?,
            limit: self.plan_requests,
            used: self.used_requests,
            reserved: self.reserved_requests,
            month,
        })
    }
}

/// The tenant's plan and quota and its use in `month`, in one statement.
pub(super) async fn quota(
    db: &Db,
    tenant: &str,
    month: i64,
) -> Result<Option<QuotaState>, StoreError> {
    let row = query(quota_sql(db.dialect))
        .bind(tenant)
        .bind(month)
        .fetch_optional_as::<QuotaRow>(db)
        .await?;
    row.map(|r| r.into_state(month)).transpose()
}

const PLAN_SELECT: &str = "SELECT p.name, p.monthly_requests, p.source, p.created_us, \
     p.updated_us, p.key_rpm, p.key_tpm, p.user_rpm, p.user_tpm, p.ip_rpm, p.ip_tpm, \
     (SELECT CAST(COUNT(*) AS BIGINT) FROM tenants t WHERE t.plan = p.name) AS tenants, \
     CAST(CASE WHEN ds.id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS is_default \
     FROM plans p LEFT JOIN deployment_settings ds ON ds.id = 1 AND ds.default_plan = p.name";

pub(super) fn source(text: &str) -> Result<PlanSource, StoreError> {
    PlanSource::parse(text)
        .ok_or_else(|| StoreError::Invariant(format!("'{text}' is not a plan source")))
}

row! {
    /// A plan as [`PLAN_SELECT`] reads it.
    struct PlanRow {
        name: String,
        monthly_requests: Option<i64>,
        source: String,
        created_us: i64,
        updated_us: i64,
        tenants: i64,
        is_default: i64,
        key_rpm: Option<i64>,
        key_tpm: Option<i64>,
        user_rpm: Option<i64>,
        user_tpm: Option<i64>,
        ip_rpm: Option<i64>,
        ip_tpm: Option<i64>,
    }
}

impl TryFrom<PlanRow> for Plan {
    type Error = StoreError;

    fn try_from(r: PlanRow) -> Result<Plan, StoreError> {
        Ok(Plan {
            name: r.name,
            monthly_requests: r.monthly_requests,
            default: r.is_default != 0,
            source: source(&r.source)?,
            tenants: r.tenants,
            created_us: r.created_us,
            updated_us: r.updated_us,
            rates: super::rate::plan_rates([
                r.key_rpm, r.key_tpm, r.user_rpm, r.user_tpm, r.ip_rpm, r.ip_tpm,
            ]),
        })
    }
}

/// Every plan, by name.
pub(super) async fn list(db: &Db) -> Result<Vec<Plan>, StoreError> {
    query(format!("{PLAN_SELECT} ORDER BY p.name"))
        .fetch_all_as::<PlanRow>(db)
        .await?
        .into_iter()
        .map(Plan::try_from)
        .collect()
}

async fn one(tx: &mut Tx, name: &str) -> Result<Plan, StoreError> {
    query(format!("{PLAN_SELECT} WHERE p.name = $1"))
        .bind(name)
        .fetch_one_as::<PlanRow>(&mut *tx)
        .await?
        .try_into()
}

/// The engine's form of a PostgreSQL row-lock clause (SQLite has one writer and none).
pub(super) fn locking(dialect: Dialect, clause: &'static str) -> &'static str {
    match dialect {
        Dialect::Postgres => clause,
        Dialect::Sqlite => "",
    }
}

/// Locks a plan's row (`lock`: the PostgreSQL lock clause) and says whether it exists.
pub(super) async fn lock(
    tx: &mut Tx,
    dialect: Dialect,
    name: &str,
    lock: &'static str,
) -> Result<bool, StoreError> {
    let clause = locking(dialect, lock);
    let row = query(format!("SELECT name FROM plans WHERE name = $1{clause}"))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.is_some())
}

/// Every plan's name, sorted.
pub(super) async fn names(tx: &mut Tx) -> Result<Vec<String>, StoreError> {
    let rows = query("SELECT name FROM plans ORDER BY name")
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(|r| r.get("name")).collect()
}

row! {
    struct DefaultRow { default_plan: String, default_plan_source: String }
}

/// The default plan's name and who chose it (locked `FOR UPDATE` on PostgreSQL when `lock`).
pub(super) async fn default_choice(
    tx: &mut Tx,
    dialect: Dialect,
    lock: bool,
) -> Result<(String, PlanSource), StoreError> {
    let clause = if lock {
        locking(dialect, " FOR UPDATE")
    } else {
        ""
    };
    let row = query(format!(
        "SELECT default_plan, default_plan_source FROM deployment_settings WHERE id = 1{clause}"
    ))
    .fetch_optional_as::<DefaultRow>(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Invariant("deployment_settings has no row".into()))?;
    Ok((row.default_plan, source(&row.default_plan_source)?))
}

/// Makes `name` (a plan whose row the caller holds) the default plan, chosen by `by`.
pub(super) async fn choose_default(
    tx: &mut Tx,
    name: &str,
    by: PlanSource,
    now: i64,
) -> Result<(), StoreError> {
    query(
        "UPDATE deployment_settings SET default_plan = $1, default_plan_source = $2, \
         updated_us = $3 WHERE id = 1",
    )
    .bind(name)
    .bind(by.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn is_the_default(name: &str, what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "plan '{name}' is the default plan, the plan of every tenant with none set; {what}: \
         choose another default plan first (`tollgate plans default NAME`, or PUT \
         /api/v1/plans/NAME with {{\"default\": true}})"
    ))
}

/// Adds a plan or changes it, as an operator: what `update` sets is the operator's from now
/// on, never changed by a server's settings.
pub(super) async fn put(db: &Db, name: &str, update: &PlanUpdate) -> Result<PlanPut, StoreError> {
    let mut tx = db.begin_write().await?;
    let existed = lock(&mut tx, db.dialect, name, " FOR UPDATE").await?;
    let now = now_us();
    match update.monthly_requests {
        Some(quota) => {
            query(
                "INSERT INTO plans (name, monthly_requests, source, created_us, updated_us) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE \
                 SET monthly_requests = excluded.monthly_requests, source = excluded.source, \
                 updated_us = excluded.updated_us",
            )
            .bind(name)
            .bind(quota)
            .bind(PlanSource::Operator.as_str())
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        None if !existed => return Ok(PlanPut::Missing),
        None => {}
    }
    if let Some(r) = &update.rates {
        query(
            "UPDATE plans SET key_rpm = $1, key_tpm = $2, user_rpm = $3, user_tpm = $4, \
             ip_rpm = $5, ip_tpm = $6, source = $7, updated_us = $8 WHERE name = $9",
        )
        .bind(r.key.rpm)
        .bind(r.key.tpm)
        .bind(r.user.rpm)
        .bind(r.user.tpm)
        .bind(r.ip.rpm)
        .bind(r.ip.tpm)
        .bind(PlanSource::Operator.as_str())
        .bind(now)
        .bind(name)
        .execute(&mut tx)
        .await?;
    }
    if update.default == Some(false) && default_choice(&mut tx, db.dialect, false).await?.0 == name
    {
        return Err(is_the_default(name, "it stays the default"));
    }
    if update.default == Some(true) {
        choose_default(&mut tx, name, PlanSource::Operator, now).await?;
    }
    let plan = one(&mut tx, name).await?;
    tx.commit().await?;
    Ok(PlanPut::Saved {
        plan,
        added: !existed,
    })
}

/// Deletes a plan no tenant is on and that is not the default.
pub(super) async fn delete(db: &Db, name: &str) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    if !lock(&mut tx, db.dialect, name, " FOR UPDATE").await? {
        return Ok(false);
    }
    if default_choice(&mut tx, db.dialect, false).await?.0 == name {
        return Err(is_the_default(name, "it cannot be deleted"));
    }
    let on = query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tenants WHERE plan = $1")
        .bind(name)
        .fetch_one(&mut tx)
        .await?;
    let n: i64 = on.get("n")?;
    if n > 0 {
        let tenants = if n == 1 { "tenant is" } else { "tenants are" };
        return Err(StoreError::Conflict(format!(
            "plan '{name}' cannot be deleted: {n} {tenants} on it; move them to another plan first"
        )));
    }
    query("DELETE FROM plans WHERE name = $1")
        .bind(name)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves a tenant to a plan that exists (checked under the plan's lock), and reads its quota.
pub(super) async fn set_tenant_plan(
    db: &Db,
    tenant: &str,
    plan: Option<&str>,
    month: i64,
) -> Result<PlanChange, StoreError> {
    let mut tx = db.begin_write().await?;
    if let Some(name) = plan {
        if !lock(&mut tx, db.dialect, name, " FOR SHARE").await? {
            let known = names(&mut tx).await?;
            return Ok(PlanChange::UnknownPlan { known });
        }
    }
    let done = query("UPDATE tenants SET plan = $1 WHERE id = $2")
        .bind(plan)
        .bind(tenant)
        .execute(&mut tx)
        .await?;
    if done == 0 {
        return Err(StoreError::NotFound("tenant".into()));
    }
    let quota = query(quota_sql(db.dialect))
        .bind(tenant)
        .bind(month)
        .fetch_one_as::<QuotaRow>(&mut tx)
        .await?
        .into_state(month)?;
    tx.commit().await?;
    Ok(PlanChange::Moved(quota))
}
