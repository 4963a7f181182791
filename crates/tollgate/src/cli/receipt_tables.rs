//! How `tollgate receipts …` shows receipts, previews and log pages to people, and prints
//! them as JSON for scripts.

use std::collections::BTreeMap;

use serde::Serialize;
use tollgate_api::receipts::{
    CertifiedLog, ListedLog, PreviewAnswer, Receipt, ReceiptAmounts, ReceiptBreakdown, ReceiptList,
    ReceiptLogs, UncertifiedLogs,
};

use super::output::{fields, outln, table};

/// Pretty JSON of an answer (its members in the order the server sent them).
pub fn pretty<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

/// Exact totals, `0.007500000 USD`, else llmring's float in `currency`.
fn cost(amounts: &BTreeMap<String, ReceiptAmounts>, float: f64, currency: &str) -> String {
    if amounts.is_empty() {
        return format!("{float} {currency}");
    }
    amounts
        .iter()
        .map(|(c, a)| format!("{} {c}", a.total_cost))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A breakdown's exact cost per currency, else its float in `currency`.
fn breakdown_cost(b: &ReceiptBreakdown, currency: &str) -> String {
    if b.amounts.is_empty() {
        return format!("{} {currency}", b.cost);
    }
    b.amounts
        .iter()
        .map(|(c, total)| format!("{total} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tags(r: &Receipt, separator: &str) -> String {
    r.tags.as_deref().unwrap_or_default().join(separator)
}

/// A receipt's essentials as a two-column table.
pub fn summary(r: &Receipt) -> String {
    fields(vec![
        ("receipt", r.receipt_id.clone()),
        ("issued", r.timestamp.clone()),
        ("type", r.receipt_type.as_str().to_string()),
        ("logs certified", r.certified.count.to_string()),
        (
            "tokens",
            format!("{} in, {} out", r.prompt_tokens, r.completion_tokens),
        ),
        ("total cost", cost(&r.amounts, r.total_cost, &r.currency)),
        ("unpriced logs", unpriced_line(r)),
        ("profile", r.profile.to_string()),
        ("lock digest", r.lock_digest.to_string()),
        ("key id", r.key_id.clone()),
        ("merkle root", r.certified.merkle_root.clone()),
        ("description", r.description.clone().unwrap_or_default()),
        ("tags", tags(r, ", ")),
    ])
}

/// How many of a receipt's logs are unpriced, with what that means for the total, or that
/// it does not say (a receipt issued before receipts stated it).
fn unpriced_line(r: &Receipt) -> String {
    match r.unpriced_events {
        Some(0) => "0".into(),
        Some(n) => format!("{n}, in the total at 0 (no price was known)"),
        None => format!("not stated ({})", r.format),
    }
}

/// A page of receipts.
pub fn print_list(page: &ReceiptList) {
    let rows: Vec<Vec<String>> = page
        .receipts
        .iter()
        .map(|d| {
            let r = &d.receipt;
            vec![
                r.receipt_id.clone(),
                r.timestamp.clone(),
                r.receipt_type.as_str().to_string(),
                r.certified.count.to_string(),
                cost(&r.amounts, r.total_cost, &r.currency),
                r.unpriced_events.map(|n| n.to_string()).unwrap_or_default(),
                tags(r, ","),
                r.description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let shown = rows.len();
    outln!(
        "{}",
        table(
            &[
                "id",
                "issued",
                "type",
                "logs",
                "cost",
                "unpriced",
                "tags",
                "description"
            ],
            rows
        )
    );
    outln!("{shown} of {} receipts", page.total);
}

/// What a receipt would certify.
pub fn print_preview(p: &PreviewAnswer) {
    let p = match p {
        PreviewAnswer::Empty(empty) => {
            outln!("{}", empty.message);
            return;
        }
        PreviewAnswer::Found(p) => p,
    };
    outln!(
        "{}",
        fields(vec![
            ("logs", p.total_logs.to_string()),
            ("conversations", p.total_conversations.to_string()),
            ("type", p.receipt_type.as_str().to_string()),
            ("tokens", p.total_tokens.to_string()),
            ("total cost", cost(&p.amounts, p.total_cost, &p.currency)),
            ("unpriced logs", p.unpriced_events.to_string()),
            ("from", p.start_date.clone().unwrap_or_default()),
            ("to", p.end_date.clone().unwrap_or_default()),
        ])
    );
    let rows = p
        .by_model
        .iter()
        .map(|(model, b)| {
            vec![
                model.clone(),
                b.calls.to_string(),
                b.input_tokens.to_string(),
                b.output_tokens.to_string(),
                breakdown_cost(b, &p.currency),
                b.unpriced_calls.map(|n| n.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    outln!(
        "{}",
        table(
            &[
                "model",
                "calls",
                "input tokens",
                "output tokens",
                "cost",
                "unpriced"
            ],
            rows
        )
    );
    if !p.by_dimension.is_empty() {
        outln!("{}", dimension_table(&p.by_dimension, &p.currency));
    }
}

/// A breakdown by dimension and value, as a table.
pub fn dimension_table(
    by: &BTreeMap<String, BTreeMap<String, ReceiptBreakdown>>,
    currency: &str,
) -> String {
    let rows = by
        .iter()
        .flat_map(|(name, values)| {
            values.iter().map(move |(value, b)| {
                vec![
                    name.clone(),
                    value.clone(),
                    b.calls.to_string(),
                    b.tokens.to_string(),
                    breakdown_cost(b, currency),
                ]
            })
        })
        .collect();
    table(&["dimension", "value", "calls", "tokens", "cost"], rows)
}

const LOG_HEADER: [&str; 8] = [
    "seq", "id", "time", "provider", "model", "in", "out", "cost",
];

fn log_row(listed: &ListedLog) -> Vec<String> {
    let l = &listed.log;
    vec![
        l.seq.to_string(),
        l.id.clone(),
        listed.timestamp.clone(),
        l.provider.clone(),
        l.model.clone(),
        l.input_tokens.to_string(),
        l.output_tokens.to_string(),
        l.cost_exact.clone(),
    ]
}

/// A page of logs no receipt certifies.
pub fn print_uncertified(page: &UncertifiedLogs) {
    let rows: Vec<Vec<String>> = page.logs.iter().map(log_row).collect();
    let shown = rows.len();
    outln!("{}", table(&LOG_HEADER, rows));
    outln!("{shown} of {} logs", page.total);
}

/// A page of a receipt's logs, with their leaf index; an archived one shows what stays.
pub fn print_receipt_logs(page: &ReceiptLogs) {
    let mut header = vec!["index"];
    header.extend(LOG_HEADER);
    let rows: Vec<Vec<String>> = page
        .logs
        .iter()
        .map(|l| match l {
            CertifiedLog::Live(l) => {
                let mut row = vec![l.index.map(|i| i.to_string()).unwrap_or_default()];
                row.extend(log_row(l));
                row
            }
            CertifiedLog::Archived(a) => {
                let mut row = vec![a.index.to_string(), a.seq.to_string(), a.id.clone()];
                row.resize(header.len(), String::new());
                row
            }
        })
        .collect();
    let shown = rows.len();
    outln!("{}", table(&header, rows));
    outln!("{shown} of {} logs", page.total);
}
