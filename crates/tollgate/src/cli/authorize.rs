//! `tollgate authorize`: asks the server whether a call may happen, and with `--hold`
//! reserves its estimate, for scripts to gate a call on. Exit 0 allowed, 1 refused (402),
//! 2 could not ask.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use tollgate_client::{Authorization, AuthorizeRequest};

use super::billing_tables::human;
use super::checks::{INVALID, UNUSABLE, VALID};
use super::output::{cell, json};
use super::usage::ClientArgs;

/// Arguments of `authorize`: an estimate as a cost, or as a model and token counts.
#[derive(Debug, Args)]
pub struct Authorize {
    #[command(flatten)]
    client: ClientArgs,
    /// The account that pays (default: only the tenant's quota is checked).
    #[arg(long)]
    user: Option<String>,
    /// Price the call with this model's current price.
    #[arg(long, conflicts_with = "cost")]
    model: Option<String>,
    /// The model's provider.
    #[arg(long, requires = "model")]
    provider: Option<String>,
    /// Expected prompt tokens.
    #[arg(long, value_name = "N", requires = "model")]
    input_tokens: Option<i64>,
    /// Expected generated tokens.
    #[arg(long, value_name = "N", requires = "model")]
    output_tokens: Option<i64>,
    /// The estimated cost itself, a decimal amount such as 0.05.
    #[arg(long, value_name = "AMOUNT")]
    cost: Option<String>,
    /// Currency of --cost (default: the server's account currency).
    #[arg(long, requires = "cost")]
    currency: Option<String>,
    /// Reserve the estimate until a usage event carrying the hold id settles it.
    #[arg(long)]
    hold: bool,
    /// How long the hold lasts (default: the server's hold TTL).
    #[arg(long, value_name = "SECONDS", requires = "hold")]
    ttl: Option<i64>,
    /// Print JSON: the decision, or the refusal with the numbers behind it.
    #[arg(long)]
    json: bool,
}

impl Authorize {
    /// Asks and prints the decision; exit 0 allowed, 1 refused, 2 could not ask.
    pub async fn run(self) -> ExitCode {
        let as_json = self.json;
        match self.ask().await {
            Ok(Authorization::Allowed(body)) => {
                if as_json {
                    println!("{}", json(&body));
                } else {
                    print_allowed(&body);
                }
                ExitCode::from(VALID)
            }
            Ok(Authorization::Refused {
                code,
                message,
                details,
            }) => {
                if as_json {
                    println!("{}", json(&details));
                } else {
                    println!("refused: {code}: {message}");
                    print_numbers(&details);
                }
                ExitCode::from(INVALID)
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                if as_json {
                    println!(
                        "{}",
                        json(&json!({"allowed": null, "error": format!("{e:#}")}))
                    );
                }
                ExitCode::from(UNUSABLE)
            }
        }
    }

    async fn ask(self) -> anyhow::Result<Authorization> {
        let request = AuthorizeRequest {
            user_id: self.user,
            provider: self.provider,
            model: self.model,
            estimated_input_tokens: self.input_tokens,
            estimated_output_tokens: self.output_tokens,
            estimated_cost: self.cost,
            currency: self.currency,
            hold: self.hold,
            hold_ttl_seconds: self.ttl,
        };
        Ok(self.client.client()?.authorize(&request).await?)
    }
}

fn print_allowed(body: &Value) {
    let estimate = format!(
        "{} {}",
        human(&body["estimate"]["amount"]),
        cell(&body["estimate"]["currency"])
    );
    match body["hold_id"].as_str() {
        Some(id) => println!(
            "allowed: hold {id} reserves {estimate} until {}",
            cell(&body["hold_expires_at"])
        ),
        None => println!("allowed: estimate {estimate}"),
    }
    print_numbers(body);
}

/// The quota and the account behind a decision.
fn print_numbers(body: &Value) {
    let q = &body["quota"];
    if q.is_object() {
        let limit = match cell(&q["limit"]) {
            l if l.is_empty() => "unlimited".to_string(),
            l => l,
        };
        println!(
            "quota: plan {}, {} used and {} reserved of {limit} this month",
            cell(&q["plan"]),
            cell(&q["used"]),
            cell(&q["reserved"]),
        );
    }
    let b = &body["balance"];
    if b.is_object() {
        let currency = cell(&b["currency"]);
        println!(
            "account {}: balance {} {currency}, {} held, {} available",
            cell(&b["user_id"]),
            human(&b["balance"]),
            human(&b["held"]),
            human(&b["available"]),
        );
        let l = &b["limits"];
        let of = |limit: &Value| match human(limit) {
            s if s.is_empty() => "no limit".to_string(),
            s => format!("limit {s}"),
        };
        println!(
            "used {} today ({}), {} this month ({}) in {}, holds included",
            human(&l["daily_used"]),
            of(&l["daily"]),
            human(&l["monthly_used"]),
            of(&l["monthly"]),
            cell(&l["currency"]),
        );
    }
}
