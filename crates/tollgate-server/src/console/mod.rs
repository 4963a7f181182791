//! The web console under `/ui/`: server-rendered pages (askama templates compiled into the
//! binary) with a little script, for tenant admins, operators and end users.
//!
//! A page reads and changes nothing on its own: it calls the API's handlers with the
//! signed-in viewer's credentials, so scopes, tenant isolation, validation and idempotency
//! are the API's, and a number on a page is the number the API answers. What a viewer's
//! scopes do not allow is neither linked nor served (the handler's own check refuses it).

mod account;
mod account_admin;
mod account_forms;
mod accounts;
mod assets;
mod chart;
mod fmt;
mod keys;
mod log_detail;
mod logs;
mod logs_csv;
mod overview;
mod page;
mod period;
mod plans;
mod prices;
mod receipt_issue;
mod receipts;
mod session;
mod sign_in;
mod statement;
mod tenants;
mod webhooks;

use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;
use page::ConsoleError;

/// The confirmations a page shows after a change, by the code its redirect carries: fixed
/// sentences, so nothing from a URL is ever shown as text.
pub struct Notice;

impl Notice {
    const ALL: &'static [(&'static str, &'static str)] = &[
        ("webhook-removed", "Endpoint removed."),
        ("key-revoked", "Key revoked: it is refused from now on."),
        ("plan-saved", "Plan saved."),
        ("tenant-moved", "The tenant moved to the plan."),
        ("tenant-added", "Tenant added."),
        ("signed", "The receipt was signed and stored."),
        ("topped-up", "The top-up was posted."),
        ("refunded", "The refund was posted."),
        ("limits-saved", "The limits and status were saved."),
    ];

    /// The sentence for `code`, if it is one.
    pub fn read(code: Option<&str>) -> Option<&'static str> {
        let code = code?;
        Notice::ALL
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, s)| *s)
    }
}

/// The JSON body of a handler's response, as `T`.
pub async fn json_of<T: DeserializeOwned>(response: Response) -> Result<T, ConsoleError> {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(format!("a handler's answer did not read: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(format!("a handler's answer did not parse: {e}")).into())
}

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        // Where a person looks for a web page (`/` is llmring's server information).
        .route("/dashboard", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/logs", get(logs::page))
        .route("/ui/logs/export.csv", get(logs_csv::export))
        .route("/ui/logs/{log_id}", get(log_detail::page))
        .route("/ui/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/accounts", get(accounts::page))
        .route("/ui/accounts/{user_id}", get(account_admin::page))
        .route("/ui/accounts/{user_id}/statement", get(statement::page))
        .route("/ui/accounts/{user_id}/topup", post(account_forms::topup))
        .route("/ui/accounts/{user_id}/refund", post(account_forms::refund))
        .route("/ui/accounts/{user_id}/limits", post(account_forms::limits))
        .route("/ui/assets/{name}", get(assets::serve))
        .route(
            "/ui/operate",
            get(|| async { Redirect::to("/ui/operate/webhooks") }),
        )
        .route(
            "/ui/operate/webhooks",
            get(webhooks::page).post(webhooks::create),
        )
        .route("/ui/operate/webhooks/{id}", get(webhooks::deliveries))
        .route("/ui/operate/webhooks/{id}/delete", post(webhooks::delete))
        .route("/ui/operate/keys", get(keys::page).post(keys::create))
        .route("/ui/operate/keys/{id}/revoke", post(keys::revoke))
        .route("/ui/operate/plans", get(plans::page))
        .route("/ui/operate/plans/quota", post(plans::set_quota))
        .route("/ui/operate/plans/move", post(plans::move_tenant))
        .route("/ui/operate/prices", get(prices::page))
        .route("/ui/tenants", get(tenants::page).post(tenants::create))
        .route("/ui/tenants/{id}/act", post(tenants::act))
        .route(
            "/ui/receipts",
            get(receipts::list).post(receipt_issue::sign),
        )
        .route("/ui/receipts/new", get(receipt_issue::new))
        .route("/ui/receipts/preview", post(receipt_issue::preview))
        .route("/ui/receipts/{id}", get(receipts::one))
        .route("/ui/receipts/{id}/proof", get(receipts::proof))
        .route(
            "/ui/receipts/{id}/server-check",
            get(receipts::server_check),
        )
}
