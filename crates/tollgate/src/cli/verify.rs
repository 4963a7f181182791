//! `tollgate receipts verify FILE`: a receipt's signature, offline with a PEM key or with the
//! key a server publishes, and with `--logs` its set commitment and totals recomputed from
//! the receipt's logs as `tollgate receipts logs ID --jsonl` exports them.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use serde_json::{json, Value};
use tollgate_core::Nanos;
use tollgate_receipts::merkle::{self, leaf_hash};

use super::checks::{finish, Report};
use super::trust;

/// Checks a receipt file.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("key_source").args(["public_key", "server"])))]
pub struct Verify {
    /// The receipt: its JSON, `{"receipt": {...}}`, or llmring's `{"receipts": [...]}` (the
    /// first is checked); `-` reads standard input.
    file: PathBuf,
    /// Verify offline with this public key (SubjectPublicKeyInfo PEM, as
    /// `/receipts/public-key.pem` serves it).
    #[arg(long, value_name = "PEM_FILE")]
    public_key: Option<PathBuf>,
    /// Use the key the receipt names from this server's published keys (no API key
    /// needed; default: $TOLLGATE_URL, else http://127.0.0.1:8000).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The receipt's logs as JSON lines (`tollgate receipts logs ID --jsonl`): recompute the
    /// count, the Merkle root, the tokens and the cost and compare them with the receipt.
    #[arg(long, value_name = "FILE")]
    logs: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Verify {
    /// Checks the receipt and prints the report; exit 0 valid, 1 not, 2 could not check.
    pub async fn run(self) -> ExitCode {
        let as_json = self.json;
        finish(self.check().await, as_json)
    }

    async fn check(self) -> anyhow::Result<Report> {
        let receipt = read_receipt(&self.file)?;
        let trusted = match &self.public_key {
            Some(path) => trust::key_from_file(path)?,
            None => {
                let server = trust::server_or_default(self.server.as_deref());
                trust::receipt_key_from_server(&server, &receipt).await?
            }
        };
        // Read the logs before reporting anything, so that an unreadable file is a usage
        // error rather than half a report.
        let entries = self.logs.as_deref().map(read_entries).transpose()?;
        let mut report = Report::default();
        report.with("receipt_id", receipt["receipt_id"].clone());
        report.with("key_id", json!(trusted.key_id));
        trust::check_signature(&mut report, &receipt, &trusted);
        if let Some(entries) = entries {
            check_logs(&mut report, &receipt, entries);
        }
        Ok(report)
    }
}

/// The receipt in a file: bare, under `"receipt"`, or the first of `"receipts"`.
pub fn read_receipt(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the receipt from standard input")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read receipt file {}", path.display()))?
    };
    // Strict: a member repeated in one object could show a reader numbers the signature does
    // not cover.
    let doc: Value = tollgate_receipts::parse_strict(text.as_bytes())
        .with_context(|| format!("{} is not a well-formed receipt", path.display()))?;
    let receipt = match (doc.get("receipts"), doc.get("receipt")) {
        (Some(Value::Array(all)), _) => all
            .first()
            .cloned()
            .with_context(|| format!("{} holds an empty \"receipts\" list", path.display()))?,
        (_, Some(r)) if r.is_object() => r.clone(),
        _ => doc,
    };
    if !receipt.is_object() {
        bail!("{} holds no receipt object", path.display());
    }
    Ok(receipt)
}

/// One canonical entry from a logs file.
#[derive(Debug)]
struct Entry {
    /// 1-based line in the file.
    line: usize,
    /// The exact bytes the leaf hash covers.
    bytes: Vec<u8>,
    /// Those bytes parsed; None when they are not JSON (then they fail a check).
    parsed: Option<Value>,
}

/// Reads a logs file: each line a listed log with an `"entry"` string (the canonical bytes,
/// used exactly as they are), or a bare entry object with a `"seq"` (canonicalized again).
fn read_entries(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read logs file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {line_no} is not JSON", path.display()))?;
        let entry = match (value.get("entry"), value.get("seq")) {
            (Some(Value::String(entry)), _) => Entry {
                line: line_no,
                bytes: entry.as_bytes().to_vec(),
                parsed: serde_json::from_str(entry).ok(),
            },
            (None, Some(_)) => Entry {
                line: line_no,
                bytes: tollgate_receipts::canonicalize(&value).with_context(|| {
                    format!(
                        "{} line {line_no}: the entry has no canonical form",
                        path.display()
                    )
                })?,
                parsed: Some(value),
            },
            _ => bail!(
                "{} line {line_no} is neither a listed log (with an \"entry\" string) nor a \
                 canonical entry (with a \"seq\")",
                path.display()
            ),
        };
        out.push(entry);
    }
    Ok(out)
}

/// What the entries add up to, in `seq` order.
struct Recomputed {
    count: usize,
    root: [u8; 32],
    input_tokens: i64,
    output_tokens: i64,
    costs: BTreeMap<String, Nanos>,
    problems: Vec<String>,
}

