//! `tollgate usage …`: log and read usage through a running server.

use clap::{Args, Subcommand};
use serde_json::Value;
use tollgate_client::{Client, UsageLog};

use super::output::{cell, json, table};

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8000")]
    pub server: String,
    /// API key.
    #[arg(long, env = "TOLLGATE_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

impl ClientArgs {
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.server, &self.api_key)?)
    }
}

/// Usage.
#[derive(Debug, Subcommand)]
pub enum Usage {
    /// Log one call.
    Log {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        log: LogArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Usage statistics.
    Stats {
        #[command(flatten)]
        client: ClientArgs,
        /// Start (date or RFC 3339; default 30 days before the end).
        #[arg(long)]
        start: Option<String>,
        /// End (default now).
        #[arg(long)]
        end: Option<String>,
        /// day, month, model, provider, alias, origin or user.
        #[arg(long, default_value = "day")]
        group_by: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recent logged calls.
    Logs {
        #[command(flatten)]
        client: ClientArgs,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Start (date or RFC 3339).
        #[arg(long)]
        start: Option<String>,
        /// End.
        #[arg(long)]
        end: Option<String>,
        /// Only this model.
        #[arg(long)]
        model: Option<String>,
        /// Only this alias.
        #[arg(long)]
        alias: Option<String>,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
        /// Only unpriced calls.
        #[arg(long)]
        unpriced: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One call's fields.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Provider.
    #[arg(long)]
    provider: String,
    /// Model.
    #[arg(long)]
    model: String,
    /// Prompt tokens (cached included).
    #[arg(long)]
    input_tokens: i64,
    /// Generated tokens (reasoning included).
    #[arg(long)]
    output_tokens: i64,
    /// Cached prompt tokens.
    #[arg(long)]
    cached_input_tokens: Option<i64>,
    /// Reasoning tokens.
    #[arg(long)]
    reasoning_tokens: Option<i64>,
    /// Alias.
    #[arg(long)]
    alias: Option<String>,
    /// Origin.
    #[arg(long)]
    origin: Option<String>,
    /// End user.
    #[arg(long)]
    user: Option<String>,
    /// Idempotency key: a repeat records nothing new.
    #[arg(long)]
    request_id: Option<String>,
    /// Event time (default now).
    #[arg(long)]
    timestamp: Option<String>,
}

impl Usage {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Usage::Log {
                client,
                log,
                json: as_json,
            } => {
                let logged = client
                    .client()?
                    .log_usage(&UsageLog {
                        provider: log.provider,
                        model: log.model,
                        input_tokens: Some(log.input_tokens),
                        output_tokens: Some(log.output_tokens),
                        cached_input_tokens: log.cached_input_tokens,
                        reasoning_tokens: log.reasoning_tokens,
                        alias: log.alias,
                        origin: log.origin,
                        user_id: log.user,
                        request_id: log.request_id,
                        timestamp: log.timestamp,
                        ..Default::default()
                    })
                    .await?;
                if as_json {
                    println!("{}", json(&serde_json::to_value(&logged)?));
                } else {
                    let dup = if logged.duplicate {
                        " (already recorded)"
                    } else {
                        ""
                    };
                    println!(
                        "logged {} seq {}: {} {}{dup}",
                        logged.log_id, logged.seq, logged.cost_exact, logged.currency
                    );
                }
            }
            Usage::Stats {
                client,
                start,
                end,
                group_by,
                json: as_json,
            } => {
                let mut q = vec![("group_by", group_by)];
                q.extend(start.map(|s| ("start_date", s)));
                q.extend(end.map(|e| ("end_date", e)));
                let stats = client.client()?.stats(&q).await?;
                if as_json {
                    println!("{}", json(&stats));
                } else {
                    print_stats(&stats);
                }
            }
            Usage::Logs {
                client,
                limit,
                offset,
                start,
                end,
                model,
                alias,
                user,
                unpriced,
                json: as_json,
            } => {
                let mut q = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
                q.extend(start.map(|s| ("start_date", s)));
                q.extend(end.map(|e| ("end_date", e)));
                q.extend(model.map(|m| ("model", m)));
                q.extend(alias.map(|a| ("alias", a)));
                q.extend(user.map(|u| ("user_id", u)));
                if unpriced {
                    q.push(("unpriced", "true".into()));
                }
                let logs = client.client()?.logs(&q).await?;
                if as_json {
                    println!("{}", json(&logs));
                } else {
                    let rows = logs["logs"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|l| {
                                    [
                                        "logged_at",
                                        "provider",
                                        "model",
                                        "alias",
                                        "user_id",
                                        "input_tokens",
                                        "output_tokens",
                                        "cost_exact",
                                    ]
                                    .iter()
                                    .map(|k| cell(&l[*k]))
                                    .chain(std::iter::once(cell(&Value::String(
                                        l["flags"]
                                            .as_array()
                                            .map(|f| {
                                                f.iter().map(cell).collect::<Vec<_>>().join(",")
                                            })
                                            .unwrap_or_default(),
                                    ))))
                                    .collect()
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    println!(
                        "{}",
                        table(
                            &[
                                "time", "provider", "model", "alias", "user", "in", "out", "cost",
                                "flags"
                            ],
                            rows
                        )
                    );
                }
            }
        }
        Ok(())
    }
}

fn print_stats(stats: &Value) {
    let s = &stats["summary"];
    println!(
        "{} requests, {} tokens, {} {} ({} to {})",
        cell(&s["total_requests"]),
        cell(&s["total_tokens"]),
        cell(&s["total_cost"]),
        cell(&s["currency"]),
        cell(&stats["start_date"]),
        cell(&stats["end_date"]),
    );
    let rows = stats["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .map(|r| {
                    ["key", "requests", "input_tokens", "output_tokens", "cost"]
                        .iter()
                        .map(|k| cell(&r[*k]))
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let by = cell(&stats["group_by"]);
    println!(
        "{}",
        table(
            &[
                by.as_str(),
                "requests",
                "input tokens",
                "output tokens",
                "cost"
            ],
            rows
        )
    );
}
