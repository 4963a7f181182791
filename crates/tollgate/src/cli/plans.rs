//! `tollgate plans list | set | delete`: the deployment's plans, in the database. Like
//! `tenants` and `keys`, they act on the configured database directly, so plans can be set up
//! before a server starts; running servers read the change at their next request.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_core::time::format_us;
use tollgate_core::validate::{monthly_requests, plan_name};
use tollgate_server::billing::{quota_text, Billing};
use tollgate_store::{Plan, StoreError};

use super::output::{json, table};
use super::Db;
use crate::config;

/// Plans.
#[derive(Debug, Subcommand)]
pub enum Plans {
    /// List the plans.
    List {
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a plan or change its monthly request quota.
    Set {
        /// The plan's name.
        name: String,
        #[command(flatten)]
        quota: Quota,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a plan no tenant is on (not the default plan).
    Delete {
        /// The plan's name.
        name: String,
        #[command(flatten)]
        db: Db,
    },
}

/// A plan's quota: a number of requests, or unlimited.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Quota {
    /// Requests a month (UTC calendar months).
    #[arg(long, value_name = "N")]
    monthly_requests: Option<i64>,
    /// No monthly limit.
    #[arg(long)]
    unlimited: bool,
}

fn plan_json(p: &Plan, default_plan: &str) -> serde_json::Value {
    json!({
        "name": p.name, "monthly_requests": p.monthly_requests,
        "default": p.name == default_plan, "tenants": p.tenants,
        "created_at": format_us(p.created_us), "updated_at": format_us(p.updated_us),
    })
}

fn load(db: &Db) -> anyhow::Result<(tollgate_server::Settings, Billing)> {
    let settings = config::load(db, &[])?;
    let billing = Billing::from_settings(&settings.billing)
        .map_err(|e| anyhow::anyhow!("invalid billing settings: {e}"))?;
    Ok((settings, billing))
}

impl Plans {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Plans::List { db, json: as_json } => {
                let (settings, billing) = load(&db)?;
                let store = config::open_store(&settings).await?;
                let all = store.list_plans().await?;
                if as_json {
                    let rows: Vec<_> = all
                        .iter()
                        .map(|p| plan_json(p, &billing.default_plan))
                        .collect();
                    println!("{}", json(&json!(rows)));
                } else {
                    let rows = all
                        .iter()
                        .map(|p| {
                            let default = if p.name == billing.default_plan {
                                "yes"
                            } else {
                                ""
                            };
                            vec![
                                p.name.clone(),
                                p.monthly_requests
                                    .map_or("unlimited".into(), |n| n.to_string()),
                                default.to_string(),
                                p.tenants.to_string(),
                                format_us(p.updated_us),
                            ]
                        })
                        .collect();
                    println!(
                        "{}",
                        table(
                            &["name", "monthly requests", "default", "tenants", "updated"],
                            rows
                        )
                    );
                }
            }
            Plans::Set {
                name,
                quota,
                db,
                json: as_json,
            } => {
                let name = plan_name("name", &name).map_err(|e| anyhow::anyhow!(e.message))?;
                let requests = if quota.unlimited {
                    None
                } else {
                    monthly_requests("--monthly-requests", quota.monthly_requests)
                        .map_err(|e| anyhow::anyhow!(e.message))?
                };
                let (settings, billing) = load(&db)?;
                let store = config::open_store(&settings).await?;
                let (plan, added) = store.put_plan(&name, requests).await?;
                if as_json {
                    println!("{}", json(&plan_json(&plan, &billing.default_plan)));
                } else {
                    let what = if added { "added" } else { "changed" };
                    println!(
                        "{what} plan {}: {} a month; running servers apply it from their next request",
                        plan.name,
                        quota_text(plan.monthly_requests)
                    );
                }
            }
            Plans::Delete { name, db } => {
                let (settings, billing) = load(&db)?;
                let store = config::open_store(&settings).await?;
                match store.delete_plan(&name, &billing.default_plan).await {
                    Ok(true) => {}
                    Ok(false) => bail!("no plan named '{name}' (see `tollgate plans list`)"),
                    Err(StoreError::Conflict(why)) => bail!("{why}"),
                    Err(e) => return Err(e.into()),
                }
                println!("deleted plan {name}");
                if billing.seeds.iter().any(|s| s.name == name) {
                    println!(
                        "note: the settings still define billing.plans.{name}; a server starting \
                         with them adds it again"
                    );
                }
            }
        }
        Ok(())
    }
}