fn recompute(mut entries: Vec<Entry>) -> Recomputed {
    let mut problems = Vec::new();
    let seq_of = |e: &Entry| e.parsed.as_ref().and_then(|p| p["seq"].as_i64());
    for e in &entries {
        if e.parsed.is_none() {
            problems.push(format!("line {}: the entry is not JSON", e.line));
        } else if seq_of(e).is_none() {
            problems.push(format!("line {}: the entry has no integer seq", e.line));
        }
    }
    entries.sort_by_key(|e| (seq_of(e), e.line));
    for pair in entries.windows(2) {
        if let (Some(a), Some(b)) = (seq_of(&pair[0]), seq_of(&pair[1])) {
            if a == b {
                problems.push(format!(
                    "lines {} and {} both hold seq {a}",
                    pair[0].line, pair[1].line
                ));
            }
        }
    }
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(&e.bytes)).collect();
    let mut r = Recomputed {
        count: entries.len(),
        root: merkle::root(&leaves),
        input_tokens: 0,
        output_tokens: 0,
        costs: BTreeMap::new(),
        problems,
    };
    for e in &entries {
        let Some(p) = &e.parsed else { continue };
        r.input_tokens = r
            .input_tokens
            .saturating_add(p["input_tokens"].as_i64().unwrap_or(0));
        r.output_tokens = r
            .output_tokens
            .saturating_add(p["output_tokens"].as_i64().unwrap_or(0));
        let currency = p["currency"].as_str().unwrap_or("USD").to_string();
        match p["cost"].as_str().map(Nanos::parse_exact) {
            Some(Ok(cost)) => {
                let sum = r.costs.entry(currency).or_insert(Nanos::ZERO);
                match sum.checked_add(cost) {
                    Some(total) => *sum = total,
                    None => r
                        .problems
                        .push(format!("line {}: the costs overflow", e.line)),
                }
            }
            _ => r.problems.push(format!(
                "line {}: the entry has no exact decimal cost",
                e.line
            )),
        }
    }
    r
}

/// Compares what the entries add up to with what the receipt certifies.
fn check_logs(report: &mut Report, receipt: &Value, entries: Vec<Entry>) {
    let r = recompute(entries);
    if r.problems.is_empty() {
        report.pass(
            "logs file",
            format!("{} canonical entries, ordered by seq", r.count),
        );
    } else {
        let shown: Vec<_> = r.problems.iter().take(5).cloned().collect();
        let more = r.problems.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        report.fail("logs file", format!("{}{tail}", shown.join("; ")));
    }

    let claimed_count = receipt.pointer("/certified/count").and_then(Value::as_u64);
    match claimed_count {
        Some(n) if n == r.count as u64 => report.pass("count", format!("{n} logs")),
        Some(n) => report.fail(
            "count",
            format!(
                "the file holds {} entries; the receipt certifies {n}",
                r.count
            ),
        ),
        None => report.fail("count", "the receipt has no certified.count"),
    }

    let computed_root = STANDARD.encode(r.root);
    match receipt
        .pointer("/certified/merkle_root")
        .and_then(Value::as_str)
    {
        Some(root) if root == computed_root => report.pass("merkle root", root),
        Some(root) => report.fail(
            "merkle root",
            format!("the entries hash to {computed_root}; the receipt certifies {root}"),
        ),
        None => report.fail("merkle root", "the receipt has no certified.merkle_root"),
    }

    for (name, field, sum) in [
        ("prompt tokens", "prompt_tokens", r.input_tokens),
        ("completion tokens", "completion_tokens", r.output_tokens),
    ] {
        match receipt[field].as_i64() {
            Some(n) if n == sum => report.pass(name, n.to_string()),
            Some(n) => report.fail(
                name,
                format!("the entries add up to {sum}; the receipt says {n}"),
            ),
            None => report.fail(name, format!("the receipt has no {field}")),
        }
    }
    check_costs(report, receipt, &r.costs);
}

fn check_costs(report: &mut Report, receipt: &Value, computed: &BTreeMap<String, Nanos>) {
    let Some(amounts) = receipt["amounts"].as_object() else {
        report.fail("total cost", "the receipt has no exact amounts");
        return;
    };
    let mut claimed = BTreeMap::new();
    for (currency, a) in amounts {
        match a["total_cost"].as_str().map(Nanos::parse_exact) {
            Some(Ok(n)) => {
                claimed.insert(currency.clone(), n);
            }
            _ => {
                report.fail(
                    "total cost",
                    format!("amounts.{currency}.total_cost is not an exact decimal"),
                );
                return;
            }
        }
    }
    let show = |m: &BTreeMap<String, Nanos>| {
        if m.is_empty() {
            return "nothing".to_string();
        }
        m.iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if &claimed == computed {
        report.pass("total cost", show(computed));
    } else {
        report.fail(
            "total cost",
            format!(
                "the entries add up to {}; the receipt says {}",
                show(computed),
                show(&claimed)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: usize, seq: i64, input: i64, cost: &str) -> Entry {
        let v = json!({"seq": seq, "input_tokens": input, "output_tokens": 1, "cost": cost, "currency": "USD"});
        Entry {
            line,
            bytes: tollgate_receipts::canonicalize(&v).expect("canonical"),
            parsed: Some(v),
        }
    }

    #[test]
    fn entries_are_hashed_in_seq_order_whatever_the_file_order() {
        let ordered = recompute(vec![entry(1, 0, 10, "0.1"), entry(2, 1, 20, "0.2")]);
        let shuffled = recompute(vec![entry(1, 1, 20, "0.2"), entry(2, 0, 10, "0.1")]);
        assert_eq!(ordered.root, shuffled.root);
        assert_eq!(ordered.input_tokens, 30);
        assert_eq!(ordered.costs["USD"].to_string(), "0.300000000");
        assert!(ordered.problems.is_empty());
    }

    #[test]
    fn a_repeated_seq_is_reported() {
        let r = recompute(vec![entry(1, 0, 10, "0.1"), entry(2, 0, 10, "0.1")]);
        assert!(
            r.problems[0].contains("both hold seq 0"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn money_is_summed_exactly() {
        let entries = (0..10).map(|i| entry(i + 1, i as i64, 1, "0.1")).collect();
        assert_eq!(recompute(entries).costs["USD"].to_string(), "1.000000000");
    }
}
