//! `tollgate migrate` and `tollgate tenants …` (and `tenants set-plan`): they act on the
//! configured database directly, so a fresh install can be set up before the server starts.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_core::time::{format_us, month_of, now_us};
use tollgate_server::billing::{quota_text, Billing};
use tollgate_store::{PlanChange, SqlStore};

use super::output::{json, outln, table};
use super::Db;
use crate::config;

/// Applies pending migrations, or brings the schema up or down to one version.
#[derive(Debug, Args)]
pub struct Migrate {
    #[command(flatten)]
    db: Db,
    /// Bring the schema to this migration version instead of the latest: apply the ones up
    /// to it, or roll back the ones after it (0: roll back every migration). Stop the
    /// servers first.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    /// Roll back even when a down step drops tables or columns that hold data.
    #[arg(long, requires = "to")]
    force: bool,
}

impl Migrate {
    pub async fn run(self) -> anyhow::Result<()> {
        let settings = config::load(&self.db, &[])?;
        config::prepare_data_dir(&settings)?;
        let url = settings.database_url();
        let mut opts = config::connect_options(&settings);
        // Making the database is this command's job (and `serve`'s).
        opts.create_if_missing = true;
        let store = SqlStore::connect(&opts)
            .await
            .with_context(|| format!("cannot open database {}", tollgate_store::redact(&url)))?;
        let report = match self.to {
            None => store.migrate().await?,
            Some(version) => store.migrate_to(version, self.force).await?,
        };
        for name in &report.applied {
            outln!("applied {name}");
        }
        for name in &report.rolled_back {
            outln!("rolled back {name}");
        }
        if report.rolled_back.is_empty() {
            outln!(
                "{} applied now, {} already applied",
                report.applied.len(),
                report.already
            );
        } else {
            outln!("{} rolled back now", report.rolled_back.len());
        }
        Ok(())
    }
}

/// Tenants.
#[derive(Debug, Subcommand)]
pub enum Tenants {
    /// Create a tenant.
    Create {
        /// Unique name.
        name: String,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a tenant to a plan (`default`: back to the default plan).
    SetPlan {
        /// Tenant name or id.
        tenant: String,
        /// A plan's name (see `tollgate plans list`), or `default`.
        plan: String,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl Tenants {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Tenants::Create {
                name,
                db,
                json: as_json,
            } => {
                let name = tollgate_core::validate::required_text("name", &name, 128)
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let t = store.create_tenant(&name).await?;
                if as_json {
                    outln!(
                        "{}",
                        json(
                            &json!({"id": t.id, "name": t.name, "created_at": format_us(t.created_us)})
                        )
                    );
                } else {
                    outln!("created tenant {} ({})", t.name, t.id);
                }
            }
            Tenants::List { db, json: as_json } => {
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let all = store.list_tenants().await?;
                if as_json {
                    let rows: Vec<_> = all
                        .iter()
                        .map(|t| json!({"id": t.id, "name": t.name, "plan": t.plan, "created_at": format_us(t.created_us), "events": t.log_size}))
                        .collect();
                    outln!("{}", json(&json!(rows)));
                } else {
                    let rows = all
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.clone(),
                                t.name.clone(),
                                t.plan.clone().unwrap_or_else(|| "(default)".into()),
                                format_us(t.created_us),
                                t.log_size.to_string(),
                            ]
                        })
                        .collect();
                    outln!(
                        "{}",
                        table(&["id", "name", "plan", "created", "events"], rows)
                    );
                }
            }
            Tenants::SetPlan {
                tenant,
                plan,
                db,
                json: as_json,
            } => set_plan(&tenant, &plan, &db, as_json).await?,
        }
        Ok(())
    }
}

/// Moves a tenant to a plan of the database (checked in the transaction that moves it).
async fn set_plan(tenant: &str, plan: &str, db: &Db, as_json: bool) -> anyhow::Result<()> {
    let settings = config::load(db, &[])?;
    let billing = Billing::from_settings(&settings.billing)
        .map_err(|e| anyhow::anyhow!("invalid billing settings: {e}"))?;
    let chosen = match plan.trim() {
        "default" => None,
        name => Some(name),
    };
    let store = config::open_store(&settings).await?;
    let Some(t) = store.find_tenant(tenant).await? else {
        bail!("no tenant named '{tenant}' (see `tollgate tenants list`)");
    };
    let change = store.set_plan(&t.id, chosen, month_of(now_us())).await?;
    let q = match change {
        PlanChange::Moved(q) => q,
        PlanChange::UnknownPlan { known } => {
            let name = chosen.unwrap_or_default();
            let hint = if billing.seeds.iter().any(|s| s.name == name) {
                format!(
                    ". The settings define billing.plans.{name}: the server adds it at its next \
                     start, or add it now with `tollgate plans set {name}`"
                )
            } else {
                format!(". Add it with `tollgate plans set {name} --monthly-requests N`")
            };
            let default = store
                .list_plans()
                .await?
                .into_iter()
                .find(|p| p.default)
                .map_or_else(String::new, |p| format!(", {}", p.name));
            bail!(
                "'{name}' is not a plan (known: {}; or `default` for the default plan{default}){hint}",
                known.join(", "),
            );
        }
    };
    if as_json {
        outln!(
            "{}",
            json(&json!({
                "tenant": t.name, "tenant_id": t.id, "plan": q.plan,
                "default": chosen.is_none(), "monthly_requests": q.limit,
            }))
        );
    } else {
        let how = if chosen.is_none() {
            "the default plan, "
        } else {
            "plan "
        };
        outln!(
            "tenant {} is now on {how}{} ({} a month)",
            t.name,
            q.plan,
            quota_text(q.limit)
        );
    }
    Ok(())
}
