//! `tollgate billing …`: balances, the ledger, credits and account settings through a
//! running server (the server checks the key's scopes), and `audit`, which reads the
//! configured database directly (see `audit.rs`).

use std::process::ExitCode;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use serde::Serialize;
use tollgate_api::billing::{
    CreditBody, Credited, HistoryQuery, LedgerEntryType, OverridesBody, SettingsBody,
};
use tollgate_client::{Client, ClientError, CreditKind, CreditOutcome};

use super::audit::Audit;
use super::billing_tables::{print_account, print_credit, print_history};
use super::output::{json, outln, table};
use super::statement::StatementArgs;
use super::usage::ClientArgs;

/// Attempts at a credit when the server cannot be reached or is briefly unavailable.
const CREDIT_ATTEMPTS: u32 = 3;

/// Billing accounts and the ledger.
#[derive(Debug, Subcommand)]
pub enum Billing {
    /// An account's balances, limits and spend.
    Balance {
        #[command(flatten)]
        client: ClientArgs,
        /// The account's user (default: the tenant's own account).
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An account's ledger entries, newest first.
    History {
        #[command(flatten)]
        client: ClientArgs,
        /// The account's user (default: the tenant's own account).
        #[arg(long)]
        user: Option<String>,
        /// Only entries of this type.
        #[arg(long = "type", value_name = "TYPE", value_parser = ledger_kinds())]
        kind: Option<String>,
        /// From this date or RFC 3339 instant.
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// Up to this date (the whole day) or instant.
        #[arg(long, value_name = "DATE")]
        end: Option<String>,
        /// How many (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Credit money paid in (a key with the billing scope).
    Topup(CreditArgs),
    /// Give money back, optionally for one usage event (billing scope).
    Refund {
        #[command(flatten)]
        credit: CreditArgs,
        /// The usage event refunded.
        #[arg(long, value_name = "ID")]
        log_id: Option<String>,
    },
    /// Correct a balance, upwards or with --debit downwards (billing scope).
    Adjust {
        #[command(flatten)]
        credit: CreditArgs,
        /// Take the amount away instead of adding it.
        #[arg(long)]
        debit: bool,
    },
    /// Change an account's limits and status (admin key); without a change, show them.
    Settings(SettingsArgs),
    /// An account's monthly statement: opening balance, top-ups, charges by model and by
    /// tool, refunds, adjustments and closing balance, per currency.
    Statement(StatementArgs),
    /// An admin's overrides on an account (admin key): allow an overdraft, suspend or resume
    /// it, lift its limits until a time; each change goes to its audit trail. Without a
    /// change, show them and the trail.
    Overrides(OverridesArgs),
    /// Check every balance against the sum of its ledger and its open holds (acts on the
    /// database directly). Exit 0 consistent, 1 differences found, 2 could not check.
    Audit(Audit),
}

/// The fields every credit takes.
#[derive(Debug, Args)]
pub struct CreditArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// A positive decimal amount, such as 10 or 0.5.
    #[arg(long, allow_hyphen_values = true)]
    amount: String,
    /// ISO 4217 code (default: the server's account currency).
    #[arg(long)]
    currency: Option<String>,
    /// The account's user (default: the tenant's own account).
    #[arg(long)]
    user: Option<String>,
    /// A note kept on the ledger entry.
    #[arg(long)]
    description: Option<String>,
    /// Who took the payment (stripe, ...).
    #[arg(long, value_name = "P")]
    payment_provider: Option<String>,
    /// The payment's id at that provider.
    #[arg(long, value_name = "ID")]
    payment_id: Option<String>,
    /// Repeating a credit with the same key posts nothing new (default: a random key, kept
    /// across this command's own retries).
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `billing settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The account's user (default: the tenant's own account).
    #[arg(long)]
    user: Option<String>,
    /// Daily spending limit, or `none` to remove it.
    #[arg(long, value_name = "AMOUNT|none", value_parser = limit)]
    daily_limit: Option<Limit>,
    /// Monthly spending limit, or `none` to remove it.
    #[arg(long, value_name = "AMOUNT|none", value_parser = limit)]
    monthly_limit: Option<Limit>,
    /// Whether the account may be used.
    #[arg(long, value_name = "true|false")]
    active: Option<bool>,
    /// Whether usage is charged to the account.
    #[arg(long, value_name = "true|false")]
    billing_enabled: Option<bool>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `billing topup|refund|adjust --json` prints: the server's answer, whether it was a
/// repeat, and the idempotency key used (to repeat it safely).
#[derive(Serialize)]
struct CreditOutput<'a> {
    #[serde(flatten)]
    credited: &'a Credited,
    replayed: bool,
    idempotency_key: &'a str,
}

/// A spending limit as given: an amount, or none at all.
#[derive(Debug, Clone)]
pub struct Limit(Option<String>);

fn limit(text: &str) -> Result<Limit, String> {
    match text.trim() {
        "" => Err("give an amount such as 10, or none".into()),
        t if t.eq_ignore_ascii_case("none") => Ok(Limit(None)),
        t => Ok(Limit(Some(t.to_string()))),
    }
}

fn ledger_kinds() -> PossibleValuesParser {
    PossibleValuesParser::new(LedgerEntryType::ALL.map(|k| k.as_str()))
}

impl Billing {
    /// Runs the command; `audit` chooses its own exit code.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Billing::Audit(a) => return Ok(a.run().await),
            Billing::Balance {
                client,
                user,
                json: as_json,
            } => {
                let balance = client.client()?.balance(user.as_deref()).await?;
                if as_json {
                    outln!("{}", json(&balance));
                } else {
                    print_account(&balance);
                }
            }
            Billing::History {
                client,
                user,
                kind,
                start,
                end,
                limit,
                offset,
                json: as_json,
            } => {
                let query = HistoryQuery {
                    user_id: user,
                    limit: Some(limit),
                    offset: Some(offset),
                    kind,
                    start,
                    end,
                };
                let page = client.client()?.history(&query).await?;
                if as_json {
                    outln!("{}", json(&page));
                } else {
                    print_history(&page);
                }
            }
            Billing::Topup(c) => c.post(CreditKind::Topup, None, None).await?,
            Billing::Refund { credit, log_id } => {
                credit.post(CreditKind::Refund, log_id, None).await?
            }
            Billing::Adjust { credit, debit } => {
                let direction = debit.then(|| "debit".to_string());
                credit.post(CreditKind::Adjustment, None, direction).await?
            }
            Billing::Settings(s) => s.run().await?,
            Billing::Statement(s) => s.run().await?,
            Billing::Overrides(o) => o.run().await?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl CreditArgs {
    async fn post(
        self,
        kind: CreditKind,
        log_id: Option<String>,
        direction: Option<String>,
    ) -> anyhow::Result<()> {
        let client = self.client.client()?;
        let key = self
            .idempotency_key
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let credit = CreditBody {
            amount: Some(self.amount.into()),
            currency: self.currency.map(Into::into),
            user_id: self.user,
            description: self.description,
            payment_provider: self.payment_provider,
            payment_id: self.payment_id,
            log_id,
            direction,
            metadata: None,
        };
        let done = post_with_retries(&client, kind, &credit, &key).await?;
        if self.json {
            let out = CreditOutput {
                credited: &done.credited,
                replayed: done.replayed,
                idempotency_key: &key,
            };
            outln!("{}", json(&out));
        } else {
            print_credit(&done);
        }
        Ok(())
    }
}

/// Posts a credit, retrying with the same Idempotency-Key when the answer was lost or the
/// server was briefly unavailable: a credit that did land is answered, not posted again.
async fn post_with_retries(
    client: &Client,
    kind: CreditKind,
    credit: &CreditBody,
    key: &str,
) -> Result<CreditOutcome, ClientError> {
    let mut wait = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match client.credit(kind, credit, Some(key)).await {
            Err(e) if attempt < CREDIT_ATTEMPTS && worth_retrying(&e) => {
                eprintln!("warning: {e}; retrying with the same idempotency key");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

fn worth_retrying(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(t) => !t.is_builder() && !t.is_decode(),
        ClientError::Api { status, code, .. } => *status == 503 || code == "CONCURRENT_CHANGE",
    }
}

/// The flags of `billing overrides`.
#[derive(Debug, Args)]
pub struct OverridesArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The account's user (default: the tenant's own account).
    #[arg(long)]
    user: Option<String>,
    /// How far below zero the balance may go before calls are refused (0 ends it).
    #[arg(long, value_name = "AMOUNT")]
    overdraft: Option<String>,
    /// The overdraft's currency (default: the account's limit currency).
    #[arg(long, requires = "overdraft")]
    currency: Option<String>,
    /// Suspend the account: authorize refuses its calls.
    #[arg(long, conflicts_with = "resume")]
    suspend: bool,
    /// Resume a suspended account.
    #[arg(long)]
    resume: bool,
    /// Lift its spending and rate limits until this RFC 3339 instant.
    #[arg(long, value_name = "TIME", conflicts_with = "end_exemption")]
    exempt_until: Option<String>,
    /// End an exemption.
    #[arg(long)]
    end_exemption: bool,
    /// Why, kept in the audit trail.
    #[arg(long)]
    reason: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl OverridesArgs {
    async fn run(self) -> anyhow::Result<()> {
        let client = self.client.client()?;
        let suspended = match (self.suspend, self.resume) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let exempt_until = match (self.exempt_until, self.end_exemption) {
            (Some(t), _) => Some(Some(t)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let change = OverridesBody {
            user_id: self.user.clone(),
            overdraft: self.overdraft.map(Into::into),
            currency: self.currency,
            suspended,
            reason: self.reason,
            exempt_until,
        };
        let unchanged =
            change.overdraft.is_none() && suspended.is_none() && change.exempt_until.is_none();
        let overrides = if unchanged {
            client.overrides(self.user.as_deref()).await?
        } else {
            client.set_overrides(&change).await?
        };
        let trail = client.audit_trail(self.user.as_deref()).await?;
        if self.json {
            outln!(
                "{}",
                json(&serde_json::json!({"overrides": overrides, "audit": trail.entries}))
            );
            return Ok(());
        }
        let overdraft = if overrides.overdraft.is_empty() {
            "none".to_string()
        } else {
            overrides
                .overdraft
                .iter()
                .map(|(c, a)| format!("{a} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let suspended = match (&overrides.suspended, &overrides.suspended_reason) {
            (true, Some(why)) => format!("yes ({why})"),
            (true, None) => "yes".to_string(),
            (false, _) => "no".to_string(),
        };
        let rows = vec![
            vec!["overdraft".to_string(), overdraft],
            vec!["suspended".to_string(), suspended],
            vec![
                "exempt until".to_string(),
                overrides.exempt_until.clone().unwrap_or_else(|| "-".into()),
            ],
        ];
        outln!("{}", table(&["account", overrides.user_id.as_str()], rows));
        let rows: Vec<Vec<String>> = trail
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.created_at.clone(),
                    e.action.clone(),
                    serde_json::Value::Object(e.detail.clone()).to_string(),
                    e.set_by.clone(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            outln!("{}", table(&["when", "action", "detail", "set by"], rows));
        }
        Ok(())
    }
}

impl SettingsArgs {
    async fn run(self) -> anyhow::Result<()> {
        let client = self.client.client()?;
        let change = SettingsBody {
            user_id: self.user.clone(),
            daily_limit: self.daily_limit.map(|l| l.0.map(Into::into)),
            monthly_limit: self.monthly_limit.map(|l| l.0.map(Into::into)),
            is_active: self.active,
            billing_enabled: self.billing_enabled,
        };
        let unchanged = change.daily_limit.is_none()
            && change.monthly_limit.is_none()
            && change.is_active.is_none()
            && change.billing_enabled.is_none();
        // Nothing to change: show the settings without creating the account.
        let account = if unchanged {
            client.balance(self.user.as_deref()).await?
        } else {
            client.update_settings(&change).await?
        };
        if self.json {
            outln!("{}", json(&account));
        } else {
            print_account(&account);
        }
        Ok(())
    }
}
