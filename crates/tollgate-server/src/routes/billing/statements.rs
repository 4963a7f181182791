//! `GET /api/v1/billing/statement`: one account's monthly statement, made from its ledger.
//!
//! Per currency: the opening balance (the sum of every entry before the month), the month's
//! top-ups, charges (by model, and by MCP tool: usage events of provider `mcp`), refunds and
//! adjustments, and the closing balance, which is the opening balance plus every movement, so
//! the statement always adds up, and for a month that is over it equals the balance after the
//! month's last ledger entry. Sums are of the stored integers, so every figure is exact.
//!
//! The same statement is served as JSON ([`Statement`]), as CSV or as a printable HTML page
//! (see [`super::statement_render`]), chosen by `format`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::billing::{
    CurrencyStatement, ModelCharges, Statement, StatementAdjustments, StatementCharges,
    StatementLine, StatementQuery, StatementTotal, ToolCharges,
};
use tollgate_core::pricing::TOOL_PROVIDER;
use tollgate_core::time::{format_us, month_of, month_start_us, month_string, next_month, now_us};
use tollgate_core::{Currency, Nanos};
use tollgate_store::{LedgerKind, StatementBooks};

use super::accounts::entry_type;
use super::query_user;
use super::statement_render::{csv, html};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

/// The forms a statement is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Html,
}

fn format_of(text: Option<&str>) -> Result<Format, ApiError> {
    match text.map(str::trim).unwrap_or("json") {
        "json" | "" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        "html" => Ok(Format::Html),
        other => Err(ApiError::invalid_query(
            "format",
            format!("format must be json, csv or html, not '{other}'"),
        )),
    }
}

/// The month a query names (`YYYY-MM`), as `yyyymm`: not before 1970, not after `this_month`.
fn month_of_query(text: Option<&str>, this_month: i64) -> Result<i64, ApiError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(this_month);
    };
    let bad = || {
        ApiError::invalid_query(
            "month",
            format!("month must be a UTC calendar month as YYYY-MM, such as 2026-11, not '{t}'"),
        )
    };
    let (year, month) = t.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(month, 2) {
        return Err(bad());
    }
    let (year, month): (i64, i64) = (
        year.parse().map_err(|_| bad())?,
        month.parse().map_err(|_| bad())?,
    );
    if year < 1970 || !(1..=12).contains(&month) {
        return Err(bad());
    }
    let key = year * 100 + month;
    if key > this_month {
        return Err(ApiError::invalid_query(
            "month",
            format!(
                "month {t} has not begun (this month is {}); a statement covers a month that \
                 has begun",
                month_string(this_month)
            ),
        ));
    }
    Ok(key)
}

/// An amount summed wider than the ledger's integers, as a decimal string.
fn money(n: i128) -> Result<String, ApiError> {
    i64::try_from(n)
        .map(|n| Nanos(n).to_string())
        .map_err(|_| ApiError::internal("a statement total overflows"))
}

#[derive(Default)]
struct Sum {
    entries: i64,
    amount: i128,
}

impl Sum {
    fn add(&mut self, entries: i64, amount: i128) {
        self.entries += entries;
        self.amount += amount;
    }

    fn total(&self) -> Result<StatementTotal, ApiError> {
        Ok(StatementTotal {
            entries: self.entries,
            amount: money(self.amount)?,
        })
    }
}

