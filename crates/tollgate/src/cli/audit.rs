//! `tollgate billing audit`: every stored balance must equal the sum of its ledger entries,
//! and what it says is held must equal its open holds. It reads the configured database
//! directly and changes nothing.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use tollgate_store::{AuditFinding, AuditReport};

use super::checks::{INVALID, UNUSABLE, VALID};
use super::output::{json, outln, table};
use super::Db;
use crate::config;

/// Arguments of `billing audit`.
#[derive(Debug, Args)]
pub struct Audit {
    #[command(flatten)]
    db: Db,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Audit {
    /// Audits and prints the findings: exit 0 none, 1 some, 2 could not audit.
    pub async fn run(self) -> ExitCode {
        match self.audit().await {
            Ok((report, names)) => {
                print(&report, &names, self.json);
                ExitCode::from(if report.findings.is_empty() {
                    VALID
                } else {
                    INVALID
                })
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(UNUSABLE)
            }
        }
    }

    /// The report, and the names of the tenants it mentions.
    async fn audit(&self) -> anyhow::Result<(AuditReport, HashMap<String, String>)> {
        let store = config::open_store(&config::load(&self.db, &[])?).await?;
        let report = store.audit().await?;
        let names = if report.findings.is_empty() {
            HashMap::new()
        } else {
            store
                .list_tenants()
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect()
        };
        Ok((report, names))
    }
}

fn finding_json(f: &AuditFinding, names: &HashMap<String, String>) -> Value {
    json!({
        "tenant_id": f.tenant_id,
        "tenant": names.get(&f.tenant_id),
        "user_id": f.user_id,
        "currency": f.currency,
        "balance": f.balance.to_string(),
        "ledger_sum": f.ledger_sum.to_string(),
        "held": f.held.to_string(),
        "open_holds": f.open_holds.to_string(),
    })
}

fn print(report: &AuditReport, names: &HashMap<String, String>, as_json: bool) {
    if as_json {
        let findings: Vec<Value> = report
            .findings
            .iter()
            .map(|f| finding_json(f, names))
            .collect();
        outln!(
            "{}",
            json(&json!({
                "checked": report.checked,
                "consistent": report.findings.is_empty(),
                "findings": findings,
            }))
        );
        return;
    }
    if report.findings.is_empty() {
        outln!(
            "✓ {}: each equals the sum of its ledger, and its held amount its open holds",
            balances(report.checked)
        );
        return;
    }
    let rows = report
        .findings
        .iter()
        .map(|f| {
            vec![
                names.get(&f.tenant_id).unwrap_or(&f.tenant_id).clone(),
                f.user_id.clone(),
                f.currency.clone(),
                f.balance.to_string(),
                f.ledger_sum.to_string(),
                f.held.to_string(),
                f.open_holds.to_string(),
            ]
        })
        .collect();
    outln!(
        "{}",
        table(
            &[
                "tenant",
                "user",
                "currency",
                "stored balance",
                "ledger sum",
                "held",
                "open holds"
            ],
            rows
        )
    );
    outln!(
        "✗ {} of {} checked differ from their ledger or their holds",
        report.findings.len(),
        balances(report.checked)
    );
}

/// "1 account balance", "3 account balances" (one per account and currency).
fn balances(n: i64) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} account balance{s}")
}
