//! How `tollgate receipts …` shows receipts, previews and log pages to people.

use serde_json::Value;

use super::output::{cell, fields, table};

/// Exact amounts, `0.007500000 USD`, else llmring's float.
fn cost(receipt: &Value) -> String {
    match receipt["amounts"].as_object() {
        Some(a) if !a.is_empty() => a
            .iter()
            // A receipt's amounts hold input, output and total; a breakdown's the total.
            .map(|(c, v)| match v {
                Value::String(total) => format!("{total} {c}"),
                _ => format!("{} {c}", cell(&v["total_cost"])),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!(
            "{} {}",
            cell(&receipt["total_cost"]),
            cell(&receipt["currency"])
        ),
    }
}

/// A receipt's essentials as a two-column table.
pub fn summary(r: &Value) -> String {
    let tags = r["tags"]
        .as_array()
        .map(|t| t.iter().map(cell).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    fields(vec![
        ("receipt", cell(&r["receipt_id"])),
        ("issued", cell(&r["timestamp"])),
        ("type", cell(&r["receipt_type"])),
        ("logs certified", cell(&r["certified"]["count"])),
        (
            "tokens",
            format!(
                "{} in, {} out",
                cell(&r["prompt_tokens"]),
                cell(&r["completion_tokens"])
            ),
        ),
        ("total cost", cost(r)),
        ("key id", cell(&r["key_id"])),
        ("merkle root", cell(&r["certified"]["merkle_root"])),
        ("description", cell(&r["description"])),
        ("tags", tags),
    ])
}

/// A page of receipts.
pub fn print_list(page: &Value) {
    let rows: Vec<Vec<String>> = page["receipts"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|r| {
                    vec![
                        cell(&r["receipt_id"]),
                        cell(&r["timestamp"]),
                        cell(&r["receipt_type"]),
                        cell(&r["certified"]["count"]),
                        cost(r),
                        r["tags"]
                            .as_array()
                            .map(|t| t.iter().map(cell).collect::<Vec<_>>().join(","))
                            .unwrap_or_default(),
                        cell(&r["description"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = rows.len();
    println!(
        "{}",
        table(
            &[
                "id",
                "issued",
                "type",
                "logs",
                "cost",
                "tags",
                "description"
            ],
            rows
        )
    );
    println!("{shown} of {} receipts", cell(&page["total"]));
}

/// What a receipt would certify.
pub fn print_preview(p: &Value) {
    if p["total_logs"].as_i64() == Some(0) {
        println!("{}", cell(&p["message"]));
        return;
    }
    println!(
        "{}",
        fields(vec![
            ("logs", cell(&p["total_logs"])),
            ("conversations", cell(&p["total_conversations"])),
            ("type", cell(&p["receipt_type"])),
            ("tokens", cell(&p["total_tokens"])),
            ("total cost", cost(p)),
            ("from", cell(&p["start_date"])),
            ("to", cell(&p["end_date"])),
        ])
    );
    let rows = p["by_model"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(model, v)| {
                    vec![
                        model.clone(),
                        cell(&v["calls"]),
                        cell(&v["input_tokens"]),
                        cell(&v["output_tokens"]),
                        cost(v),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "{}",
        table(
            &["model", "calls", "input tokens", "output tokens", "cost"],
            rows
        )
    );
}

/// A page of listed logs; `indexed` adds the leaf index of a receipt's logs.
pub fn print_logs(page: &Value, indexed: bool) {
    let mut header = vec![
        "seq", "id", "time", "provider", "model", "in", "out", "cost",
    ];
    if indexed {
        header.insert(0, "index");
    }
    let rows: Vec<Vec<String>> = page["logs"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|l| {
                    let mut keys = vec![
                        "seq",
                        "id",
                        "timestamp",
                        "provider",
                        "model",
                        "input_tokens",
                        "output_tokens",
                        "cost_exact",
                    ];
                    if indexed {
                        keys.insert(0, "index");
                    }
                    keys.iter().map(|k| cell(&l[*k])).collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = rows.len();
    println!("{}", table(&header, rows));
    println!("{shown} of {} logs", cell(&page["total"]));
}
