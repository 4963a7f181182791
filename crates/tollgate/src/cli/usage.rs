//! `tollgate usage …`: log and read usage through a running server.

use clap::{Args, Subcommand};
use serde::Serialize;
use tollgate_api::usage::{LogEntry, LogsQuery, StatsQuery, UsageLogBody, UsageStats};
use tollgate_client::Client;

use super::output::{json, outln, table};

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8000")]
    pub server: String,
    /// API key (default: $TOLLGATE_API_KEY).
    #[arg(long, env = "TOLLGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl ClientArgs {
    /// The key to send, or what to do when none was given.
    pub fn key(&self) -> anyhow::Result<&str> {
        self.api_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no API key: pass --api-key KEY or set TOLLGATE_API_KEY (the first \
                     `tollgate serve` prints one; `tollgate keys create` makes more)"
                )
            })
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.server, self.key()?)?)
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
        /// day, month, model, provider, alias, origin, user, tool or dimension.
        #[arg(long, default_value = "day")]
        group_by: String,
        /// With `--group-by dimension`: the dimension (`kb_id`, or a configured one).
        #[arg(long)]
        dimension: Option<String>,
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
    /// The hold `tollgate authorize --hold` placed for this call, settled by it.
    #[arg(long, requires = "user")]
    hold_id: Option<String>,
    /// Event time (default now).
    #[arg(long)]
    timestamp: Option<String>,
    /// The knowledge base the call served (the `kb_id` dimension).
    #[arg(long)]
    kb_id: Option<String>,
    /// A dimension of the deployment, as NAME=VALUE (repeatable).
    #[arg(long = "dimension", value_name = "NAME=VALUE", value_parser = dimension_pair)]
    dimensions: Vec<(String, String)>,
}

/// `NAME=VALUE`, split at the first `=`.
fn dimension_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "'{text}' is not NAME=VALUE, such as feature=search"
        )),
    }
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
                    .log_usage(&UsageLogBody {
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
                        hold_id: log.hold_id,
                        timestamp: log.timestamp,
                        kb_id: log.kb_id,
                        dimensions: (!log.dimensions.is_empty()).then(|| {
                            log.dimensions
                                .into_iter()
                                .map(|(k, v)| (k, serde_json::Value::String(v)))
                                .collect()
                        }),
                        ..Default::default()
                    })
                    .await?;
                if as_json {
                    print_json(&logged)?;
                } else {
                    let dup = if logged.duplicate {
                        " (already recorded)"
                    } else {
                        ""
                    };
                    outln!(
                        "logged {} seq {}: {} {}{dup}",
                        logged.log_id,
                        logged.seq,
                        logged.cost_exact,
                        logged.currency
                    );
                }
            }
            Usage::Stats {
                client,
                start,
                end,
                group_by,
                dimension,
                json: as_json,
            } => {
                let q = StatsQuery {
                    start_date: start,
                    end_date: end,
                    group_by: Some(group_by),
                    dimension,
                };
                let stats = client.client()?.stats(&q).await?;
                if as_json {
                    print_json(&stats)?;
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
                let q = LogsQuery {
                    limit: Some(limit),
                    offset: Some(offset),
                    start_date: start,
                    end_date: end,
                    model,
                    alias,
                    user_id: user,
                    unpriced: unpriced.then_some(true),
                    ..Default::default()
                };
                let logs = client.client()?.logs(&q).await?;
                if as_json {
                    print_json(&logs)?;
                } else {
                    let rows = logs.logs.iter().map(log_row).collect();
                    outln!(
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

/// Pretty JSON of an answer, for `--json`.
fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", json(&serde_json::to_value(value)?));
    Ok(())
}

/// A logged call as a table row.
fn log_row(l: &LogEntry) -> Vec<String> {
    let flags: Vec<&str> = l.flags.iter().map(|f| f.as_str()).collect();
    vec![
        l.logged_at.clone(),
        l.provider.clone(),
        l.model.clone(),
        l.alias.clone().unwrap_or_default(),
        l.user_id.clone().unwrap_or_default(),
        l.input_tokens.to_string(),
        l.output_tokens.to_string(),
        l.cost_exact.clone(),
        flags.join(","),
    ]
}

fn print_stats(stats: &UsageStats) {
    let s = &stats.summary;
    let requests = match s.total_requests {
        1 => "1 request".to_string(),
        n => format!("{n} requests"),
    };
    outln!(
        "{requests}, {} tokens, {} {} ({} to {})",
        s.total_tokens,
        s.total_cost,
        s.currency,
        stats.start_date,
        stats.end_date,
    );
    if s.unpriced_requests > 0 {
        outln!(
            "{} of them unpriced: counted at 0 until a price exists (`tollgate usage logs --unpriced`)",
            s.unpriced_requests
        );
    }
    let rows = stats
        .groups
        .iter()
        .map(|g| {
            vec![
                g.key.clone(),
                g.stats.requests.to_string(),
                g.stats.input_tokens.to_string(),
                g.stats.output_tokens.to_string(),
                g.stats.cost.clone(),
                g.stats.unpriced_requests.to_string(),
            ]
        })
        .collect();
    outln!(
        "{}",
        table(
            &[
                stats.group_by.as_str(),
                "requests",
                "input tokens",
                "output tokens",
                "cost",
                "unpriced"
            ],
            rows
        )
    );
}
