//! `tollgate authorize`: asks the server whether a call may happen, and with `--hold`
//! reserves its estimate, for scripts to gate a call on. Exit 0 allowed, 1 refused (402),
//! 2 could not ask.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use tollgate_api::authorize::{AuthorizeBody, Decision};
use tollgate_client::Authorization;

use super::billing_tables::human;
use super::checks::{INVALID, UNUSABLE, VALID};
use super::output::{json, outln};
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
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
    /// Print only the hold id when a hold is placed (nothing otherwise), for a script to keep
    /// (`HOLD=$(…)`); a refusal is still explained on stderr, and the exit status still says
    /// whether the call may happen.
    #[arg(short, long)]
    quiet: bool,
}

impl Authorize {
    /// Asks and prints the decision; exit 0 allowed, 1 refused, 2 could not ask.
    pub async fn run(self) -> ExitCode {
        let (as_json, quiet) = (self.json, self.quiet);
        match self.ask().await {
            Ok(Authorization::Allowed(decision)) => {
                if quiet {
                    if let Some(id) = &decision.hold_id {
                        outln!("{id}");
                    }
                } else if as_json {
                    outln!("{}", json(&decision));
                } else {
                    print_allowed(&decision);
                }
                ExitCode::from(VALID)
            }
            Ok(Authorization::Refused(refusal)) => {
                if quiet {
                    eprintln!("refused: {}: {}", refusal.code, refusal.message);
                } else if as_json {
                    outln!("{}", json(&refusal));
                } else {
                    outln!("refused: {}: {}", refusal.code, refusal.message);
                    print_numbers(&refusal.decision);
                }
                ExitCode::from(INVALID)
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                if as_json {
                    outln!(
                        "{}",
                        json(&json!({"allowed": null, "error": format!("{e:#}")}))
                    );
                }
                ExitCode::from(UNUSABLE)
            }
        }
    }

    async fn ask(self) -> anyhow::Result<Authorization> {
        let request = AuthorizeBody {
            user_id: self.user,
            provider: self.provider,
            model: self.model,
            estimated_input_tokens: self.input_tokens,
            estimated_output_tokens: self.output_tokens,
            service_tier: None,
            estimated_cost: self.cost.map(Into::into),
            currency: self.currency,
            hold: self.hold,
            hold_ttl_seconds: self.ttl,
        };
        Ok(self.client.client()?.authorize(&request).await?)
    }
}

fn print_allowed(d: &Decision) {
    let estimate = format!("{} {}", human(&d.estimate.amount), d.estimate.currency);
    match &d.hold_id {
        Some(id) => outln!(
            "allowed: hold {id} reserves {estimate} until {}",
            d.hold_expires_at.as_deref().unwrap_or_default()
        ),
        None => outln!("allowed: estimate {estimate}"),
    }
    print_numbers(d);
}

/// The quota and the account behind a decision.
fn print_numbers(d: &Decision) {
    let q = &d.quota;
    let limit = q.limit.map_or("unlimited".to_string(), |l| l.to_string());
    outln!(
        "quota: plan {}, {} used and {} reserved of {limit} this month",
        q.plan,
        q.used,
        q.reserved,
    );
    if let Some(b) = &d.balance {
        let currency = &b.currency;
        outln!(
            "account {}: balance {} {currency}, {} held, {} available",
            b.user_id,
            human(&b.balance),
            human(&b.held),
            human(&b.available),
        );
        let l = &b.limits;
        let of = |limit: Option<&str>| match limit {
            None => "no limit".to_string(),
            Some(s) => format!("limit {}", human(s)),
        };
        outln!(
            "used {} today ({}), {} this month ({}) in {}, holds included",
            human(&l.daily_used),
            of(l.daily.as_deref()),
            human(&l.monthly_used),
            of(l.monthly.as_deref()),
            l.currency,
        );
    }
}
