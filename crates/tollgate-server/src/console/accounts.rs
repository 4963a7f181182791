//! `GET /ui/accounts`: the tenant's billing accounts, a page at a time, with a search by the
//! start of a user id. Each row is what `GET /api/v1/billing/accounts` answers (called with
//! the viewer's credentials): balances, what open holds reserve, spend today and this month
//! against the limits, and whether the account may spend.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_api::billing::{AccountsQuery, ListedAccount};

use super::fmt::{count, money};
use super::page::{render, Chrome, ConsoleError};
use super::session::{url_encode, Viewer};
use crate::auth::need;
use crate::extract::Params;
use crate::routes::billing;
use crate::state::AppState;

/// Accounts on a page.
const PAGE: i64 = 50;

/// The list's query: a user id prefix and where the page starts.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// The start of the user ids shown.
    #[serde(default)]
    q: Option<String>,
    /// Accounts skipped.
    #[serde(default)]
    offset: Option<i64>,
}

/// One account's row.
struct Row {
    user: String,
    /// The account page's path; None for the tenant's own account (no user id to name).
    href: Option<String>,
    balances: Vec<String>,
    holds: String,
    today: String,
    month: String,
    daily: String,
    monthly: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct ListPage {
    chrome: Chrome,
    search: String,
    rows: Vec<Row>,
    shown: String,
    previous: Option<String>,
    next: Option<String>,
}

/// The path of account `user`'s page.
pub fn account_href(user: &str) -> String {
    format!("/ui/accounts/{}", url_encode(user))
}

fn row(l: &ListedAccount) -> Row {
    let a = &l.account;
    let cur = &a.limits.currency;
    let held: Vec<String> = a
        .balances
        .iter()
        .filter(|(_, b)| !b.held.trim_start_matches(['0', '.']).is_empty())
        .map(|(c, b)| money(&b.held, c))
        .collect();
    let holds = match (l.open_holds, held.is_empty()) {
        (0, _) => "none".to_string(),
        (n, true) => format!("{} open", count(n)),
        (n, false) => format!("{} open, {} held", count(n), held.join(", ")),
    };
    let limit = |l: &Option<String>| match l {
        Some(l) => money(l, cur),
        None => "no limit".into(),
    };
    Row {
        user: if a.user_id.is_empty() {
            "(the tenant's own)".into()
        } else {
            a.user_id.clone()
        },
        href: (!a.user_id.is_empty()).then(|| account_href(&a.user_id)),
        balances: if a.balances.is_empty() {
            vec![money("0", cur)]
        } else {
            a.balances
                .iter()
                .map(|(c, b)| money(&b.balance, c))
                .collect()
        },
        holds,
        today: money(&a.usage.today, cur),
        month: money(&a.usage.month, cur),
        daily: limit(&a.limits.daily),
        monthly: limit(&a.limits.monthly),
        active: a.is_active,
    }
}

/// `GET /ui/accounts`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let search =
        q.q.as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
    let offset = q.offset.unwrap_or(0).max(0);
    let axum::Json(list) = billing::accounts::list(
        State(state.clone()),
        viewer.may::<need::Read>()?,
        Params(AccountsQuery {
            user_prefix: Some(search.clone()).filter(|s| !s.is_empty()),
            limit: Some(PAGE),
            offset: Some(offset),
        }),
    )
    .await?;
    let p = &list.pagination;
    let at = |offset: i64| {
        let mut href = format!("/ui/accounts?offset={offset}");
        if !search.is_empty() {
            href.push_str(&format!("&q={}", url_encode(&search)));
        }
        href
    };
    let shown = if p.count == 0 {
        String::new()
    } else {
        format!(
            "{} to {} of {}",
            count(p.offset + 1),
            count(p.offset + p.count),
            count(p.total)
        )
    };
    render(&ListPage {
        chrome: Chrome::new(&viewer, "Accounts", "/ui/accounts"),
        rows: list.accounts.iter().map(row).collect(),
        shown,
        previous: (p.offset > 0).then(|| at((p.offset - PAGE).max(0))),
        next: p.has_more.then(|| at(p.offset + p.count)),
        search,
    })
}
