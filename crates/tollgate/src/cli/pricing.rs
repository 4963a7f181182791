//! `tollgate pricing …`: import prices into the database, list the book in force, see what
//! was recorded without a price and reprice it.

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;
use tollgate_core::pricing::{
    effective_label, parse_genai_prices, parse_litellm, parse_price_file, PriceSource,
};
use tollgate_core::time::{now_us, parse_instant, DateEdge, DAY_US};
use tollgate_server::Prices;

use super::output::{json, out, outln, table};
use super::Db;
use crate::config;

/// Prices.
#[derive(Debug, Subcommand)]
pub enum Pricing {
    /// Import prices into the database: LiteLLM's model_prices_and_context_window.json, or
    /// Tollgate's own TOML price file.
    Import {
        /// The file.
        file: std::path::PathBuf,
        /// `litellm`, `genai-prices` or `toml` (default: by the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// When LiteLLM prices take effect (date or RFC 3339; default: today, UTC).
        #[arg(long)]
        effective_from: Option<String>,
        /// Import as this tenant's own prices (name or id).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: Db,
    },
    /// List the prices in force.
    List {
        /// Only models whose name contains this.
        #[arg(long)]
        model: Option<String>,
        /// For this tenant (name or id): its own prices included.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: Db,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The models called without a price in a range, with the token classes that need one.
    Coverage {
        #[command(flatten)]
        client: super::usage::ClientArgs,
        /// Start (date or RFC 3339; default 30 days before the end).
        #[arg(long)]
        start: Option<String>,
        /// End (default now).
        #[arg(long)]
        end: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Price the calls recorded without a price that the book now has a price for, through a
    /// running server: each gets an adjustment appended to the tenant log (nothing is
    /// rewritten), charged as a call is. Running it again reprices nothing twice.
    Reprice {
        #[command(flatten)]
        client: super::usage::ClientArgs,
        /// Another tenant (name or id; needs an operator key). Default the key's tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only calls at or after this instant (date or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only calls before this instant (a date is its first instant).
        #[arg(long)]
        until: Option<String>,
        /// Say what would be repriced, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl Pricing {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Pricing::Import {
                file,
                format,
                effective_from,
                tenant,
                db,
            } => {
                let settings = config::load(&db, &[])?;
                let store = config::open_store(&settings).await?;
                let tenant_id = match &tenant {
                    Some(t) => Some(
                        store
                            .find_tenant(t)
                            .await?
                            .with_context(|| format!("no tenant named '{t}'"))?
                            .id,
                    ),
                    None => None,
                };
                let source = if tenant_id.is_some() {
                    PriceSource::Tenant
                } else {
                    PriceSource::Database
                };
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let format = format.unwrap_or_else(|| {
                    if file.extension().is_some_and(|e| e == "json") {
                        "litellm".into()
                    } else {
                        "toml".into()
                    }
                });
                let (entries, skipped, unmapped) = match format.as_str() {
                    "litellm" => {
                        let from = match &effective_from {
                            Some(t) => parse_instant(t, DateEdge::Start)?,
                            None => now_us().div_euclid(DAY_US) * DAY_US,
                        };
                        let import = parse_litellm(&text, from, source, tenant_id.as_deref())?;
                        (import.entries, import.skipped, import.unmapped)
                    }
                    "toml" => (
                        parse_price_file(&text, source, tenant_id.as_deref())?,
                        0,
                        Default::default(),
                    ),
                    "genai-prices" | "genai_prices" => {
                        let import = parse_genai_prices(&text, source, tenant_id.as_deref())?;
                        (import.entries, import.skipped, import.unmapped)
                    }
                    other => bail!("unknown format '{other}': use litellm, genai-prices or toml"),
                };
                let added = store.import_prices(&entries).await?;
                outln!(
                    "{added} prices added, {} already present, {skipped} entries without a usable price skipped",
                    entries.len() - added
                );
                if !unmapped.is_empty() {
                    let fields: Vec<String> =
                        unmapped.iter().map(|(f, n)| format!("{f} ({n})")).collect();
                    outln!(
                        "price fields not mapped, so those prices were not imported: {}",
                        fields.join(", ")
                    );
                }
                if added > 0 {
                    // The CLI writes to the database; each running server reads it again on
                    // its own timer.
                    let every = settings.pricing.refresh_seconds.max(1);
                    outln!(
                        "running servers price with them within {every} s (pricing.refresh_seconds); \
                         calls recorded before stay as they were priced"
                    );
                }
            }
            Pricing::List {
                model,
                tenant,
                db,
                json: as_json,
            } => {
                let settings = config::load(&db, &[])?;
                let store = config::open_store(&settings).await?;
                let tenant_id = match &tenant {
                    Some(t) => {
                        store
                            .find_tenant(t)
                            .await?
                            .with_context(|| format!("no tenant named '{t}'"))?
                            .id
                    }
                    None => String::new(),
                };
                let prices = Prices::load(&settings.pricing, &*store).await?;
                let book = prices.current();
                let entries: Vec<_> = book
                    .in_force(&tenant_id, now_us())
                    .into_iter()
                    .filter(|e| {
                        model
                            .as_deref()
                            .is_none_or(|m| e.model.contains(&m.to_ascii_lowercase()))
                    })
                    .collect();
                let rate =
                    |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
                if as_json {
                    let rows: Vec<_> = entries.iter().map(|e| e.to_json()).collect();
                    outln!("{}", json(&json!(rows)));
                } else {
                    let rows = entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.provider.clone(),
                                e.model.clone(),
                                e.rates.tokens.input.to_string(),
                                e.rates.tokens.output.to_string(),
                                rate(e.rates.tokens.cached_input),
                                rate(e.rates.tokens.cache_write),
                                rate(e.rates.per_call),
                                rate(e.rates.per_unit),
                                effective_label(e.effective_from_us),
                                e.source.as_str().to_string(),
                            ]
                        })
                        .collect();
                    outln!(
                        "per million tokens (per call and per unit: MCP tools)\n{}",
                        table(
                            &[
                                "provider",
                                "model",
                                "input",
                                "output",
                                "cached",
                                "cache write",
                                "per call",
                                "per unit",
                                "from",
                                "source"
                            ],
                            rows
                        )
                    );
                }
            }
            Pricing::Reprice {
                client,
                tenant,
                since,
                until,
                dry_run,
                json: as_json,
            } => {
                let body = tollgate_api::usage::RepriceRequest {
                    since,
                    until,
                    dry_run,
                    for_tenant: tenant,
                };
                let r = client.client()?.reprice(&body).await?;
                if as_json {
                    outln!("{}", json(&serde_json::to_value(&r)?));
                    return Ok(());
                }
                out!("{}", reprice_report(&r));
            }
            Pricing::Coverage {
                client,
                start,
                end,
                json: as_json,
            } => {
                let q = tollgate_api::usage::CoverageQuery {
                    start_date: start,
                    end_date: end,
                };
                let c = client.client()?.pricing_coverage(&q).await?;
                if as_json {
                    outln!("{}", json(&serde_json::to_value(&c)?));
                    return Ok(());
                }
                outln!(
                    "{} calls without a price, {} to {}",
                    c.unpriced_requests,
                    c.start_date,
                    c.end_date
                );
                let rows = c
                    .models
                    .iter()
                    .map(|m| {
                        vec![
                            m.provider.clone(),
                            m.model.clone(),
                            m.requests.to_string(),
                            m.token_classes.join(", "),
                            m.last_seen.clone(),
                            if m.priced_now { "yes" } else { "no" }.to_string(),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table(
                        &[
                            "provider",
                            "model",
                            "calls",
                            "token classes",
                            "last seen",
                            "priced now"
                        ],
                        rows
                    )
                );
                if !c.fallback_classes.is_empty() {
                    let rows = c
                        .fallback_classes
                        .iter()
                        .map(|f| {
                            vec![
                                f.provider.clone(),
                                f.model.clone(),
                                f.token_class.clone(),
                                f.tokens.to_string(),
                                f.billed_at.clone(),
                            ]
                        })
                        .collect();
                    outln!(
                        "token classes billed at another class's rate (their price has none of its own)\n{}",
                        table(
                            &["provider", "model", "token class", "tokens", "billed at"],
                            rows
                        )
                    );
                }
                if !c.unpriced_service_tiers.is_empty() {
                    let rows = c
                        .unpriced_service_tiers
                        .iter()
                        .map(|t| {
                            vec![
                                t.provider.clone(),
                                t.model.clone(),
                                t.service_tier.clone(),
                                t.requests.to_string(),
                            ]
                        })
                        .collect();
                    outln!(
                        "service tiers billed at standard rates (their price names none)\n{}",
                        table(&["provider", "model", "service tier", "calls"], rows)
                    );
                }
            }
        }
        Ok(())
    }
}

