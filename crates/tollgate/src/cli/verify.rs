//! `tollgate receipts verify FILE`: a receipt's signature, offline with a PEM key or with the
//! key a server publishes, and with `--logs` its set commitment, totals, unpriced count and
//! dimension breakdown recomputed from the receipt's logs as `tollgate receipts logs ID
//! --jsonl` exports them.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use tollgate_api::receipts::{Receipt, ReceiptDocument};
use tollgate_core::Nanos;
use tollgate_receipts::merkle::{self, leaf_hash};
use tollgate_receipts::receipt::{states_unpriced, FORMAT_V1, FORMAT_V2, FORMAT_V3};

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
    /// count, the Merkle root, the tokens, the cost and how many are unpriced, and compare
    /// them with the receipt.
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
                trust::receipt_key_from_server(&server, &receipt.receipt.key_id).await?
            }
        };
        // Read the logs before reporting anything, so that an unreadable file is a usage
        // error rather than half a report.
        let entries = self.logs.as_deref().map(read_entries).transpose()?;
        let mut report = Report::default();
        report.with("receipt_id", &receipt.receipt.receipt_id);
        report.with("key_id", &trusted.key_id);
        trust::check_signature(&mut report, &receipt, &trusted);
        if let Some(entries) = entries {
            check_logs(&mut report, &receipt.receipt, entries);
        }
        Ok(report)
    }
}

/// What a receipt file holds: llmring's list (the first is checked), a receipt under
/// `"receipt"`, or a bare receipt.
#[derive(Deserialize)]
#[serde(untagged)]
enum ReceiptFile {
    List { receipts: Vec<Value> },
    Wrapped { receipt: Value },
    Bare(Value),
}

/// The receipt in a file: bare, under `"receipt"`, or the first of `"receipts"`; kept as
/// the document it is, since that is what its signature covers.
pub fn read_receipt(path: &Path) -> anyhow::Result<ReceiptDocument> {
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
    let receipt = match ReceiptFile::deserialize(doc)
        .with_context(|| format!("{} holds no receipt", path.display()))?
    {
        ReceiptFile::List { receipts } => receipts
            .into_iter()
            .next()
            .with_context(|| format!("{} holds an empty \"receipts\" list", path.display()))?,
        ReceiptFile::Wrapped { receipt } | ReceiptFile::Bare(receipt) => receipt,
    };
    if !receipt.is_object() {
        bail!("{} holds no receipt object", path.display());
    }
    ReceiptDocument::new(receipt)
        .with_context(|| format!("{} holds no receipt Tollgate issued", path.display()))
}

/// One canonical entry from a logs file.
#[derive(Debug)]
struct Entry {
    /// 1-based line in the file.
    line: usize,
    /// The exact bytes the leaf hash covers.
    bytes: Vec<u8>,
    /// The members the totals are rebuilt from, or why they could not be read (then they
    /// fail a check).
    parsed: Result<EntryFields, String>,
}

/// The members of a canonical entry that `--logs` adds up.
#[derive(Debug, Deserialize)]
struct EntryFields {
    /// Position in the tenant log.
    seq: Option<i64>,
    /// Input tokens (0 when absent).
    #[serde(default)]
    input_tokens: i64,
    /// Output tokens (0 when absent).
    #[serde(default)]
    output_tokens: i64,
    /// The exact cost.
    cost: Option<String>,
    /// Its currency (USD when absent).
    currency: Option<String>,
    /// Its flags (none when absent).
    #[serde(default)]
    flags: Vec<String>,
    /// Every other member: the `dimension:<name>` ones are read from here.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

impl EntryFields {
    fn read(value: Value) -> Result<EntryFields, String> {
        serde_json::from_value(value).map_err(|e| format!("the entry's members do not read: {e}"))
    }

    /// Whether the entry was recorded unpriced (at zero cost, no price known): the one place
    /// the verifier decides what a receipt's `unpriced_events` counts.
    fn unpriced(&self) -> bool {
        self.flags.iter().any(|f| f == "unpriced")
    }

    /// The dimensions the entry recorded: its `dimension:<name>` members with string values.
    fn dimensions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rest
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("dimension:")?, v.as_str()?)))
    }
}

