//! How the console writes numbers, money and times: exact amounts with their currency,
//! counts with thousands separators, instants in UTC with the zone shown.

/// An exact decimal amount with its currency, trailing zeros past the cents dropped:
/// `0.003500000` USD is `0.0035 USD`, `5.000000000` is `5.00 USD`. Text that is not an
/// amount is shown as it is.
pub fn money(amount: &str, currency: &str) -> String {
    let Some((whole, fraction)) = amount.split_once('.') else {
        return format!("{amount} {currency}");
    };
    let mut kept = fraction.trim_end_matches('0').to_string();
    while kept.len() < 2 {
        kept.push('0');
    }
    format!("{}.{kept} {currency}", group(whole))
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: i64) -> String {
    let text = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(&text))
}

/// Digits grouped by three (a leading `-` kept).
fn group(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// An RFC 3339 instant as `2026-12-06 14:03:12 UTC`.
pub fn instant(rfc3339: &str) -> String {
    let t = rfc3339.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    format!("{} UTC", t.replacen('T', " ", 1))
}

/// Microseconds since the epoch as [`instant`] writes them.
pub fn micros(us: i64) -> String {
    instant(&tollgate_core::time::format_us(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_every_significant_digit_and_at_least_the_cents() {
        assert_eq!(money("0.003500000", "USD"), "0.0035 USD");
        assert_eq!(money("5.000000000", "EUR"), "5.00 EUR");
        assert_eq!(money("1234567.000000001", "USD"), "1,234,567.000000001 USD");
        assert_eq!(money("-12.500000000", "UAH"), "-12.50 UAH");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(-1_234_567), "-1,234,567");
    }

    #[test]
    fn instants_are_written_in_utc_with_the_zone() {
        assert_eq!(
            instant("2026-12-06T14:03:12.123456Z"),
            "2026-12-06 14:03:12 UTC"
        );
    }
}
