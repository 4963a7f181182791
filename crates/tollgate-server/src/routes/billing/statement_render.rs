//! A statement as CSV and as a printable HTML page, both made from the JSON [`Statement`], so
//! the three forms always carry the same figures.
//!
//! CSV: one row per opening balance, credit (top-up, refund, adjustment), charge group (model
//! or tool) and closing balance, per currency. The `balance_effect` of the rows between a
//! currency's opening and closing rows adds up to closing less opening. Text a person or a
//! client chose is prefixed so a spreadsheet does not read it as a formula.
//!
//! HTML: one self-contained page (its styles inline, no scripts, no other request), laid out
//! for paper. Every string that did not come from Tollgate itself is escaped.

use std::fmt::Write as _;

use tollgate_api::billing::{CurrencyStatement, Statement, StatementTotal};

use crate::routes::export::spreadsheet_text;

/// The CSV columns, in order.
const COLUMNS: [&str; 9] = [
    "currency",
    "line",
    "date",
    "id",
    "item",
    "entries",
    "amount",
    "balance_effect",
    "description",
];

/// A credit's payment reference: provider and id, when given.
fn payment(provider: Option<&str>, id: Option<&str>) -> String {
    match (provider, id) {
        (Some(p), Some(i)) => format!("{p} {i}"),
        (Some(x), None) | (None, Some(x)) => x.to_string(),
        (None, None) => String::new(),
    }
}

/// The amount negated: what a charge did to the balance.
fn negated(amount: &str) -> String {
    match amount.strip_prefix('-') {
        Some(positive) => positive.to_string(),
        None if amount.trim_start_matches(['0', '.']).is_empty() => amount.to_string(),
        None => format!("-{amount}"),
    }
}

/// The statement as CSV.
pub(super) fn csv(s: &Statement) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| format!("writing CSV: {e}");
    w.write_record(COLUMNS).map_err(fail)?;
    for c in &s.currencies {
        let cur = c.currency.as_str();
        w.write_record([
            cur,
            "opening_balance",
            &s.period_start,
            "",
            "",
            "",
            &c.opening_balance,
            "",
            "",
        ])
        .map_err(fail)?;
        for l in &c.lines {
            w.write_record([
                cur,
                l.kind.as_str(),
                &l.created_at,
                &l.id,
                &spreadsheet_text(&payment(
                    l.payment_provider.as_deref(),
                    l.payment_id.as_deref(),
                )),
                "1",
                &l.amount,
                &l.delta,
                &spreadsheet_text(l.description.as_deref().unwrap_or_default()),
            ])
            .map_err(fail)?;
        }
        let charges = &c.charges;
        let groups = charges
            .by_model
            .iter()
            .map(|m| {
                let item = format!("{}/{}", m.provider, m.model);
                ("charge", item, m.entries, m.amount.as_str())
            })
            .chain(charges.by_tool.iter().map(|t| {
                let item = t.tool.clone();
                ("tool_charge", item, t.entries, t.amount.as_str())
            }));
        for (line, item, entries, amount) in groups {
            w.write_record([
                cur,
                line,
                "",
                "",
                &spreadsheet_text(&item),
                &entries.to_string(),
                amount,
                &negated(amount),
                "",
            ])
            .map_err(fail)?;
        }
        let u = &charges.unattributed;
        if u.entries > 0 {
            w.write_record([
                cur,
                "charge",
                "",
                "",
                "usage events no longer stored",
                &u.entries.to_string(),
                &u.amount,
                &negated(&u.amount),
                "",
            ])
            .map_err(fail)?;
        }
        w.write_record([
            cur,
            "closing_balance",
            &s.period_end,
            "",
            "",
            "",
            &c.closing_balance,
            "",
            "",
        ])
        .map_err(fail)?;
    }
    w.into_inner().map_err(|e| format!("writing CSV: {e}"))
}

/// Text made safe to place in HTML, in an element or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;color:#111;margin:2rem auto;\
max-width:50rem;padding:0 1rem;line-height:1.4}\
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;\
border-bottom:2px solid #111}h3{font-size:1rem;margin:1.2rem 0 .3rem}\
table{border-collapse:collapse;width:100%;margin-bottom:.5rem}\
th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #ccc;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.total td{font-weight:bold;border-top:2px solid #111}\
.meta{color:#444;font-size:.9rem}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}\
table{break-inside:auto}tr{break-inside:avoid}a{color:inherit}}";

/// A summary row: label, entries (when counted) and amount.
fn row(out: &mut String, label: &str, entries: Option<i64>, amount: &str) {
    let entries = entries.map(|n| n.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "<tr><td>{}</td><td class=\"n\">{entries}</td><td class=\"n\">{}</td></tr>",
        escape(label),
        escape(amount)
    );
}