/// What a line of a logs file is read by: a listed log's `entry` string, or a bare entry's
/// `seq`.
#[derive(Deserialize)]
struct LineShape {
    entry: Option<Value>,
    seq: Option<Value>,
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
        let shape = LineShape::deserialize(&value).unwrap_or(LineShape {
            entry: None,
            seq: None,
        });
        let entry = match (shape.entry, shape.seq) {
            (Some(Value::String(entry)), _) => Entry {
                line: line_no,
                bytes: entry.as_bytes().to_vec(),
                parsed: serde_json::from_str(&entry)
                    .map_err(|_| "the entry is not JSON".to_string())
                    .and_then(EntryFields::read),
            },
            (None, Some(_)) => Entry {
                line: line_no,
                bytes: tollgate_receipts::canonicalize(&value).with_context(|| {
                    format!(
                        "{} line {line_no}: the entry has no canonical form",
                        path.display()
                    )
                })?,
                parsed: EntryFields::read(value),
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

/// Calls and cost per currency, per (dimension, value).
type DimensionSums = BTreeMap<(String, String), (i64, BTreeMap<String, Nanos>)>;

/// What the entries add up to, in `seq` order.
struct Recomputed {
    count: usize,
    root: [u8; 32],
    input_tokens: i64,
    output_tokens: i64,
    costs: BTreeMap<String, Nanos>,
    unpriced: i64,
    /// Per dimension and value: calls, and cost per currency.
    dimensions: DimensionSums,
    problems: Vec<String>,
}

fn recompute(mut entries: Vec<Entry>) -> Recomputed {
    let mut problems = Vec::new();
    let seq_of = |e: &Entry| e.parsed.as_ref().ok().and_then(|p| p.seq);
    for e in &entries {
        match &e.parsed {
            Err(why) => problems.push(format!("line {}: {why}", e.line)),
            Ok(p) if p.seq.is_none() => {
                problems.push(format!("line {}: the entry has no integer seq", e.line))
            }
            Ok(_) => {}
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
        unpriced: 0,
        dimensions: BTreeMap::new(),
        problems,
    };
    for e in &entries {
        let Ok(p) = &e.parsed else { continue };
        r.input_tokens = r.input_tokens.saturating_add(p.input_tokens);
        r.output_tokens = r.output_tokens.saturating_add(p.output_tokens);
        r.unpriced += i64::from(p.unpriced());
        let currency = p.currency.clone().unwrap_or_else(|| "USD".into());
        match p.cost.as_deref().map(Nanos::parse_exact) {
            Some(Ok(cost)) => {
                let mut overflow = !add_to(r.costs.entry(currency.clone()).or_default(), cost);
                for (name, value) in p.dimensions() {
                    let d = r
                        .dimensions
                        .entry((name.to_string(), value.to_string()))
                        .or_default();
                    d.0 += 1;
                    overflow |= !add_to(d.1.entry(currency.clone()).or_default(), cost);
                }
                if overflow {
                    r.problems
                        .push(format!("line {}: the costs overflow", e.line));
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

/// Adds `cost` to `sum`; false when it overflows (`sum` is left as it was).
fn add_to(sum: &mut Nanos, cost: Nanos) -> bool {
    match sum.checked_add(cost) {
        Some(total) => {
            *sum = total;
            true
        }
        None => false,
    }
}

/// Compares what the entries add up to with what the receipt certifies.
fn check_logs(report: &mut Report, receipt: &Receipt, entries: Vec<Entry>) {
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

    let claimed = receipt.certified.count;
    if claimed == r.count as i64 {
        report.pass("count", format!("{claimed} logs"));
    } else {
        report.fail(
            "count",
            format!(
                "the file holds {} entries; the receipt certifies {claimed}",
                r.count
            ),
        );
    }

    let computed_root = STANDARD.encode(r.root);
    let root = &receipt.certified.merkle_root;
    if *root == computed_root {
        report.pass("merkle root", root.clone());
    } else {
        report.fail(
            "merkle root",
            format!("the entries hash to {computed_root}; the receipt certifies {root}"),
        );
    }

    for (name, claimed, sum) in [
        ("prompt tokens", receipt.prompt_tokens, r.input_tokens),
        (
            "completion tokens",
            receipt.completion_tokens,
            r.output_tokens,
        ),
    ] {
        if claimed == sum {
            report.pass(name, claimed.to_string());
        } else {
            report.fail(
                name,
                format!("the entries add up to {sum}; the receipt says {claimed}"),
            );
        }
    }
    check_costs(report, receipt, &r.costs);
    check_unpriced(report, receipt, r.unpriced);
    check_dimensions(report, receipt, &r.dimensions);
}

/// Compares the calls and cost per dimension value with the receipt's `by_dimension`; a
/// receipt issued before receipts stated it (v1 to v3) passes with the entries' count shown.
fn check_dimensions(report: &mut Report, receipt: &Receipt, counted: &DimensionSums) {
    const NAME: &str = "dimensions";
    let Some(stated) = &receipt.batch_summary.by_dimension else {
        let older = [FORMAT_V1, FORMAT_V2, FORMAT_V3].contains(&receipt.format.as_str());
        if older {
            report.pass(
                NAME,
                format!(
                    "not stated by a {} receipt; the entries hold {} dimension values",
                    receipt.format,
                    counted.len()
                ),
            );
        } else {
            report.fail(
                NAME,
                format!(
                    "a {} receipt states batch_summary.by_dimension, but this one does not",
                    receipt.format
                ),
            );
        }
        return;
    };
    let mut claimed = BTreeMap::new();
    for (name, values) in stated {
        for (value, b) in values {
            let mut costs = BTreeMap::new();
            for (currency, amount) in &b.amounts {
                let Ok(n) = Nanos::parse_exact(amount) else {
                    report.fail(
                        NAME,
                        format!("by_dimension.{name}.{value}.amounts.{currency} is not exact"),
                    );
                    return;
                };
                costs.insert(currency.clone(), n);
            }
            claimed.insert((name.clone(), value.clone()), (b.calls, costs));
        }
    }
    if &claimed == counted {
        report.pass(
            NAME,
            format!("{} values, calls and cost each", claimed.len()),
        );
        return;
    }
    let differing = claimed
        .keys()
        .chain(counted.keys())
        .find(|k| claimed.get(*k) != counted.get(*k))
        .map(|(n, v)| format!("{n}={v}"))
        .unwrap_or_default();
    report.fail(
        NAME,
        format!("the entries and the receipt's by_dimension differ, first at {differing}"),
    );
}

/// Compares how many entries are unpriced with what the receipt states; a receipt issued
/// before receipts stated it (v1, v2) passes with the entries' count shown.
fn check_unpriced(report: &mut Report, receipt: &Receipt, counted: i64) {
    const NAME: &str = "unpriced events";
    match receipt.unpriced_events {
        Some(n) if n == counted => report.pass(NAME, format!("{n}, in the total cost at 0")),
        Some(n) => report.fail(
            NAME,
            format!("the entries hold {counted} unpriced; the receipt says {n}"),
        ),
        None if states_unpriced(&receipt.format) => report.fail(
            NAME,
            format!(
                "a {} receipt states unpriced_events, but this one does not",
                receipt.format
            ),
        ),
        None => report.pass(
            NAME,
            format!(
                "not stated by a {} receipt; the entries hold {counted}",
                receipt.format
            ),
        ),
    }
}

fn check_costs(report: &mut Report, receipt: &Receipt, computed: &BTreeMap<String, Nanos>) {
    let mut claimed = BTreeMap::new();
    for (currency, a) in &receipt.amounts {
        match Nanos::parse_exact(&a.total_cost) {
            Ok(n) => {
                claimed.insert(currency.clone(), n);
            }
            Err(_) => {
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
    use serde_json::json;

    fn entry(line: usize, seq: i64, input: i64, cost: &str) -> Entry {
        let v = json!({"seq": seq, "input_tokens": input, "output_tokens": 1, "cost": cost, "currency": "USD", "flags": []});
        Entry {
            line,
            bytes: tollgate_receipts::canonicalize(&v).expect("canonical"),
            parsed: EntryFields::read(v),
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
    fn entries_flagged_unpriced_are_counted() {
        let mut flagged =
            json!({"seq": 1, "cost": "0.000000000", "flags": ["estimated", "unpriced"]});
        let unpriced = Entry {
            line: 2,
            bytes: tollgate_receipts::canonicalize(&flagged).expect("canonical"),
            parsed: EntryFields::read(flagged.take()),
        };
        let r = recompute(vec![entry(1, 0, 10, "0.1"), unpriced]);
        assert_eq!(r.unpriced, 1);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn entries_are_summed_per_dimension_value_and_currency() {
        let tagged = |line: usize, seq: i64, kb: &str, cost: &str| {
            let v = json!({"seq": seq, "cost": cost, "currency": "USD", "flags": [],
                           "dimension:kb_id": kb});
            Entry {
                line,
                bytes: tollgate_receipts::canonicalize(&v).expect("canonical"),
                parsed: EntryFields::read(v),
            }
        };
        let r = recompute(vec![
            tagged(1, 0, "kb_1", "0.1"),
            tagged(2, 1, "kb_1", "0.2"),
            tagged(3, 2, "kb_2", "0.5"),
            entry(4, 3, 1, "1"),
        ]);
        let kb1 = &r.dimensions[&("kb_id".to_string(), "kb_1".to_string())];
        assert_eq!(kb1.0, 2);
        assert_eq!(kb1.1["USD"].to_string(), "0.300000000");
        assert_eq!(
            r.dimensions.len(),
            2,
            "the untagged entry is under no value"
        );
        assert_eq!(r.costs["USD"].to_string(), "1.800000000");
    }

    #[test]
    fn money_is_summed_exactly() {
        let entries = (0..10).map(|i| entry(i + 1, i as i64, 1, "0.1")).collect();
        assert_eq!(recompute(entries).costs["USD"].to_string(), "1.000000000");
    }
}
