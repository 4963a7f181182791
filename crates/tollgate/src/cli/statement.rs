//! `tollgate billing statement`: an account's monthly statement through a running server, as
//! tables for people, or the server's JSON, CSV or printable HTML, to standard output or a
//! file.

use clap::{Args, ValueEnum};
use tollgate_api::billing::{CurrencyStatement, Statement, StatementQuery};

use super::billing_tables::human;
use super::output::{fields, table};
use super::sink::Output;
use super::usage::ClientArgs;

/// What `billing statement` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatementFormat {
    /// Tables, for people.
    Text,
    /// The server's JSON.
    Json,
    /// The server's CSV: a row per balance, credit and charge group.
    Csv,
    /// The server's printable HTML page.
    Html,
}

/// Arguments of `billing statement`.
#[derive(Debug, Args)]
pub struct StatementArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The account's user (default: the tenant's own account).
    #[arg(long)]
    user: Option<String>,
    /// The UTC month, YYYY-MM (default: this month).
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
    /// Only this currency (default: every currency the account holds).
    #[arg(long)]
    currency: Option<String>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = StatementFormat::Text)]
    format: StatementFormat,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// The file to write (`-` or none: standard output).
    #[arg(short, long, value_name = "FILE", value_parser = Output::parse, default_value = "-")]
    output: Output,
}

impl StatementArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = self.client.client()?;
        let format = if self.json {
            StatementFormat::Json
        } else {
            self.format
        };
        let wire = match format {
            StatementFormat::Text => None,
            StatementFormat::Json => Some("json"),
            StatementFormat::Csv => Some("csv"),
            StatementFormat::Html => Some("html"),
        };
        let query = StatementQuery {
            user_id: self.user,
            month: self.month,
            currency: self.currency,
            format: wire.map(str::to_string),
        };
        let bytes = match wire {
            Some(_) => client.statement_document(&query).await?,
            None => text(&client.statement(&query).await?).into_bytes(),
        };
        self.output.write(&bytes)?;
        if let Output::File(_) = &self.output {
            eprintln!("wrote the statement to {}", self.output.describe());
        }
        Ok(())
    }
}

fn currency_text(c: &CurrencyStatement) -> String {
    let negative = |amount: &str| format!("-{}", human(amount));
    let mut rows = vec![
        vec![
            "opening balance".into(),
            String::new(),
            human(&c.opening_balance),
        ],
        vec![
            "top-ups".into(),
            c.topups.entries.to_string(),
            human(&c.topups.amount),
        ],
    ];
    for m in &c.charges.by_model {
        rows.push(vec![
            format!("charges {}/{}", m.provider, m.model),
            m.entries.to_string(),
            negative(&m.amount),
        ]);
    }
    for t in &c.charges.by_tool {
        rows.push(vec![
            format!("charges tool {}", t.tool),
            t.entries.to_string(),
            negative(&t.amount),
        ]);
    }
    if c.charges.unattributed.entries > 0 {
        rows.push(vec![
            "charges (events no longer stored)".into(),
            c.charges.unattributed.entries.to_string(),
            negative(&c.charges.unattributed.amount),
        ]);
    }
    rows.push(vec![
        "refunds".into(),
        c.refunds.entries.to_string(),
        human(&c.refunds.amount),
    ]);
    rows.push(vec![
        "adjustments".into(),
        (c.adjustments.credits.entries + c.adjustments.debits.entries).to_string(),
        human(&c.adjustments.net),
    ]);
    rows.push(vec![
        "closing balance".into(),
        String::new(),
        human(&c.closing_balance),
    ]);
    table(&["", "entries", &c.currency], rows)
}

/// A statement for people.
fn text(s: &Statement) -> String {
    let account = match s.user_id.as_str() {
        "" => "(the tenant's own account)".to_string(),
        u => u.to_string(),
    };
    let state = if s.complete {
        "complete".to_string()
    } else {
        format!("to date, as of {}", s.generated_at)
    };
    let mut out = fields(vec![
        ("account", account),
        ("month", format!("{} ({state})", s.month)),
    ]);
    out.push('\n');
    for c in &s.currencies {
        out.push_str(&currency_text(c));
        out.push('\n');
    }
    out
}