fn total_row(out: &mut String, label: &str, t: &StatementTotal, negative: bool) {
    let amount = if negative {
        negated(&t.amount)
    } else {
        t.amount.clone()
    };
    row(out, label, Some(t.entries), &amount);
}

fn currency_section(out: &mut String, c: &CurrencyStatement) {
    let cur = escape(&c.currency);
    let _ = write!(
        out,
        "<section><h2>{cur}</h2><table><thead><tr><th scope=\"col\">Summary</th><th scope=\"col\" class=\"n\">Entries</th>\
         <th scope=\"col\" class=\"n\">Amount ({cur})</th></tr></thead><tbody>"
    );
    row(out, "Opening balance", None, &c.opening_balance);
    total_row(out, "Top-ups", &c.topups, false);
    let charged = StatementTotal {
        entries: c.charges.entries,
        amount: c.charges.amount.clone(),
    };
    total_row(out, "Charges", &charged, true);
    total_row(out, "Refunds", &c.refunds, false);
    total_row(out, "Adjustments (credit)", &c.adjustments.credits, false);
    total_row(out, "Adjustments (debit)", &c.adjustments.debits, true);
    let _ = write!(
        out,
        "<tr class=\"total\"><td>Closing balance</td><td></td><td class=\"n\">{}</td></tr>\
         </tbody></table>",
        escape(&c.closing_balance)
    );

    if !c.charges.by_model.is_empty() || c.charges.unattributed.entries > 0 {
        out.push_str(
            "<h3>Charges by model</h3><table><thead><tr><th scope=\"col\">Provider</th><th scope=\"col\">Model</th>\
             <th scope=\"col\" class=\"n\">Calls</th><th scope=\"col\" class=\"n\">Amount</th></tr></thead><tbody>",
        );
        for m in &c.charges.by_model {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&m.provider),
                escape(&m.model),
                m.entries,
                escape(&m.amount)
            );
        }
        let u = &c.charges.unattributed;
        if u.entries > 0 {
            let _ = write!(
                out,
                "<tr><td colspan=\"2\">Usage events no longer stored</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                u.entries,
                escape(&u.amount)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !c.charges.by_tool.is_empty() {
        out.push_str(
            "<h3>Charges by tool</h3><table><thead><tr><th scope=\"col\">Tool</th>\
             <th scope=\"col\" class=\"n\">Executions</th><th scope=\"col\" class=\"n\">Amount</th></tr></thead><tbody>",
        );
        for t in &c.charges.by_tool {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&t.tool),
                t.entries,
                escape(&t.amount)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !c.lines.is_empty() {
        out.push_str(
            "<h3>Top-ups, refunds and adjustments</h3><table><thead><tr><th scope=\"col\">Date (UTC)</th>\
             <th scope=\"col\">Type</th><th scope=\"col\">Description</th><th scope=\"col\">Payment</th><th scope=\"col\" class=\"n\">Amount</th>\
             </tr></thead><tbody>",
        );
        for l in &c.lines {
            let date = l.created_at.get(..10).unwrap_or(&l.created_at);
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                escape(date),
                escape(l.kind.as_str()),
                escape(l.description.as_deref().unwrap_or_default()),
                escape(&payment(
                    l.payment_provider.as_deref(),
                    l.payment_id.as_deref()
                )),
                escape(&l.delta)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

/// The statement as a printable page.
pub(super) fn html(s: &Statement) -> String {
    let account = if s.user_id.is_empty() {
        "the tenant's own account".to_string()
    } else {
        s.user_id.clone()
    };
    let title = format!("Statement {} for {}", s.month, account);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <h1>{title}</h1><p class=\"meta\">Account: {account}<br>Period: {start} to {end} \
         (UTC)<br>Generated: {generated}{partial}</p>",
        title = escape(&title),
        account = escape(&account),
        start = escape(&s.period_start),
        end = escape(&s.period_end),
        generated = escape(&s.generated_at),
        partial = if s.complete {
            ""
        } else {
            " (the month is not over: figures to date)"
        },
    );
    out.push_str(&sections(s));
    out.push_str("</body></html>\n");
    out
}

/// The statement's figures, a section per currency (headed `h2`, tables escaped): the
/// printable page's body, and what the console shows in its own page.
pub(crate) fn sections(s: &Statement) -> String {
    let mut out = String::with_capacity(4096);
    if s.currencies.is_empty() {
        out.push_str("<p>No balance in any currency.</p>");
    }
    for c in &s.currencies {
        currency_section(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn a_charge_negates_its_amount_and_zero_stays_zero() {
        assert_eq!(negated("1.500000000"), "-1.500000000");
        assert_eq!(negated("-0.250000000"), "0.250000000");
        assert_eq!(negated("0.000000000"), "0.000000000");
    }
}
