//! `tollgate plans list | set | rate-limits | default | delete`: the deployment's plans and its default
//! plan, in the database. Like `tenants` and `keys`, they act on the configured database
//! directly, so plans can be set up before a server starts; running servers read the change
//! at their next request. What these commands set is the operator's: a server's settings
//! never change it again.

use anyhow::bail;
use clap::{Args, Subcommand};
use tollgate_core::rate::Limits;
use tollgate_core::time::format_us;
use tollgate_core::validate::{monthly_requests, plan_name};
use tollgate_server::billing::{plan_view, quota_text, Billing};
use tollgate_store::{Plan, PlanPut, PlanRates, PlanUpdate, Store, StoreError};

use super::output::{json, outln, table};
use super::Db;
use crate::config;

/// Plans.
#[derive(Debug, Subcommand)]
pub enum Plans {
    /// List the plans, the default plan marked.
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
        /// Make it the default plan too.
        #[arg(long)]
        default: bool,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a plan's rate limits: requests and tokens per minute of each API key, end user and
    /// client IP of its tenants. All six are replaced; one not given is no limit.
    RateLimits {
        /// The plan's name.
        name: String,
        #[command(flatten)]
        limits: RateFlags,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a plan the default plan: the plan of every tenant with none set.
    Default {
        /// The plan's name.
        name: String,
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

/// A plan's rate limits, per minute.
#[derive(Debug, Args)]
pub struct RateFlags {
    /// Requests per minute of each API key.
    #[arg(long, value_name = "N")]
    key_rpm: Option<i64>,
    /// Tokens per minute of each API key.
    #[arg(long, value_name = "N")]
    key_tpm: Option<i64>,
    /// Requests per minute of each end user.
    #[arg(long, value_name = "N")]
    user_rpm: Option<i64>,
    /// Tokens per minute of each end user.
    #[arg(long, value_name = "N")]
    user_tpm: Option<i64>,
    /// Requests per minute of each client IP.
    #[arg(long, value_name = "N")]
    ip_rpm: Option<i64>,
    /// Tokens per minute of each client IP.
    #[arg(long, value_name = "N")]
    ip_tpm: Option<i64>,
}

impl RateFlags {
    /// The limits, each checked to be zero or more.
    fn rates(&self) -> anyhow::Result<PlanRates> {
        let check = |flag: &str, v: Option<i64>| match v {
            Some(n) if n < 0 => bail!("--{flag} must be zero or more (leave it out for no limit)"),
            _ => Ok(v),
        };
        let limits = |kind: &str, rpm, tpm| -> anyhow::Result<Limits> {
            Ok(Limits {
                rpm: check(&format!("{kind}-rpm"), rpm)?,
                tpm: check(&format!("{kind}-tpm"), tpm)?,
            })
        };
        Ok(PlanRates {
            key: limits("key", self.key_rpm, self.key_tpm)?,
            user: limits("user", self.user_rpm, self.user_tpm)?,
            ip: limits("ip", self.ip_rpm, self.ip_tpm)?,
        })
    }
}

/// "key 600/min · user 20/min, 100000 tokens/min", or "none".
fn rates_text(r: &PlanRates) -> String {
    let parts: Vec<String> = [("key", r.key), ("user", r.user), ("ip", r.ip)]
        .into_iter()
        .filter(|(_, l)| l.any())
        .map(|(kind, l)| {
            let mut each = Vec::new();
            if let Some(n) = l.rpm {
                each.push(format!("{n}/min"));
            }
            if let Some(n) = l.tpm {
                each.push(format!("{n} tokens/min"));
            }
            format!("{kind} {}", each.join(", "))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

fn load(db: &Db) -> anyhow::Result<(tollgate_server::Settings, Billing)> {
    let settings = config::load(db, &[])?;
    let billing = Billing::from_settings(&settings.billing)
        .map_err(|e| anyhow::anyhow!("invalid billing settings: {e}"))?;
    Ok((settings, billing))
}

fn print_list(all: &[Plan], as_json: bool) {
    if as_json {
        let rows: Vec<_> = all.iter().map(plan_view).collect();
        outln!("{}", json(&rows));
        return;
    }
    let rows = all
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.monthly_requests
                    .map_or("unlimited".into(), |n| n.to_string()),
                if p.default { "yes" } else { "" }.to_string(),
                p.source.as_str().to_string(),
                p.tenants.to_string(),
                rates_text(&p.rates),
                format_us(p.updated_us),
            ]
        })
        .collect();
    let head = [
        "name",
        "monthly requests",
        "default",
        "set by",
        "tenants",
        "rate limits",
        "updated",
    ];
    outln!("{}", table(&head, rows));
}

/// Sets what `update` says on plan `name`; the plan as it is now and whether it is new.
async fn put(store: &dyn Store, name: &str, update: &PlanUpdate) -> anyhow::Result<(Plan, bool)> {
    match store.put_plan(name, update).await {
        Ok(PlanPut::Saved { plan, added }) => Ok((plan, added)),
        Ok(PlanPut::Missing) => bail!(
            "no plan named '{name}' (see `tollgate plans list`; add it with `tollgate plans set \
             {name} --monthly-requests N`)"
        ),
        Err(StoreError::Conflict(why)) => bail!("{why}"),
        Err(e) => Err(e.into()),
    }
}

impl Plans {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Plans::List { db, json: as_json } => {
                let (settings, _) = load(&db)?;
                let store = config::open_store(&settings).await?;
                print_list(&store.list_plans().await?, as_json);
            }
            Plans::Set {
                name,
                quota,
                default,
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
                let (settings, _) = load(&db)?;
                let store = config::open_store(&settings).await?;
                let update = PlanUpdate {
                    monthly_requests: Some(requests),
                    default: default.then_some(true),
                    rates: None,
                };
                let (plan, added) = put(&*store, &name, &update).await?;
                if as_json {
                    outln!("{}", json(&plan_view(&plan)));
                } else {
                    let what = if added { "added" } else { "changed" };
                    let default = if default { " (the default plan)" } else { "" };
                    outln!(
                        "{what} plan {}{default}: {} a month; running servers apply it from their \
                         next request",
                        plan.name,
                        quota_text(plan.monthly_requests)
                    );
                }
            }
            Plans::RateLimits {
                name,
                limits,
                db,
                json: as_json,
            } => {
                let rates = limits.rates()?;
                let (settings, _) = load(&db)?;
                let store = config::open_store(&settings).await?;
                let update = PlanUpdate {
                    monthly_requests: None,
                    default: None,
                    rates: Some(rates),
                };
                let (plan, _) = put(&*store, name.trim(), &update).await?;
                if as_json {
                    outln!("{}", json(&plan_view(&plan)));
                } else {
                    outln!(
                        "plan {} rate limits: {}; running servers apply them from their next \
                         authorization",
                        plan.name,
                        rates_text(&plan.rates)
                    );
                }
            }
            Plans::Default {
                name,
                db,
                json: as_json,
            } => {
                let (settings, billing) = load(&db)?;
                let store = config::open_store(&settings).await?;
                let update = PlanUpdate {
                    monthly_requests: None,
                    default: Some(true),
                    rates: None,
                };
                let (plan, _) = put(&*store, name.trim(), &update).await?;
                if as_json {
                    outln!("{}", json(&plan_view(&plan)));
                } else {
                    outln!(
                        "{} is now the default plan ({} a month): tenants with no plan set are \
                         on it; running servers apply it from their next request",
                        plan.name,
                        quota_text(plan.monthly_requests)
                    );
                }
                if let Some(other) = billing.default_plan.filter(|d| *d != plan.name) {
                    outln!(
                        "note: the settings name billing.default_plan '{other}'; servers \
                         starting with them keep this choice and warn"
                    );
                }
            }
            Plans::Delete { name, db } => {
                let (settings, billing) = load(&db)?;
                let store = config::open_store(&settings).await?;
                match store.delete_plan(&name).await {
                    Ok(true) => {}
                    Ok(false) => bail!("no plan named '{name}' (see `tollgate plans list`)"),
                    Err(StoreError::Conflict(why)) => bail!("{why}"),
                    Err(e) => return Err(e.into()),
                }
                outln!("deleted plan {name}");
                if billing.seeds.iter().any(|s| s.name == name) {
                    outln!(
                        "note: the settings still define billing.plans.{name}; a server starting \
                         with them adds it again"
                    );
                } else if billing.default_plan.as_deref() == Some(name.as_str()) {
                    outln!(
                        "note: the settings name it as billing.default_plan; a server starting \
                         with them stops until that setting names a plan there is"
                    );
                }
            }
        }
        Ok(())
    }
}
