//! What an alert email says: for a person, not a program. Each says what happened, for whom,
//! the numbers with their currency, the period, and what to do about it.

use serde_json::Value;
use tollgate_core::time::format_us;
use tollgate_store::DueEmail;

use super::smtp::Mail;

/// A stored decimal amount (`"4.700000000"`) as a person reads it: trailing zeros dropped,
/// at least two decimals (`4.70`, `0.0000225`).
pub fn human_amount(amount: &str) -> String {
    let Some((whole, frac)) = amount.split_once('.') else {
        return format!("{amount}.00");
    };
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    format!("{whole}.{frac}")
}

/// A member of the alert's data as text ("?" when missing).
fn text(data: &Value, key: &str) -> String {
    match &data[key] {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

fn money(data: &Value, key: &str, currency: &str) -> String {
    format!("{} {currency}", human_amount(&text(data, key)))
}

/// The message for one email delivery.
pub fn compose(d: &DueEmail) -> Mail {
    let data: Value = serde_json::from_str(&d.data).unwrap_or(Value::Null);
    let (subject, body) = match d.event_type.as_str() {
        "limit.threshold" => limit(&data),
        "balance.low" => balance(&data),
        "quota.threshold" => quota(&data),
        "spend.unusual" => unusual(&data),
        other => (
            format!("Alert: {other}"),
            format!(
                "Tollgate raised the alert {other}. Its details:\n\n{}\n",
                serde_json::to_string_pretty(&data).unwrap_or_default()
            ),
        ),
    };
    let footer = format!(
        "\n--\nTenant: {}\nAlert: {} ({}), raised {}\nYou receive this because your address is on \
         the tenant's alert email list (PUT /api/v1/alerts/email).\n",
        d.tenant_id,
        d.event_id,
        d.event_type,
        format_us(d.event_created_us)
    );
    Mail {
        to: d.recipient.clone(),
        subject: format!("[Tollgate] {subject}"),
        text: format!("{body}{footer}"),
        id: d.id.clone(),
    }
}

fn limit(data: &Value) -> (String, String) {
    let (user, cur) = (text(data, "user_id"), text(data, "currency"));
    let kind = text(data, "limit");
    let percent = text(data, "threshold_percent");
    let (spent, limit) = (
        money(data, "spent", &cur),
        money(data, "limit_amount", &cur),
    );
    let period = text(data, "period");
    let (span, resets) = if kind == "monthly" {
        ("month", "the first day of next month (UTC)")
    } else {
        ("day", "midnight UTC")
    };
    let subject = format!("{user} has used {percent}% of its {kind} spending limit");
    let body = format!(
        "What happened: account \"{user}\" has spent {spent} of its {kind} limit of {limit} \
         in the {span} {period} (UTC): {percent}% of the limit is used.\n\n\
         What to do: if this spend is expected, raise the account's {kind} limit \
         (PUT /api/v1/billing/settings). If it is not, look at the account's recent calls and \
         stop what is making them. Once the limit is reached, calls that ask for \
         authorization first are refused until the limit resets at {resets} or is raised.\n"
    );
    (subject, body)
}

fn balance(data: &Value) -> (String, String) {
    let (user, cur) = (text(data, "user_id"), text(data, "currency"));
    let (bal, floor) = (money(data, "balance", &cur), money(data, "threshold", &cur));
    let subject = format!("{user}'s balance is down to {bal}");
    let body = format!(
        "What happened: the prepaid balance of account \"{user}\" fell below {floor}; it is \
         now {bal}.\n\n\
         What to do: top the account up (POST /api/v1/billing/topup, or a payment) before it \
         runs out. With billing enabled, calls that ask for authorization are refused once \
         the balance cannot cover them.\n"
    );
    (subject, body)
}

fn quota(data: &Value) -> (String, String) {
    let percent = text(data, "threshold_percent");
    let (used, quota) = (text(data, "used"), text(data, "monthly_requests"));
    let (plan, month) = (text(data, "plan"), text(data, "month"));
    let subject = format!("{percent}% of the monthly request quota is used");
    let body = format!(
        "What happened: this tenant has made {used} of the {quota} requests its plan \
         \"{plan}\" allows in {month} (UTC): {percent}% of the quota.\n\n\
         What to do: if you expect more, ask your operator for a larger plan. At 100%, calls \
         that ask for authorization are refused until the quota resets on the first day of \
         next month (UTC).\n"
    );
    (subject, body)
}

fn unusual(data: &Value) -> (String, String) {
    let (user, cur) = (text(data, "user_id"), text(data, "currency"));
    let spent = money(data, "spent", &cur);
    let average = money(data, "hourly_average", &cur);
    let floor = money(data, "min_amount", &cur);
    let (multiple, days) = (text(data, "multiple"), text(data, "window_days"));
    let (from, to) = (text(data, "hour_start"), text(data, "hour_end"));
    let subject = format!("Unusual spend by {user}: {spent} this hour");
    let body = format!(
        "What happened: account \"{user}\" spent {spent} in the hour from {from} to {to} (UTC), \
         while over the {days} days before today it averaged {average} an hour (every hour \
         counted, idle ones too). Tollgate flags an hour that is more than {multiple} times \
         that average and at least {floor}. The hour is still running: the figure may grow.\n\n\
         What to do: check the account's calls in that hour (GET /api/v1/logs, filtered by \
         user). If they are not expected, revoke the key that made them or lower the account's \
         daily limit (PUT /api/v1/billing/settings). If they are expected, nothing: you will \
         hear of this account again only in another hour that breaks the rule.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(human_amount("4.700000000"), "4.70");
        assert_eq!(human_amount("0.000022500"), "0.0000225");
        assert_eq!(human_amount("12.000000000"), "12.00");
        assert_eq!(human_amount("-1.500000000"), "-1.50");
    }
}