/// The statement of one currency from the account's books.
fn currency_statement(
    books: &StatementBooks,
    code: &Currency,
) -> Result<CurrencyStatement, ApiError> {
    let opening: i128 = books
        .opening
        .iter()
        .filter(|(c, _)| c == code)
        .map(|(_, n)| i128::from(n.0))
        .sum();
    let mut charged = Sum::default();
    let mut unattributed = Sum::default();
    let mut models: BTreeMap<(String, String), Sum> = BTreeMap::new();
    let mut tools: BTreeMap<String, Sum> = BTreeMap::new();
    for g in books.charges.iter().filter(|g| &g.currency == code) {
        // A charge's delta is what it took, negated.
        let amount = -i128::from(g.delta.0);
        charged.add(g.entries, amount);
        match (&g.provider, &g.model) {
            (Some(p), Some(m)) if p == TOOL_PROVIDER => {
                tools.entry(m.clone()).or_default().add(g.entries, amount)
            }
            (Some(p), Some(m)) => models
                .entry((p.clone(), m.clone()))
                .or_default()
                .add(g.entries, amount),
            _ => unattributed.add(g.entries, amount),
        }
    }
    let mut by_model = models
        .iter()
        .map(|((provider, model), s)| {
            Ok((
                s.amount,
                ModelCharges {
                    provider: provider.clone(),
                    model: model.clone(),
                    entries: s.entries,
                    amount: money(s.amount)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    by_model.sort_by_key(|m| std::cmp::Reverse(m.0));
    let mut by_tool = tools
        .iter()
        .map(|(tool, s)| {
            Ok((
                s.amount,
                ToolCharges {
                    tool: tool.clone(),
                    entries: s.entries,
                    amount: money(s.amount)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    by_tool.sort_by_key(|t| std::cmp::Reverse(t.0));

    let (mut topups, mut refunds) = (Sum::default(), Sum::default());
    let (mut credits, mut debits) = (Sum::default(), Sum::default());
    let mut lines = Vec::new();
    for e in books.credits.iter().filter(|e| &e.currency == code) {
        let delta = i128::from(e.delta.0);
        match e.kind {
            LedgerKind::Topup => topups.add(1, delta),
            LedgerKind::Refund => refunds.add(1, delta),
            LedgerKind::Adjustment if delta >= 0 => credits.add(1, delta),
            LedgerKind::Adjustment => debits.add(1, -delta),
            // The store reads only the three kinds above.
            _ => continue,
        }
        lines.push(StatementLine {
            id: e.id.clone(),
            created_at: format_us(e.created_us),
            kind: entry_type(e.kind),
            amount: e.amount.to_string(),
            delta: e.delta.to_string(),
            description: e.description.clone(),
            payment_provider: e.payment_provider.clone(),
            payment_id: e.payment_id.clone(),
        });
    }
    let adjusted = credits.amount - debits.amount;
    let net = topups.amount + refunds.amount + adjusted - charged.amount;
    Ok(CurrencyStatement {
        currency: code.to_string(),
        opening_balance: money(opening)?,
        topups: topups.total()?,
        charges: StatementCharges {
            entries: charged.entries,
            amount: money(charged.amount)?,
            by_model: by_model.into_iter().map(|(_, m)| m).collect(),
            by_tool: by_tool.into_iter().map(|(_, t)| t).collect(),
            unattributed: unattributed.total()?,
        },
        refunds: refunds.total()?,
        adjustments: StatementAdjustments {
            credits: credits.total()?,
            debits: debits.total()?,
            net: money(adjusted)?,
        },
        net_change: money(net)?,
        closing_balance: money(opening + net)?,
        lines,
    })
}

/// The statement of `month` from the account's books: every currency it holds (or only
/// `only`, shown at zero when it holds none of it).
fn build(
    user: &str,
    month: i64,
    books: &StatementBooks,
    only: Option<&Currency>,
    now: i64,
) -> Result<Statement, ApiError> {
    let mut codes: BTreeSet<Currency> = books.currencies.iter().cloned().collect();
    codes.extend(books.opening.iter().map(|(c, _)| c.clone()));
    codes.extend(books.charges.iter().map(|g| g.currency.clone()));
    codes.extend(books.credits.iter().map(|e| e.currency.clone()));
    if let Some(c) = only {
        codes = BTreeSet::from([c.clone()]);
    }
    let end = month_start_us(next_month(month)) - 1;
    Ok(Statement {
        user_id: user.to_string(),
        month: month_string(month),
        period_start: format_us(month_start_us(month)),
        period_end: format_us(end),
        complete: now > end,
        generated_at: format_us(now),
        currencies: codes
            .iter()
            .map(|c| currency_statement(books, c))
            .collect::<Result<_, _>>()?,
    })
}

/// The statement `q` asks for (its `format` aside), read with `auth`'s rights: what the
/// route serves, for the console to show in its own page.
pub(crate) async fn monthly(
    state: &AppState,
    auth: &Can<need::OwnRead>,
    q: &StatementQuery,
) -> Result<Statement, ApiError> {
    let user = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    let now = now_us();
    let month = month_of_query(q.month.as_deref(), month_of(now))?;
    let only = match q
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(c) => Some(
            Currency::try_from(c.to_string())
                .map_err(|e| ApiError::invalid_query("currency", e))?,
        ),
    };
    let start = month_start_us(month);
    let end = month_start_us(next_month(month)) - 1;
    let books = state
        .store()
        .statement(&auth.tenant_id, &user, start, end)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    build(&user, month, &books, only.as_ref(), now)
}

/// An account's monthly statement
///
/// Per currency: the opening balance, the month's top-ups, charges by model and by MCP tool,
/// refunds and adjustments, and the closing balance, which is the opening balance plus every
/// movement (for a month that is over, the balance after its last ledger entry). As JSON, as
/// CSV (a row per balance, credit and charge group, whose `balance_effect` column adds up to
/// closing less opening), or as a printable HTML page.
#[utoipa::path(
    get,
    path = "/api/v1/billing/statement",
    tag = "billing",
    operation_id = "billing_statement",
    params(StatementQuery),
    responses(
        (status = 200, description = "The statement: JSON, or with `format=csv` `text/csv`, or with `format=html` a printable page",
            content(
                (Statement = "application/json"),
                (String = "text/csv"),
                (String = "text/html"),
            )),
        (status = 400, description = "A bad `month` (not `YYYY-MM`, or still to come), `currency`, `format` or `user_id` (`INVALID_QUERY`, field named)"),
        (status = 404, description = "No such account in this tenant, or an end user named another"),
    )
)]
pub async fn statement(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    Params(q): Params<StatementQuery>,
) -> Result<Response, ApiError> {
    let format = format_of(q.format.as_deref())?;
    let s = monthly(&state, &auth, &q).await?;
    Ok(match format {
        Format::Json => Json(s).into_response(),
        Format::Csv => {
            let body = csv(&s).map_err(ApiError::internal)?;
            let name = format!("attachment; filename=\"statement-{}.csv\"", s.month);
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                body,
            )
                .into_response()
        }
        Format::Html => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // The page is self-contained: nothing loads, nothing runs.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            html(&s),
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_yyyy_mm_of_a_month_that_has_begun() {
        assert_eq!(month_of_query(Some("2026-11"), 202612).ok(), Some(202611));
        assert_eq!(month_of_query(Some("2026-12"), 202612).ok(), Some(202612));
        assert_eq!(month_of_query(None, 202612).ok(), Some(202612));
        for bad in [
            "2027-01", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "1969-12", "+026-11",
        ] {
            assert!(month_of_query(Some(bad), 202612).is_err(), "{bad}");
        }
    }
}
