//! The web console under `/ui/`: server-rendered pages (askama templates compiled into the
//! binary) with a little script, for tenant admins, operators and end users.
//!
//! A page reads and changes nothing on its own: it calls the API's handlers with the
//! signed-in viewer's credentials, so scopes, tenant isolation, validation and idempotency
//! are the API's, and a number on a page is the number the API answers. What a viewer's
//! scopes do not allow is neither linked nor served (the handler's own check refuses it).

mod account;
mod assets;
mod chart;
mod fmt;
mod overview;
mod page;
mod period;
mod session;
mod sign_in;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/assets/{name}", get(assets::serve))
}
