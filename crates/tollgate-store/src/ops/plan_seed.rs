//! Seeding at start: a server's settings (`billing.plans`, `billing.default_plan`) applied
//! to the database's plans and default plan by the rule of [`seed_rule`]: what an operator
//! set is never changed; anything else (the migration's built-in plans, an earlier start's
//! settings) follows the settings.
//!
//! One transaction, safe when several instances start at once on one PostgreSQL: each value
//! is decided on its locked row (plan rows by name, then the `deployment_settings` row, the
//! order of `plans`), so two starts apply one after the other and an operator's change made
//! meanwhile is seen, never overwritten.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::time::now_us;

use super::plans::{choose_default, default_choice, lock, locking, names, source};
use crate::db::{query, row, Db, Dialect, Tx};
use crate::plans::{seed_rule, PlanSeed, PlanSource, Seeded, Seeding};
use crate::StoreError;

/// Applies the settings' plans and default plan; nothing is written when the default plan
/// they name is not a plan.
pub(super) async fn seed(
    db: &Db,
    seeds: &[PlanSeed],
    default: Option<&str>,
) -> Result<Seeding, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = now_us();
    let mut order: BTreeSet<&str> = seeds.iter().map(|s| s.name.as_str()).collect();
    order.extend(default);
    let mut done = BTreeMap::new();
    let mut default_exists = false;
    for name in order {
        let exists = match seeds.iter().find(|s| s.name == name) {
            Some(s) => {
                done.insert(name, plan(&mut tx, db.dialect, s, now).await?);
                true
            }
            // Held so that it cannot be deleted before it is chosen.
            None => lock(&mut tx, db.dialect, name, " FOR SHARE").await?,
        };
        default_exists |= Some(name) == default && exists;
    }
    let chosen = match default {
        None => None,
        Some(_) if !default_exists => {
            let known = names(&mut tx).await?;
            return Ok(Seeding::UnknownDefault { known });
        }
        Some(wanted) => {
            let (stored, by) = default_choice(&mut tx, db.dialect, true).await?;
            let (outcome, write) = seed_rule(&stored, by, &wanted.to_string());
            if write {
                choose_default(&mut tx, wanted, PlanSource::Settings, now).await?;
            }
            Some(outcome)
        }
    };
    tx.commit().await?;
    Ok(Seeding::Done {
        plans: seeds
            .iter()
            .map(|s| {
                done.get(s.name.as_str())
                    .cloned()
                    .unwrap_or(Seeded::Unchanged)
            })
            .collect(),
        default: chosen,
    })
}

row! {
    struct StoredPlanRow { monthly_requests: Option<i64>, source: String, updated_us: i64 }
}

/// Adds one plan of the settings, or applies it to the database's by the rule.
async fn plan(
    tx: &mut Tx,
    dialect: Dialect,
    seed: &PlanSeed,
    now: i64,
) -> Result<Seeded<Option<i64>>, StoreError> {
    // Inserting first: when another start is adding the same plan, this waits for it and
    // then finds its row below.
    let added = query(
        "INSERT INTO plans (name, monthly_requests, source, created_us, updated_us) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&seed.name)
    .bind(seed.monthly_requests)
    .bind(PlanSource::Settings.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?
        == 1;
    if added {
        return Ok(Seeded::Added);
    }
    let row = query(format!(
        "SELECT monthly_requests, source, updated_us FROM plans WHERE name = $1{}",
        locking(dialect, " FOR UPDATE")
    ))
    .bind(&seed.name)
    .fetch_one_as::<StoredPlanRow>(&mut *tx)
    .await?;
    let by = source(&row.source)?;
    let (outcome, write) = seed_rule(&row.monthly_requests, by, &seed.monthly_requests);
    if write {
        // `updated_us` says when the quota changed, not when it was marked the settings'.
        let changed = matches!(outcome, Seeded::Applied { .. });
        let updated = if changed { now } else { row.updated_us };
        query(
            "UPDATE plans SET monthly_requests = $1, source = $2, updated_us = $3 \
             WHERE name = $4",
        )
        .bind(seed.monthly_requests)
        .bind(PlanSource::Settings.as_str())
        .bind(updated)
        .bind(&seed.name)
        .execute(&mut *tx)
        .await?;
    }
    Ok(outcome)
}
