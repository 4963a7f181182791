//! `tollgate webhooks …`: alert endpoints of the tenant and their delivery logs, through a
//! running server (an `admin` key).

use clap::Subcommand;
use tollgate_api::webhooks::{CreateWebhookBody, DeliveriesQuery, Webhook, WebhookEventType};

use super::output::{fields, json, outln, table};
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

fn event_names(types: &[WebhookEventType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn endpoint_fields(w: &Webhook) -> String {
    let mut rows = vec![
        ("id", w.id.clone()),
        ("url", w.url.clone()),
        ("events", event_names(&w.event_types)),
        ("description", w.description.clone().unwrap_or_default()),
        ("created", w.created_at.clone()),
    ];
    if let Some(secret) = &w.secret {
        rows.push(("secret (shown once)", secret.clone()));
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
                    .create_webhook(&CreateWebhookBody {
                        url: Some(url),
                        event_types: (!events.is_empty()).then_some(events),
                        secret,
                        description,
                    })
                    .await?;
                outln!(
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
                    outln!("{}", json(&all));
                } else {
                    let rows = all
                        .webhooks
                        .iter()
                        .map(|w| {
                            vec![
                                w.id.clone(),
                                w.url.clone(),
                                event_names(&w.event_types),
                                w.description.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    outln!("{}", table(&["id", "url", "events", "description"], rows));
                }
            }
            Webhooks::Get {
                client,
                id,
                json: as_json,
            } => {
                let w = client.client()?.webhook(&id).await?;
                outln!(
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
                outln!("Removed webhook {id}.");
            }
            Webhooks::Deliveries {
                client,
                id,
                limit,
                offset,
                json: as_json,
            } => {
                let page = DeliveriesQuery {
                    limit: Some(limit),
                    offset: Some(offset),
                };
                let log = client.client()?.webhook_deliveries(&id, &page).await?;
                if as_json {
                    outln!("{}", json(&log));
                } else {
                    let rows = log
                        .deliveries
                        .iter()
                        .map(|d| {
                            vec![
                                d.event_id.clone(),
                                d.event_type.as_str().to_string(),
                                d.status.as_str().to_string(),
                                d.attempts.to_string(),
                                d.last_status_code
                                    .map(|c| c.to_string())
                                    .unwrap_or_default(),
                                d.next_attempt_at.clone().unwrap_or_default(),
                                d.last_error.clone().unwrap_or_default(),
                            ]
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
                    outln!("{}", table(&header, rows));
                }
            }
        }
        Ok(())
    }
}
