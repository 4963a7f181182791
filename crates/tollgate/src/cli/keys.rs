//! `tollgate keys …`: API keys, in the configured database directly (like `tenants`), so a
//! fresh install can be set up before the server starts.
//!
//! A key is a tenant key (its scopes, within its tenant) or an operator key (deployment-wide);
//! the role is chosen only by `create --operator` or `grant-operator`, never by a scope list.

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;
use tollgate_core::time::format_us;
use tollgate_server::keys;
use tollgate_store::{ApiKeyInfo, KeyRole, Scope};

use super::output::{json, outln, table};
use super::Db;
use crate::config;

/// API keys.
#[derive(Debug, Subcommand)]
pub enum Keys {
    /// Create a key; the secret is printed once.
    Create {
        /// Tenant name or id (an operator key belongs to a tenant too, and acts on it unless a
        /// request names another with X-Tenant-Id).
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes within the tenant: ingest, read, admin, billing.
        #[arg(long, default_value = "ingest,read", conflicts_with = "operator")]
        scopes: String,
        /// An operator key: deployment-wide (plans, tenants, any tenant via X-Tenant-Id, every
        /// scope).
        #[arg(long)]
        operator: bool,
        /// A label for listings.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long, conflicts_with = "quiet")]
        json: bool,
        /// Print only the key, for a script to keep (`export TOLLGATE_API_KEY=$(…)`).
        #[arg(short, long)]
        quiet: bool,
    },
    /// List keys (never their secrets), with their role and scopes.
    List {
        /// Only this tenant's (name or id).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a key an operator key: deployment-wide, with every scope in every tenant.
    GrantOperator {
        /// Key id (`key_…`).
        id: String,
        #[command(flatten)]
        db: Db,
    },
    /// Revoke a key.
    Revoke {
        /// Key id (`key_…`).
        id: String,
        #[command(flatten)]
        db: Db,
    },
}

fn scope_names(k: &ApiKeyInfo) -> Vec<&'static str> {
    k.scopes.iter().map(|s| s.as_str()).collect()
}

fn key_json(k: &ApiKeyInfo) -> serde_json::Value {
    json!({
        "id": k.id, "tenant": k.tenant_name, "tenant_id": k.tenant_id, "prefix": k.prefix,
        "name": k.name, "role": k.role.as_str(), "scopes": scope_names(k),
        "created_at": format_us(k.created_us), "revoked_at": k.revoked_us.map(format_us),
    })
}

impl Keys {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Keys::Create {
                tenant,
                scopes,
                operator,
                name,
                db,
                json: as_json,
                quiet,
            } => {
                let scopes = if operator {
                    Scope::ALL.to_vec()
                } else {
                    Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?
                };
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let Some(t) = store.find_tenant(&tenant).await? else {
                    bail!("no tenant named '{tenant}' (see `tollgate tenants list`)");
                };
                let mut generated = keys::generate(&t.id, scopes, name);
                if operator {
                    generated.record.role = KeyRole::Operator;
                }
                let info = store.create_key(generated.record).await?;
                if quiet {
                    outln!("{}", generated.secret);
                } else if as_json {
                    let mut out = key_json(&info);
                    out["key"] = json!(generated.secret);
                    outln!("{}", json(&out));
                } else {
                    let what = match info.role {
                        KeyRole::Operator => "an operator key (deployment-wide)".to_string(),
                        KeyRole::Tenant => format!("scopes {}", scope_names(&info).join(",")),
                    };
                    outln!("created key {} for tenant {} with {what}", info.id, t.name);
                    outln!("the key is shown only once:\n\n    {}\n", generated.secret);
                }
            }
            Keys::List {
                tenant,
                db,
                json: as_json,
            } => {
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let tenant_id = match tenant {
                    Some(t) => Some(
                        store
                            .find_tenant(&t)
                            .await?
                            .with_context(|| format!("no tenant named '{t}'"))?
                            .id,
                    ),
                    None => None,
                };
                let all = store.list_keys(tenant_id.as_deref()).await?;
                if as_json {
                    let rows: Vec<_> = all.iter().map(key_json).collect();
                    outln!("{}", json(&json!(rows)));
                } else {
                    let rows = all
                        .iter()
                        .map(|k| {
                            vec![
                                k.id.clone(),
                                k.tenant_name.clone(),
                                format!("{}…", k.prefix),
                                k.role.as_str().to_string(),
                                Scope::join(&k.scopes),
                                k.name.clone().unwrap_or_default(),
                                k.revoked_us
                                    .map(format_us)
                                    .unwrap_or_else(|| "active".into()),
                            ]
                        })
                        .collect();
                    outln!(
                        "{}",
                        table(
                            &["id", "tenant", "key", "role", "scopes", "name", "status"],
                            rows
                        )
                    );
                }
            }
            Keys::GrantOperator { id, db } => {
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let k = store.grant_operator(&id).await?;
                outln!(
                    "{} (tenant {}) is now an operator key: deployment-wide, every scope in every tenant",
                    k.id, k.tenant_name
                );
            }
            Keys::Revoke { id, db } => {
                let store = config::open_store(&config::load(&db, &[])?).await?;
                let k = store.revoke_key(&id, None).await?;
                outln!("revoked {} (tenant {})", k.id, k.tenant_name);
            }
        }
        Ok(())
    }
}
