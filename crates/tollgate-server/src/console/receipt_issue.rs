//! Issuing a receipt from the console: `GET /ui/receipts/new` (the form, one choice per
//! selection mode the API knows), `POST /ui/receipts/preview` (what the selection would
//! certify, from the API's preview, with a button to sign it) and `POST /ui/receipts` (the
//! API's generate, then 303 to the new receipt).
//!
//! The form becomes the API's own [`ReceiptRequest`] with only the chosen mode's members, so
//! the API decides what is valid; its refusals are shown on the form. The API's generate takes
//! no idempotency key, so nothing here can make a resubmitted form sign once: the sign button
//! turns itself off once pressed, and the answer is a redirect, so reloading the receipt's
//! page sends nothing again.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_api::receipts::{PreviewAnswer, ReceiptRequest};

use super::fmt::{count, instant};
use super::page::{render, Chrome, ConsoleError};
use super::receipts::{amount_rows, selection, tables, Table};
use super::session::Viewer;
use super::sign_in::form;
use crate::auth::need;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::receipts::issue;
use crate::state::AppState;

/// What the form holds, as the person typed it; also the hidden fields of the preview.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Choice {
    /// `since_last_receipt`, `conversation`, `date_range` or `log_ids`.
    #[serde(default)]
    pub mode: String,
    /// For `conversation`.
    #[serde(default)]
    pub conversation_id: String,
    /// For `date_range`.
    #[serde(default)]
    pub start_date: String,
    /// For `date_range`.
    #[serde(default)]
    pub end_date: String,
    /// For `log_ids`: ids separated by spaces, commas or lines.
    #[serde(default)]
    pub log_ids: String,
    /// Signed with the receipt.
    #[serde(default)]
    pub description: String,
    /// Comma-separated, signed with the receipt.
    #[serde(default)]
    pub tags: String,
}

/// A posted form: the choice and the session's token.
#[derive(Debug, Deserialize)]
struct Posted {
    csrf: String,
    #[serde(flatten)]
    choice: Choice,
}

impl Choice {
    /// The API's request for this choice: only the chosen mode's members, so the API's "first
    /// mode that applies" never picks a field left over from another choice.
    fn request(&self) -> Result<ReceiptRequest, ApiError> {
        let text = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        let mut req = ReceiptRequest {
            description: text(&self.description),
            tags: Some(
                self.tags
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
            .filter(|t| !t.is_empty()),
            ..ReceiptRequest::default()
        };
        match self.mode.as_str() {
            "since_last_receipt" => req.since_last_receipt = true,
            "conversation" => {
                req.conversation_id = Some(self.conversation_id.trim().to_string());
                if self.conversation_id.trim().is_empty() {
                    return Err(ApiError::invalid_field(
                        "conversation_id",
                        "name the conversation (its id)",
                    ));
                }
            }
            "date_range" => {
                if text(&self.start_date).is_none() || text(&self.end_date).is_none() {
                    return Err(ApiError::invalid_field(
                        "start_date",
                        "a date range needs both its first and its last day",
                    ));
                }
                req.start_date = text(&self.start_date);
                req.end_date = text(&self.end_date);
            }
            "log_ids" => {
                let ids: Vec<String> = self
                    .log_ids
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                if ids.is_empty() {
                    return Err(ApiError::invalid_field(
                        "log_ids",
                        "list at least one log id",
                    ));
                }
                req.log_ids = Some(ids);
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "mode",
                    "choose which logs the receipt certifies",
                ))
            }
        }
        Ok(req)
    }
}

#[derive(Template)]
#[template(path = "console/receipt_new.html")]
struct NewPage {
    chrome: Chrome,
    c: Choice,
    problem: Option<String>,
}

/// The form, with `problem` shown above it (and its status) when there is one.
fn new_form(
    viewer: &Viewer,
    c: Choice,
    problem: Option<ApiError>,
) -> Result<Response, ConsoleError> {
    let status = problem.as_ref().map_or(StatusCode::OK, ApiError::status);
    let mut c = c;
    if c.mode.is_empty() {
        c.mode = "since_last_receipt".into();
    }
    let page = NewPage {
        chrome: Chrome::new(viewer, "Generate a receipt", "/ui/receipts"),
        c,
        problem: problem.map(|e| e.message().to_string()),
    };
    let mut response = render(&page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /ui/receipts/new`: the form (filled from the query when coming back from a preview).
pub async fn new(viewer: Viewer, Query(c): Query<Choice>) -> Result<Response, ConsoleError> {
    viewer.may::<need::Read>()?;
    new_form(&viewer, c, None)
}

#[derive(Template)]
#[template(path = "console/receipt_preview.html")]
struct PreviewPage {
    chrome: Chrome,
    c: Choice,
    empty: Option<String>,
    tiles: Vec<(&'static str, String)>,
    amounts: Vec<(String, String, String, String)>,
    tables: Vec<Table>,
    selection: String,
    period: String,
}

/// `POST /ui/receipts/preview`: what a receipt of the selection would certify.
pub async fn preview(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let mut f: Posted = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let can = viewer.may::<need::Read>()?;
    // Carried on in one hidden field, the ids go on one line.
    f.choice.log_ids = f
        .choice
        .log_ids
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let answer = match f.choice.request() {
        Ok(req) => issue::preview(State(state), can, Body(req)).await,
        Err(e) => Err(e),
    };
    let Json(answer) = match answer {
        Ok(a) => a,
        Err(e) => return new_form(&viewer, f.choice, Some(e)),
    };
    let chrome = Chrome::new(&viewer, "Preview of the receipt", "/ui/receipts");
    let page = match answer {
        PreviewAnswer::Empty(e) => PreviewPage {
            chrome,
            c: f.choice,
            empty: Some(format!("{}: there is nothing to sign.", e.message)),
            tiles: Vec::new(),
            amounts: Vec::new(),
            tables: Vec::new(),
            selection: String::new(),
            period: String::new(),
        },
        PreviewAnswer::Found(p) => PreviewPage {
            chrome,
            c: f.choice,
            empty: None,
            tiles: vec![
                ("Logs", count(p.total_logs)),
                ("Tokens", count(p.total_tokens)),
                ("Conversations", count(p.total_conversations)),
                ("Unpriced calls", count(p.unpriced_events)),
            ],
            amounts: amount_rows(&p.amounts),
            tables: tables(&p.by_model, &p.by_alias, Some(&p.by_dimension)),
            selection: selection(&p.selection),
            period: match (&p.start_date, &p.end_date) {
                (Some(s), Some(e)) => format!("{} to {}", instant(s), instant(e)),
                _ => String::new(),
            },
        },
    };
    render(&page)
}

/// `POST /ui/receipts`: signs a receipt of the selection, then shows it.
pub async fn sign(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: Posted = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let can = viewer.may::<need::Read>()?;
    let generated = match f.choice.request() {
        Ok(req) => issue::generate(State(state), can, Body(req)).await,
        Err(e) => Err(e),
    };
    match generated {
        Ok(Json(g)) => {
            let id = &g.receipt.receipt.receipt_id;
            // A receipt id is `rcpt_` and base32: a path segment as it is.
            let id = if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                id.clone()
            } else {
                super::session::url_encode(id)
            };
            Ok(Redirect::to(&format!("/ui/receipts/{id}?notice=signed")).into_response())
        }
        Err(e) => new_form(&viewer, f.choice, Some(e)),
    }
}
