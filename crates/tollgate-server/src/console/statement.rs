//! `GET /ui/accounts/{user_id}/statement?month=YYYY-MM`: an account's monthly statement in
//! the console's frame. The statement is the one `GET /api/v1/billing/statement` serves (read
//! by the same code with the viewer's credentials), and its figures are the printable page's
//! own sections, so the console, the JSON and the printout say the same.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_api::billing::StatementQuery;
use tollgate_core::time::{month_of, month_string, next_month, now_us};

use super::accounts::account_href;
use super::fmt::instant;
use super::page::{render, Chrome, ConsoleError};
use super::session::{url_encode, Viewer};
use crate::auth::need;
use crate::routes::billing::{statement_render, statements};
use crate::state::AppState;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    /// `YYYY-MM` (default: this month).
    #[serde(default)]
    month: Option<String>,
}

#[derive(Template)]
#[template(path = "console/account_statement.html")]
struct StatementPage {
    chrome: Chrome,
    account_href: String,
    month: String,
    period: String,
    complete: bool,
    generated: String,
    /// The statement's sections, escaped where they were written.
    sections: String,
    previous: String,
    next: Option<String>,
}

/// The month before `yyyymm`.
fn previous_month(month: i64) -> i64 {
    if month % 100 == 1 {
        (month / 100 - 1) * 100 + 12
    } else {
        month - 1
    }
}

/// `GET /ui/accounts/{user_id}/statement`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Result<Response, ConsoleError> {
    let can = viewer.may::<need::OwnRead>()?;
    let s = statements::monthly(
        &state,
        &can,
        &StatementQuery {
            user_id: Some(user.clone()),
            month: q.month.clone(),
            ..StatementQuery::default()
        },
    )
    .await?;
    let base = account_href(&user);
    let shown = s.month.replace('-', "").parse::<i64>().unwrap_or(0);
    let href = |m: i64| format!("{base}/statement?month={}", url_encode(&month_string(m)));
    let this_month = month_of(now_us());
    render(&StatementPage {
        chrome: Chrome::new(
            &viewer,
            format!("Statement {} for {user}", s.month),
            "/ui/accounts",
        ),
        account_href: base.clone(),
        period: format!("{} to {}", instant(&s.period_start), instant(&s.period_end)),
        complete: s.complete,
        generated: instant(&s.generated_at),
        sections: statement_render::sections(&s),
        previous: href(previous_month(shown)),
        next: (shown < this_month).then(|| href(next_month(shown))),
        month: s.month,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_before_january_is_last_december() {
        assert_eq!(previous_month(202601), 202512);
        assert_eq!(previous_month(202612), 202611);
    }
}
