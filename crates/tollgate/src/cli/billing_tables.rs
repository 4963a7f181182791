//! How the billing commands show accounts, ledger entries and credits to people. Amounts
//! are printed without the trailing zeros of the wire's nine decimal places; `--json` keeps
//! them exact.

use serde_json::Value;
use tollgate_client::Credited;

use super::output::{cell, fields, table};

/// A wire amount (`"10.500000000"`) for people (`"10.50"`): trailing zeros trimmed, at
/// least two decimals kept. Anything else is shown as it is.
pub fn human(v: &Value) -> String {
    let text = cell(v);
    let Some((whole, fraction)) = text.split_once('.') else {
        return text;
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return text;
    }
    let trimmed = fraction.trim_end_matches('0');
    format!("{whole}.{trimmed:0<2}")
}

fn account_name(user: &Value) -> String {
    match user.as_str() {
        None | Some("") => "(the tenant's own account)".into(),
        Some(u) => u.to_string(),
    }
}

fn limit_line(limit: &Value, currency: &str, spent: &Value, period: &str) -> String {
    let spent = format!("{} spent {period}", human(spent));
    if limit.is_null() {
        format!("none ({spent})")
    } else {
        format!("{} {currency} ({spent})", human(limit))
    }
}

/// An account's balance view (`GET /billing/balance`, `PUT /billing/settings`).
pub fn print_account(a: &Value) {
    let currency = cell(&a["limits"]["currency"]);
    let status = format!(
        "{}, billing {}",
        if a["is_active"] == Value::Bool(false) {
            "disabled"
        } else {
            "active"
        },
        if a["billing_enabled"] == Value::Bool(false) {
            "off"
        } else {
            "on"
        },
    );
    let last = match cell(&a["last_request_at"]) {
        t if t.is_empty() => "never".to_string(),
        t => t,
    };
    println!(
        "{}",
        fields(vec![
            ("account", account_name(&a["user_id"])),
            ("status", status),
            (
                "daily limit",
                limit_line(
                    &a["limits"]["daily"],
                    &currency,
                    &a["usage"]["today"],
                    "today"
                )
            ),
            (
                "monthly limit",
                limit_line(
                    &a["limits"]["monthly"],
                    &currency,
                    &a["usage"]["month"],
                    "this month"
                )
            ),
            ("requests", cell(&a["total_requests"])),
            ("last request", last),
        ])
    );
    let rows: Vec<Vec<String>> = a["balances"]
        .as_object()
        .map(|all| {
            all.iter()
                .map(|(cur, b)| {
                    let mut row = vec![cur.clone()];
                    row.extend(
                        ["balance", "held", "available", "spent"]
                            .iter()
                            .map(|k| human(&b[*k])),
                    );
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        println!("no balance yet: nothing has been credited or charged");
    } else {
        println!(
            "{}",
            table(&["currency", "balance", "held", "available", "spent"], rows)
        );
    }
}

/// What a ledger entry refers to: a usage event, a hold, a payment or a request.
fn reference(e: &Value) -> String {
    if !e["log_id"].is_null() {
        return format!("log {}", cell(&e["log_id"]));
    }
    if !e["hold_id"].is_null() {
        return format!("hold {}", cell(&e["hold_id"]));
    }
    if !e["payment_id"].is_null() || !e["payment_provider"].is_null() {
        return format!(
            "{} {}",
            cell(&e["payment_provider"]),
            cell(&e["payment_id"])
        )
        .trim()
        .to_string();
    }
    cell(&e["request_id"])
}

fn signed(delta: &Value) -> String {
    let text = human(delta);
    if text.starts_with('-') {
        text
    } else {
        format!("+{text}")
    }
}

/// A page of `GET /billing/history`.
pub fn print_history(page: &Value) {
    let entries = page["transactions"].as_array().cloned().unwrap_or_default();
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                cell(&e["created_at"]),
                cell(&e["type"]),
                signed(&e["delta"]),
                cell(&e["currency"]),
                human(&e["balance_after"]),
                reference(e),
                cell(&e["description"]),
                e["flags"]
                    .as_array()
                    .map(|f| f.iter().map(cell).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    println!("account: {}", account_name(&page["user_id"]));
    println!(
        "{}",
        table(
            &[
                "time",
                "type",
                "amount",
                "currency",
                "balance after",
                "reference",
                "description",
                "flags"
            ],
            rows
        )
    );
    let p = &page["pagination"];
    println!(
        "{} of {} entries from offset {} (limit {})",
        cell(&p["count"]),
        cell(&p["total"]),
        cell(&p["offset"]),
        cell(&p["limit"])
    );
}

/// The answer to a top-up, refund or adjustment.
pub fn print_credit(done: &Credited) {
    let t = &done.transaction;
    let currency = cell(&t["currency"]);
    println!(
        "{} {} {currency} on {}: balance {} → {} {currency} (entry {})",
        cell(&t["type"]),
        signed(&t["delta"]),
        account_name(&t["user_id"]),
        human(&t["balance_before"]),
        human(&t["balance_after"]),
        cell(&t["id"]),
    );
    if done.replayed {
        println!("already posted with this idempotency key: nothing new was recorded");
    }
    let now = &done.balance["balances"][currency.as_str()];
    if !now.is_null() {
        println!(
            "balance now {} {currency}, {} available ({} held)",
            human(&now["balance"]),
            human(&now["available"]),
            human(&now["held"]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_for_people_drop_trailing_zeros_but_keep_two_decimals() {
        assert_eq!(human(&Value::from("10.000000000")), "10.00");
        assert_eq!(human(&Value::from("0.000022500")), "0.0000225");
        assert_eq!(human(&Value::from("-1.500000000")), "-1.50");
        assert_eq!(human(&Value::from("7")), "7");
        assert_eq!(human(&Value::Null), "");
    }
}