/// What `tollgate pricing reprice` prints for people.
fn reprice_report(r: &tollgate_api::usage::Repriced) -> String {
    let verb = if r.dry_run {
        "would reprice"
    } else {
        "repriced"
    };
    let mut out = format!(
        "{verb} {} calls of tenant {}, adding {} {}\n",
        r.repriced, r.tenant_id, r.cost, r.currency
    );
    for (currency, cost) in r
        .costs_by_currency
        .iter()
        .filter(|(c, _)| **c != r.currency)
    {
        out.push_str(&format!("and {cost} {currency}\n"));
    }
    if !r.adjustments.is_empty() {
        let rows = r
            .adjustments
            .iter()
            .map(|a| {
                vec![
                    a.adjusts.clone(),
                    a.log_id.clone().unwrap_or_else(|| "-".into()),
                    format!("{} {}", a.cost, a.currency),
                    a.price_version.clone(),
                ]
            })
            .collect();
        out.push_str(&table(&["call", "adjustment", "cost", "price"], rows));
        out.push('\n');
        if !r.adjustments_complete {
            out.push_str(&format!("(the first {} listed)\n", r.adjustments.len()));
        }
    }
    if r.still_unpriced.is_empty() {
        out.push_str("no call of the range is left without a price\n");
    } else {
        let rows = r
            .still_unpriced
            .iter()
            .map(|s| vec![s.provider.clone(), s.model.clone(), s.events.to_string()])
            .collect();
        out.push_str(&format!(
            "still without a price (add one with `tollgate pricing import`, then run this again):\n{}\n",
            table(&["provider", "model", "calls"], rows)
        ));
    }
    out
}
