//! How `tollgate costs …` shows a day's, a month's or a report's costs to people: the totals,
//! then a table per breakdown with a cost column per currency. Amounts are the server's exact
//! decimal strings without their trailing zeros (never read as floats); currencies are never
//! added together.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_api::billing::{CostReport, ReportRange};
use tollgate_api::usage::{CostTotals, DailyCosts, MonthlyCosts};

use super::billing_tables::human;
use super::output::{fields, outln, table};

/// `0.0075 USD, 1.20 EUR`, or `0` when nothing was priced.
fn cost_line(cost: &BTreeMap<String, String>) -> String {
    if cost.is_empty() {
        return "0".into();
    }
    cost.iter()
        .map(|(currency, amount)| format!("{} {currency}", human(amount)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The totals of a period as labelled lines, after `period` (its label and value).
fn totals_fields(period: (&str, String), t: &CostTotals) -> String {
    let mut requests = t.requests.to_string();
    let mut notes = Vec::new();
    if t.cached_responses > 0 {
        notes.push(format!("{} cached", t.cached_responses));
    }
    if t.unpriced_requests > 0 {
        notes.push(format!("{} unpriced", t.unpriced_requests));
    }
    if !notes.is_empty() {
        requests = format!("{requests} ({})", notes.join(", "));
    }
    fields(vec![
        period,
        ("requests", requests),
        (
            "tokens",
            format!("{} in, {} out", t.tokens.input, t.tokens.output),
        ),
        ("cost", cost_line(&t.cost)),
    ])
}

/// One breakdown (`provider`, `model`, `day`, ...) as a table with a cost column for each of
/// `currencies`; a currency a row did not use shows `-`.
fn breakdown<'a>(
    label: &str,
    rows: impl IntoIterator<Item = (&'a str, &'a CostTotals)>,
    currencies: &BTreeSet<String>,
) -> String {
    let mut header = vec![
        label.to_string(),
        "requests".into(),
        "input tokens".into(),
        "output tokens".into(),
        "unpriced".into(),
    ];
    header.extend(currencies.iter().map(|c| format!("cost {c}")));
    let body = rows
        .into_iter()
        .map(|(key, t)| {
            let mut row = vec![
                key.to_string(),
                t.requests.to_string(),
                t.tokens.input.to_string(),
                t.tokens.output.to_string(),
                t.unpriced_requests.to_string(),
            ];
            row.extend(
                currencies
                    .iter()
                    .map(|c| t.cost.get(c).map_or_else(|| "-".into(), |a| human(a))),
            );
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&header, body)
}

/// A breakdown's rows as the table takes them.
fn pairs(m: &BTreeMap<String, CostTotals>) -> impl Iterator<Item = (&str, &CostTotals)> {
    m.iter().map(|(k, t)| (k.as_str(), t))
}

/// The breakdowns every summary has, each printed when it has a row.
struct Breakdowns<'a> {
    totals: &'a CostTotals,
    by_provider: &'a BTreeMap<String, CostTotals>,
    by_model: &'a BTreeMap<String, CostTotals>,
    by_tool: Option<&'a BTreeMap<String, CostTotals>>,
    by_dimension: Option<(&'a str, &'a BTreeMap<String, CostTotals>)>,
}

impl Breakdowns<'_> {
    fn print(&self) {
        if self.totals.requests == 0 {
            outln!("no calls in this period");
            return;
        }
        let currencies: BTreeSet<String> = self.totals.cost.keys().cloned().collect();
        outln!(
            "{}",
            breakdown("provider", pairs(self.by_provider), &currencies)
        );
        outln!("{}", breakdown("model", pairs(self.by_model), &currencies));
        if let Some(tools) = self.by_tool.filter(|t| !t.is_empty()) {
            outln!("{}", breakdown("tool", pairs(tools), &currencies));
        }
        if let Some((name, values)) = self.by_dimension {
            if values.is_empty() {
                outln!("no call of this period has a {name}");
            } else {
                outln!("{}", breakdown(name, pairs(values), &currencies));
            }
        }
    }
}

/// `GET /api/v1/costs/daily` for people; `dimension` names the `by_dimension` breakdown.
pub fn print_daily(d: &DailyCosts, dimension: Option<&str>) {
    outln!(
        "{}",
        totals_fields(("day", format!("{} (UTC)", d.date)), &d.totals)
    );
    Breakdowns {
        totals: &d.totals,
        by_provider: &d.by_provider,
        by_model: &d.by_model,
        by_tool: Some(&d.by_tool),
        by_dimension: dimension.zip(d.by_dimension.as_ref()),
    }
    .print();
}

/// `GET /api/v1/costs/monthly` for people: the month's totals, its days, then breakdowns.
pub fn print_monthly(m: &MonthlyCosts, dimension: Option<&str>) {
    outln!(
        "{}",
        totals_fields(("month", format!("{} (UTC)", m.month)), &m.totals)
    );
    if m.totals.requests > 0 {
        let currencies: BTreeSet<String> = m.totals.cost.keys().cloned().collect();
        let days = m.by_day.iter().map(|d| (d.date.as_str(), &d.totals));
        outln!("{}", breakdown("day", days, &currencies));
    }
    Breakdowns {
        totals: &m.totals,
        by_provider: &m.by_provider,
        by_model: &m.by_model,
        by_tool: Some(&m.by_tool),
        by_dimension: dimension.zip(m.by_dimension.as_ref()),
    }
    .print();
}

/// `GET /api/v1/billing/cost-report` for people.
pub fn print_report(r: &CostReport) {
    let range = match r.range {
        ReportRange::Month => format!("this month ({} to {})", r.start_date, r.end_date),
        ReportRange::All => format!("everything recorded, to {}", r.end_date),
    };
    outln!("{}", totals_fields(("range", range), &r.totals));
    Breakdowns {
        totals: &r.totals,
        by_provider: &r.by_provider,
        by_model: &r.by_model,
        by_tool: None,
        by_dimension: None,
    }
    .print();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_in_several_currencies_are_listed_apart_and_exactly() {
        let cost = BTreeMap::from([
            ("EUR".to_string(), "1.200000000".to_string()),
            ("USD".to_string(), "0.000022500".to_string()),
        ]);
        assert_eq!(cost_line(&cost), "1.20 EUR, 0.0000225 USD");
        assert_eq!(cost_line(&BTreeMap::new()), "0");
    }
}
