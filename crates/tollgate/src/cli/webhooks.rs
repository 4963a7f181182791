//! `tollgate webhooks …`: alert endpoints of the tenant and their delivery logs, through a
//! running server (an `admin` key).

use clap::Subcommand;
use serde_json::Value;
use tollgate_client::NewWebhook;

use super::output::{cell, fields, json, table};
use super::usage::ClientArgs;

/// Webhook endpoints.
#[derive(Debug, Subcommand)]
pub enum Webhooks {
    /// Register an endpoint; prints its secret once when the server generates it.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// Where alerts are POSTed (http or https).
        url: String,
        /// An event type to receive (repeatable; default: all): quota.threshold,
        /// limit.threshold, balance.low, receipt.generated.
        #[arg(long = "event")]
        events: Vec<String>,
        /// Your own `whsec_…` secret instead of a generated one.
        #[arg(long)]
        secret: Option<String>,
        /// A label.
        #[arg(long)]
        description: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The tenant's endpoints.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One endpoint.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// Its id (`whk_…`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint and its pending deliveries.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        /// Its id (`whk_…`).
        id: String,
    },
    /// An endpoint's delivery log, newest first.
    Deliveries {
        #[command(flatten)]
        client: ClientArgs,
        /// Its id (`whk_…`).
        id: String,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn endpoint_fields(w: &Value) -> String {
    let types: Vec<String> = w["event_types"]
        .as_array()
        .map(|a| a.iter().map(cell).collect())
        .unwrap_or_default();
    let mut rows = vec![
        ("id", cell(&w["id"])),
        ("url", cell(&w["url"])),
        ("events", types.join(", ")),
        ("description", cell(&w["description"])),
        ("created", cell(&w["created_at"])),
    ];
    if let Some(secret) = w["secret"].as_str() {
        rows.push(("secret (shown once)", secret.to_string()));
    }
    fields(rows)
}

impl Webhooks {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Webhooks::Add {
                client,
                url,
                events,
                secret,
                description,
                json: as_json,
            } => {
                let w = client
                    .client()?
                    .create_webhook(&NewWebhook {
                        url,
                        event_types: (!events.is_empty()).then_some(events),
                        secret,
                        description,
                    })
                    .await?;
                println!(
                    "{}",
                    if as_json {
                        json(&w)
                    } else {
                        endpoint_fields(&w)
                    }
                );
            }
            Webhooks::List {
                client,
                json: as_json,
            } => {
                let all = client.client()?.webhooks().await?;
                if as_json {
                    println!("{}", json(&all));
                } else {
                    let rows = all["webhooks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|w| {
                            vec![
                                cell(&w["id"]),
                                cell(&w["url"]),
                                w["event_types"]
                                    .as_array()
                                    .map(|a| a.iter().map(cell).collect::<Vec<_>>().join(", "))
                                    .unwrap_or_default(),
                                cell(&w["description"]),
                            ]
                        })
                        .collect();
                    println!("{}", table(&["id", "url", "events", "description"], rows));
                }
            }
            Webhooks::Get {
                client,
                id,
                json: as_json,
            } => {
                let w = client.client()?.webhook(&id).await?;
                println!(
                    "{}",
                    if as_json {
                        json(&w)
                    } else {
                        endpoint_fields(&w)
                    }
                );
            }
            Webhooks::Remove { client, id } => {
                client.client()?.delete_webhook(&id).await?;
                println!("Removed webhook {id}.");
            }
            Webhooks::Deliveries {
                client,
                id,
                limit,
                offset,
                json: as_json,
            } => {
                let log = client
                    .client()?
                    .webhook_deliveries(&id, limit, offset)
                    .await?;
                if as_json {
                    println!("{}", json(&log));
                } else {
                    let rows = log["deliveries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            [
                                "event_id",
                                "event_type",
                                "status",
                                "attempts",
                                "last_status_code",
                                "next_attempt_at",
                                "last_error",
                            ]
                            .iter()
                            .map(|k| cell(&d[*k]))
                            .collect()
                        })
                        .collect();
                    let header = [
                        "event",
                        "type",
                        "status",
                        "attempts",
                        "http",
                        "next attempt",
                        "error",
                    ];
                    println!("{}", table(&header, rows));
                }
            }
        }
        Ok(())
    }
}
