//! One account as the console shows it: balances per currency, limits with the spend
//! against them, and the newest ledger entries. An end user sees exactly this for their own
//! account and nothing else; the numbers come from `/api/v1/billing/balance` and `/history`
//! called with the viewer's credentials.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tollgate_api::billing::{Account, History, HistoryQuery, UsageQuery, UserQuery};
use tollgate_core::Nanos;

use super::fmt::{count, instant, money};
use super::page::{render, Chrome, ConsoleError};
use super::session::Viewer;
use crate::auth::need;
use crate::extract::Params;
use crate::routes::billing;
use crate::state::AppState;

/// Ledger entries shown on the page.
const ENTRIES: i64 = 50;

/// A balance in one currency.
pub struct BalanceRow {
    pub currency: String,
    pub balance: String,
    pub held: String,
    pub available: String,
    pub spent: String,
}

/// A spending limit with its use.
pub struct LimitRow {
    pub period: &'static str,
    pub spent: String,
    pub limit: String,
    /// For the `<meter>`: spend and limit in nanos (0 and 1 without a limit).
    pub used_nanos: i64,
    pub max_nanos: i64,
    /// Where the bar turns to a warning: nine tenths of the limit.
    pub high_nanos: i64,
    pub has_limit: bool,
}

/// A ledger entry.
pub struct EntryRow {
    pub time: String,
    pub kind: &'static str,
    pub amount: String,
    pub balance_after: String,
    pub description: String,
}

/// What the account's part of a page shows.
pub struct AccountParts {
    pub user_id: String,
    pub active: bool,
    pub requests: String,
    pub last_request: String,
    pub balances: Vec<BalanceRow>,
    pub limits: Vec<LimitRow>,
    pub entries: Vec<EntryRow>,
    pub more_entries: bool,
}

/// An end user's use of a period, as `/api/v1/billing/usage` reports it.
pub struct UsageRow {
    pub period: &'static str,
    pub requests: String,
    pub tokens: String,
    pub cost: String,
    /// Per provider: name, requests, cost.
    pub by_provider: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "console/my_account.html")]
struct OwnPage {
    chrome: Chrome,
    account: AccountParts,
    usage: Vec<UsageRow>,
}

/// Cost per currency, as one line.
fn costs(by_currency: &std::collections::BTreeMap<String, String>) -> String {
    if by_currency.is_empty() {
        return money("0", "USD");
    }
    by_currency
        .iter()
        .map(|(c, a)| money(a, c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn nanos_of(text: &str) -> i64 {
    Nanos::parse_exact(text).map_or(0, |n| n.0)
}

/// The parts of `a` and its ledger page `h` a page shows.
pub fn parts(a: &Account, h: &History) -> AccountParts {
    let currency = &a.limits.currency;
    let limit = |period, spent: &str, limit: &Option<String>| {
        let used = nanos_of(spent);
        match limit {
            Some(l) => {
                // A limit of 0 spent past is a full bar, not an empty one.
                let max = nanos_of(l).max(1);
                LimitRow {
                    period,
                    spent: money(spent, currency),
                    limit: money(l, currency),
                    used_nanos: used.clamp(0, max),
                    max_nanos: max,
                    high_nanos: max / 10 * 9,
                    has_limit: true,
                }
            }
            None => LimitRow {
                period,
                spent: money(spent, currency),
                limit: "no limit".into(),
                used_nanos: 0,
                max_nanos: 1,
                high_nanos: 1,
                has_limit: false,
            },
        }
    };
    AccountParts {
        user_id: a.user_id.clone(),
        active: a.is_active,
        requests: match a.total_requests {
            1 => "1 request".into(),
            n => format!("{} requests", count(n)),
        },
        last_request: a
            .last_request_at
            .as_deref()
            .map(|t| format!("the last at {}", instant(t)))
            .unwrap_or_else(|| "none yet".into()),
        balances: a
            .balances
            .iter()
            .map(|(c, b)| BalanceRow {
                currency: c.clone(),
                balance: money(&b.balance, c),
                held: money(&b.held, c),
                available: money(&b.available, c),
                spent: money(&b.spent, c),
            })
            .collect(),
        limits: vec![
            limit("Today (UTC)", &a.usage.today, &a.limits.daily),
            limit("This month (UTC)", &a.usage.month, &a.limits.monthly),
        ],
        entries: h
            .transactions
            .iter()
            .map(|e| EntryRow {
                time: instant(&e.created_at),
                kind: e.kind.as_str(),
                amount: money(&e.delta, &e.currency),
                balance_after: money(&e.balance_after, &e.currency),
                description: e.description.clone().unwrap_or_default(),
            })
            .collect(),
        more_entries: h.pagination.has_more,
    }
}

/// Reads the account `user_id` (None: the viewer's own) and its newest ledger entries.
pub async fn read(
    state: &AppState,
    viewer: &Viewer,
    user_id: Option<String>,
) -> Result<(Account, History), ConsoleError> {
    let axum::Json(account) = billing::accounts::balance(
        State(state.clone()),
        viewer.may::<need::OwnRead>()?,
        Params(UserQuery {
            user_id: user_id.clone(),
        }),
    )
    .await?;
    let axum::Json(history) = billing::accounts::history(
        State(state.clone()),
        viewer.may::<need::OwnRead>()?,
        Params(HistoryQuery {
            user_id,
            limit: Some(ENTRIES),
            ..HistoryQuery::default()
        }),
    )
    .await?;
    Ok((account, history))
}

/// An end user's own page: their account only.
pub async fn own(state: AppState, viewer: Viewer) -> Result<Response, ConsoleError> {
    let (account, history) = read(&state, &viewer, None).await?;
    let mut usage = Vec::new();
    for (period, name) in [("day", "Today (UTC)"), ("month", "This month (UTC)")] {
        let axum::Json(u) = billing::reports::usage(
            State(state.clone()),
            viewer.may::<need::OwnRead>()?,
            Params(UsageQuery {
                period: Some(period.into()),
                user_id: None,
            }),
        )
        .await?;
        usage.push(UsageRow {
            period: name,
            requests: count(u.requests),
            tokens: count(u.tokens.total),
            cost: costs(&u.cost),
            by_provider: u
                .by_provider
                .iter()
                .map(|(p, t)| (p.clone(), count(t.requests), costs(&t.cost)))
                .collect(),
        });
    }
    render(&OwnPage {
        chrome: Chrome::new(&viewer, "My account", "/ui/"),
        account: parts(&account, &history),
        usage,
    })
}
