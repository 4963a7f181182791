//! `GET /ui/accounts/{user_id}`: one account as a tenant's key sees it: balances, limit bars
//! and the ledger (the same parts as an end user's own page, from `/api/v1/billing/balance`
//! and `/history`), a link to its monthly statement, and the forms the key may use: top up
//! and refund (`billing`), limits and status (`billing` or `admin`). A form is shown only
//! when the route it posts to would accept the key; the posts are in [`super::account_forms`].

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tollgate_api::billing::Account;
use tollgate_core::time::{month_of, month_string, now_us};

use super::account::{parts, read, AccountParts};
use super::accounts::account_href;
use super::page::{html, Chrome, ConsoleError};
use super::session::{random_token, url_encode, Viewer};
use super::Notice;
use crate::auth::need;
use crate::error::ApiError;
use crate::state::AppState;

/// The page's query: which notice to show after a change.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// A top-up or refund form as shown: its idempotency value, what was typed, and the API's
/// message when the last post was refused.
#[derive(Debug, Clone)]
pub struct CreditForm {
    pub request_id: String,
    pub amount: String,
    pub currency: String,
    pub description: String,
    pub error: Option<String>,
}

impl CreditForm {
    /// An empty form with a fresh idempotency value.
    fn fresh(currency: &str) -> CreditForm {
        CreditForm {
            request_id: random_token(),
            amount: String::new(),
            currency: currency.to_string(),
            description: String::new(),
            error: None,
        }
    }
}

/// The limits form as shown.
#[derive(Debug, Clone)]
pub struct LimitsForm {
    pub daily: String,
    pub monthly: String,
    pub active: bool,
    pub error: Option<String>,
}

impl LimitsForm {
    /// The form holding the account's limits and status now.
    fn current(a: &Account) -> LimitsForm {
        let plain = |l: &Option<String>| l.as_deref().map(plain_amount).unwrap_or_default();
        LimitsForm {
            daily: plain(&a.limits.daily),
            monthly: plain(&a.limits.monthly),
            active: a.is_active,
            error: None,
        }
    }
}

/// An amount without the trailing zeros of its nine places: `10.500000000` is `10.5`.
fn plain_amount(text: &str) -> String {
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => text.to_string(),
    }
}

/// A form the last post refused, to show again with its values and the API's message.
pub enum Refused {
    Topup(CreditForm),
    Refund(CreditForm),
    Limits(LimitsForm),
}

#[derive(Template)]
#[template(path = "console/account_admin.html")]
struct AdminPage {
    chrome: Chrome,
    account: AccountParts,
    /// The account page's path (its user id encoded).
    base: String,
    limit_currency: String,
    statement_href: String,
    notice: Option<&'static str>,
    topup: Option<CreditForm>,
    refund: Option<CreditForm>,
    limits: Option<LimitsForm>,
}

/// The page of account `user`, with `refused` shown in place of its fresh form.
pub async fn show(
    state: &AppState,
    viewer: &Viewer,
    user: String,
    notice_code: Option<&str>,
    refused: Option<Refused>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let (account, history) = read(state, viewer, Some(user.clone())).await?;
    let currency = account.limits.currency.clone();
    let money = viewer.may::<need::Billing>().is_ok();
    let limits = viewer.may::<need::BillingOrAdmin>().is_ok();
    let (mut topup, mut refund, mut limits_form) = (
        money.then(|| CreditForm::fresh(&currency)),
        money.then(|| CreditForm::fresh(&currency)),
        limits.then(|| LimitsForm::current(&account)),
    );
    match refused {
        Some(Refused::Topup(f)) => topup = Some(f),
        Some(Refused::Refund(f)) => refund = Some(f),
        Some(Refused::Limits(f)) => limits_form = Some(f),
        None => {}
    }
    let base = account_href(&user);
    let month = month_string(month_of(now_us()));
    let page = AdminPage {
        chrome: Chrome::new(viewer, format!("Account {user}"), "/ui/accounts"),
        account: parts(&account, &history),
        statement_href: format!("{base}/statement?month={}", url_encode(&month)),
        base,
        limit_currency: currency,
        notice: Notice::read(notice_code),
        topup,
        refund,
        limits: limits_form,
    };
    let body = page.render().map_err(|e| {
        ConsoleError::Api(ApiError::internal(format!(
            "a console page failed to render: {e}"
        )))
    })?;
    Ok(html(status, body))
}

/// `GET /ui/accounts/{user_id}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    show(
        &state,
        &viewer,
        user,
        q.notice.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_shown_in_the_form_as_it_would_be_typed() {
        assert_eq!(plain_amount("10.500000000"), "10.5");
        assert_eq!(plain_amount("25.000000000"), "25");
        assert_eq!(plain_amount("0.000000001"), "0.000000001");
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert_eq!(
            Notice::read(Some("topped-up")),
            Some("The top-up was posted.")
        );
        assert_eq!(Notice::read(Some("<script>")), None);
    }
}
