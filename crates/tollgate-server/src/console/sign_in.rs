//! Signing in and out: `GET`/`POST /ui/sign-in` and `POST /ui/sign-out`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_core::time::now_us;
use tollgate_store::{ConsoleSession, SessionHolder};

use super::page::{html, ConsoleError};
use super::session::{
    cookie, id_hash, random_token, same_secret, secure, set_cookie, with_cookie, Viewer,
    SESSION_COOKIE, SIGN_IN_COOKIE,
};
use crate::error::ApiError;
use crate::jwt::JwtAuth;
use crate::keys;
use crate::state::AppState;

/// How long a sign-in form may stay open, in seconds.
const FORM_SECONDS: u64 = 3600;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    csrf: String,
    next: String,
    problem: Option<String>,
    tokens: bool,
    minutes: u64,
}

/// The query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    /// The console page to go to after.
    next: Option<String>,
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
struct SignInForm {
    csrf: String,
    #[serde(default)]
    next: String,
    credential: String,
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
struct SignOutForm {
    csrf: String,
}

/// Reads a form body, refusing one that does not parse.
pub fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        ConsoleError::Api(ApiError::new(
            tollgate_api::ErrorCode::InvalidBody,
            format!("the form does not read: {e}"),
        ))
    })
}

/// A console path to return to: only `/ui/...` of this server, never elsewhere.
fn destination(next: &str) -> &str {
    let visible = next.bytes().all(|b| (0x21..0x7f).contains(&b));
    if visible && next.starts_with("/ui/") && !next.starts_with("/ui//") && !next.contains('\\') {
        next
    } else {
        "/ui/"
    }
}

/// The form with a fresh token bound to a cookie.
fn form_page(state: &AppState, parts: &Parts, next: &str, problem: Option<String>) -> Response {
    let csrf = random_token();
    let page = SignInPage {
        csrf: csrf.clone(),
        next: destination(next).to_string(),
        tokens: state.jwt().is_some(),
        minutes: state.settings().console.session_minutes,
        problem: problem.clone(),
    };
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let body = page.render().unwrap_or_default();
    with_cookie(
        html(status, body),
        set_cookie(SIGN_IN_COOKIE, &csrf, FORM_SECONDS, secure(state, parts)),
    )
}

/// `GET /ui/sign-in`: the form.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<SignInQuery>,
    parts: Parts,
) -> Response {
    form_page(&state, &parts, q.next.as_deref().unwrap_or("/ui/"), None)
}

/// Who a credential names, or why it names no one.
async fn holder(
    state: &AppState,
    credential: &str,
) -> Result<(SessionHolder, String, Option<i64>), String> {
    if let Some(jwt) = state.jwt().filter(|_| JwtAuth::looks_like_jwt(credential)) {
        let user = jwt
            .authenticate(credential, state.store())
            .await
            .map_err(|e| format!("That token is not accepted: {}.", e.message()))?;
        return Ok((
            SessionHolder::User {
                user_id: user.user_id,
            },
            user.tenant_id,
            Some(user.expires_us),
        ));
    }
    keys::check_shape(credential)
        .map_err(|_| "That is not an API key: paste the whole key, without spaces.".to_string())?;
    let hash = keys::hash(credential);
    let key = state
        .store()
        .authenticate(&hash)
        .await
        .map_err(|_| "Signing in failed for a moment; try again.".to_string())?
        .ok_or_else(|| "That key is not valid, or it was revoked.".to_string())?;
    Ok((SessionHolder::Key { key_hash: hash }, key.tenant_id, None))
}

/// `POST /ui/sign-in`: checks the credential once and opens a session for it.
pub async fn submit(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let f: SignInForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let bound = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if bound.is_empty() || !same_secret(bound, &f.csrf) {
        return form_page(
            &state,
            &parts,
            &f.next,
            Some("The sign-in form expired or came from elsewhere; try again.".into()),
        );
    }
    let (holder, tenant_id, token_expiry) = match holder(&state, f.credential.trim()).await {
        Ok(found) => found,
        Err(problem) => return form_page(&state, &parts, &f.next, Some(problem)),
    };
    let now = now_us();
    let minutes = state.settings().console.session_minutes.max(1);
    let limit = now.saturating_add((minutes as i64).saturating_mul(60_000_000));
    let expires_us = token_expiry.map_or(limit, |t| t.min(limit));
    let id = random_token();
    let session = ConsoleSession {
        id_hash: id_hash(&id),
        tenant_id,
        holder,
        csrf_token: random_token(),
        created_us: now,
        expires_us,
    };
    if let Err(e) = state.store().open_console_session(&session, now).await {
        return ConsoleError::from(e).into_response();
    }
    let seconds = u64::try_from((expires_us - now) / 1_000_000).unwrap_or(0);
    let secure = secure(&state, &parts);
    let response = Redirect::to(destination(&f.next)).into_response();
    let response = with_cookie(response, set_cookie(SESSION_COOKIE, &id, seconds, secure));
    with_cookie(response, set_cookie(SIGN_IN_COOKIE, "", 0, secure))
}

/// `POST /ui/sign-out`: ends the session, here and on every instance.
pub async fn sign_out(State(state): State<AppState>, mut parts: Parts, body: Bytes) -> Response {
    let secure = secure(&state, &parts);
    let done = || {
        with_cookie(
            Redirect::to("/ui/sign-in").into_response(),
            set_cookie(SESSION_COOKIE, "", 0, secure),
        )
    };
    let Ok(viewer) = Viewer::from_request_parts(&mut parts, &state).await else {
        return done();
    };
    let f: SignOutForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = viewer.check_csrf(&f.csrf) {
        return e.into_response();
    }
    if let Err(e) = state
        .store()
        .close_console_session(&viewer.session.id_hash)
        .await
    {
        return ConsoleError::from(e).into_response();
    }
    done()
}
