//! How the billing commands show accounts, ledger entries and credits to people. Amounts
//! are printed without the trailing zeros of the wire's nine decimal places; `--json` keeps
//! them exact.

use tollgate_api::billing::{Account, History, LedgerEntry, LedgerEntryType};
use tollgate_client::CreditOutcome;

use super::output::{fields, outln, table};

/// A wire amount (`"10.500000000"`) for people (`"10.50"`): trailing zeros trimmed, at
/// least two decimals kept. Anything else is shown as it is.
pub fn human(text: &str) -> String {
    let Some((whole, fraction)) = text.split_once('.') else {
        return text.to_string();
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let trimmed = fraction.trim_end_matches('0');
    format!("{whole}.{trimmed:0<2}")
}

/// An account's user for people: `""` is the tenant's own account.
fn account_name(user: &str) -> String {
    match user {
        "" => "(the tenant's own account)".into(),
        u => u.to_string(),
    }
}

fn limit_line(limit: Option<&str>, currency: &str, spent: &str, period: &str) -> String {
    let spent = format!("{} spent {period}", human(spent));
    match limit {
        None => format!("none ({spent})"),
        Some(limit) => format!("{} {currency} ({spent})", human(limit)),
    }
}

/// An account's balance view (`GET /billing/balance`, `PUT /billing/settings`).
pub fn print_account(a: &Account) {
    let currency = &a.limits.currency;
    let status = format!(
        "{}, billing {}",
        if a.is_active { "active" } else { "disabled" },
        if a.billing_enabled { "on" } else { "off" },
    );
    let last = a
        .last_request_at
        .clone()
        .unwrap_or_else(|| "never".to_string());
    outln!(
        "{}",
        fields(vec![
            ("account", account_name(&a.user_id)),
            ("status", status),
            (
                "daily limit",
                limit_line(a.limits.daily.as_deref(), currency, &a.usage.today, "today")
            ),
            (
                "monthly limit",
                limit_line(
                    a.limits.monthly.as_deref(),
                    currency,
                    &a.usage.month,
                    "this month"
                )
            ),
            ("requests", a.total_requests.to_string()),
            ("last request", last),
        ])
    );
    let rows: Vec<Vec<String>> = a
        .balances
        .iter()
        .map(|(cur, b)| {
            vec![
                cur.clone(),
                human(&b.balance),
                human(&b.held),
                human(&b.available),
                human(&b.spent),
            ]
        })
        .collect();
    if rows.is_empty() {
        outln!("no balance yet: nothing has been credited or charged");
    } else {
        outln!(
            "{}",
            table(&["currency", "balance", "held", "available", "spent"], rows)
        );
    }
}

/// What a ledger entry refers to: a usage event, a hold, a payment or a request.
fn reference(e: &LedgerEntry) -> String {
    if let Some(log) = &e.log_id {
        return format!("log {log}");
    }
    if let Some(hold) = &e.hold_id {
        return format!("hold {hold}");
    }
    if e.payment_id.is_some() || e.payment_provider.is_some() {
        return format!(
            "{} {}",
            e.payment_provider.as_deref().unwrap_or_default(),
            e.payment_id.as_deref().unwrap_or_default()
        )
        .trim()
        .to_string();
    }
    e.request_id.clone().unwrap_or_default()
}

fn signed(delta: &str) -> String {
    let text = human(delta);
    if text.starts_with('-') {
        text
    } else {
        format!("+{text}")
    }
}

/// A ledger entry's two effects for people: on the balance, and on the money held. A hold
/// reserves its amount and a release gives it back without moving the balance, so their
/// delta is zero: they show the amount held or released instead of a misleading `+0.00`.
fn effects(e: &LedgerEntry) -> (String, String) {
    match e.kind {
        LedgerEntryType::Hold => (String::new(), format!("+{}", human(&e.amount))),
        LedgerEntryType::Release => (String::new(), format!("-{}", human(&e.amount))),
        _ => (signed(&e.delta), String::new()),
    }
}

/// A page of `GET /billing/history`.
pub fn print_history(page: &History) {
    let rows = page
        .transactions
        .iter()
        .map(|e| {
            let (amount, held) = effects(e);
            vec![
                e.created_at.clone(),
                e.kind.as_str().to_string(),
                amount,
                held,
                e.currency.clone(),
                human(&e.balance_after),
                reference(e),
                e.description.clone().unwrap_or_default(),
                e.flags
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    outln!("account: {}", account_name(&page.user_id));
    outln!(
        "{}",
        table(
            &[
                "time",
                "type",
                "amount",
                "held",
                "currency",
                "balance after",
                "reference",
                "description",
                "flags"
            ],
            rows
        )
    );
    let p = &page.pagination;
    outln!(
        "{} of {} entries from offset {} (limit {})",
        p.count,
        p.total,
        p.offset,
        p.limit
    );
}

/// The answer to a top-up, refund or adjustment.
pub fn print_credit(done: &CreditOutcome) {
    let t = &done.credited.transaction;
    let currency = &t.currency;
    outln!(
        "{} {} {currency} on {}: balance {} → {} {currency} (entry {})",
        t.kind.as_str(),
        signed(&t.delta),
        account_name(&t.user_id),
        human(&t.balance_before),
        human(&t.balance_after),
        t.id,
    );
    if done.replayed {
        outln!("already posted with this idempotency key: nothing new was recorded");
    }
    if let Some(now) = done.credited.balance.balances.get(currency) {
        outln!(
            "balance now {} {currency}, {} available ({} held)",
            human(&now.balance),
            human(&now.available),
            human(&now.held),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_for_people_drop_trailing_zeros_but_keep_two_decimals() {
        assert_eq!(human("10.000000000"), "10.00");
        assert_eq!(human("0.000022500"), "0.0000225");
        assert_eq!(human("-1.500000000"), "-1.50");
        assert_eq!(human("7"), "7");
        assert_eq!(human(""), "");
    }
}
