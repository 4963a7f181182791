//! The account page's forms: `POST /ui/accounts/{user_id}/topup`, `/refund` and `/limits`.
//! Each calls the API's own handler (`/api/v1/billing/topup`, `/refund`, `/settings`) with the
//! viewer's credentials, so scopes, validation and idempotency are the API's: a top-up or
//! refund form carries a random value made when the page was drawn, sent as the API's
//! `Idempotency-Key`, so posting it twice (a double click, a reload, going back) credits once.
//!
//! After a change the browser is sent back to the account (303) with a fixed notice code. A
//! value the API refuses (a bad amount or currency, a key reused with another body) shows the
//! form again with what was typed and the API's message, and changes nothing.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_api::billing::{CreditBody, Loose, SettingsBody};
use tollgate_api::ErrorCode;

use super::account_admin::{show, CreditForm, LimitsForm, Refused};
use super::accounts::account_href;
use super::page::ConsoleError;
use super::session::Viewer;
use super::sign_in::form;
use crate::auth::need;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::billing;
use crate::state::AppState;

/// The top-up and refund form.
#[derive(Debug, Deserialize)]
struct CreditFields {
    csrf: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    description: String,
}

/// The limits form: an empty limit is none.
#[derive(Debug, Deserialize)]
struct LimitsFields {
    csrf: String,
    #[serde(default)]
    daily: String,
    #[serde(default)]
    monthly: String,
    #[serde(default)]
    status: String,
}

/// Whether a refusal belongs on the form (what was sent is wrong) rather than on an error
/// page (not allowed, not found, or the server's fault).
fn on_the_form(e: &ApiError) -> bool {
    let status = e.status();
    status.is_client_error()
        && status != StatusCode::FORBIDDEN
        && status != StatusCode::NOT_FOUND
        && status != StatusCode::UNAUTHORIZED
}

/// The status a form shown again answers: 422 for what the API read and refused, its own
/// otherwise (409 for an idempotency value reused with another body).
fn form_status(e: &ApiError) -> StatusCode {
    match e.status() {
        StatusCode::BAD_REQUEST => StatusCode::UNPROCESSABLE_ENTITY,
        other => other,
    }
}

fn back(user: &str, notice: &str) -> Response {
    Redirect::to(&format!("{}?notice={notice}", account_href(user))).into_response()
}

/// Which credit a form posts.
#[derive(Clone, Copy)]
enum Credit {
    Topup,
    Refund,
}

async fn credit(
    state: AppState,
    viewer: Viewer,
    user: String,
    body: Bytes,
    kind: Credit,
) -> Result<Response, ConsoleError> {
    let f: CreditFields = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let can = viewer.may::<need::Billing>()?;
    let shown = CreditForm {
        request_id: f.request_id.clone(),
        amount: f.amount.clone(),
        currency: f.currency.clone(),
        description: f.description.clone(),
        error: None,
    };
    let mut headers = HeaderMap::new();
    // The API checks the value; one a header cannot carry is refused the same way.
    let key = HeaderValue::from_str(f.request_id.trim()).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "the form's request id is not valid; reload the page",
        )
    })?;
    headers.insert("idempotency-key", key);
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let request = CreditBody {
        amount: Some(Loose::Text(f.amount.trim().to_string())),
        currency: text(&f.currency).map(|c| Loose::Text(c.to_ascii_uppercase())),
        description: text(&f.description),
        user_id: Some(user.clone()),
        ..CreditBody::default()
    };
    let posted = match kind {
        Credit::Topup => {
            billing::credits::topup(State(state.clone()), can, headers, Body(request)).await
        }
        Credit::Refund => {
            billing::credits::refund(State(state.clone()), can, headers, Body(request)).await
        }
    };
    match posted {
        Ok(_) => Ok(back(
            &user,
            match kind {
                Credit::Topup => "topped-up",
                Credit::Refund => "refunded",
            },
        )),
        Err(e) if on_the_form(&e) => {
            let status = form_status(&e);
            let shown = CreditForm {
                error: Some(e.message().to_string()),
                ..shown
            };
            let refused = match kind {
                Credit::Topup => Refused::Topup(shown),
                Credit::Refund => Refused::Refund(shown),
            };
            show(&state, &viewer, user, None, Some(refused), status).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/accounts/{user_id}/topup`.
pub async fn topup(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    credit(state, viewer, user, body, Credit::Topup).await
}

/// `POST /ui/accounts/{user_id}/refund`.
pub async fn refund(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    credit(state, viewer, user, body, Credit::Refund).await
}

/// `POST /ui/accounts/{user_id}/limits`: both limits and the status, as the form holds them.
pub async fn limits(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: LimitsFields = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let can = viewer.may::<need::BillingOrAdmin>()?;
    let limit = |s: &str| {
        let s = s.trim();
        Some((!s.is_empty()).then(|| Loose::Text(s.to_string())))
    };
    let active = match f.status.as_str() {
        "active" => Some(true),
        "suspended" => Some(false),
        _ => None,
    };
    let request = SettingsBody {
        user_id: Some(user.clone()),
        daily_limit: limit(&f.daily),
        monthly_limit: limit(&f.monthly),
        is_active: active,
        billing_enabled: None,
    };
    match billing::accounts::settings(State(state.clone()), can, Body(request)).await {
        Ok(_) => Ok(back(&user, "limits-saved")),
        Err(e) if on_the_form(&e) => {
            let shown = LimitsForm {
                daily: f.daily,
                monthly: f.monthly,
                active: active.unwrap_or(true),
                error: Some(e.message().to_string()),
            };
            let status = form_status(&e);
            show(
                &state,
                &viewer,
                user,
                None,
                Some(Refused::Limits(shown)),
                status,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
