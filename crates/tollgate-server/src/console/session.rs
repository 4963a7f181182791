//! Who is signed in to the console: sessions opened from an API key or an end user's token,
//! kept in the database (so every instance knows them), named by a random id in an
//! `HttpOnly`, `SameSite=Strict` cookie scoped to `/ui`, and ended by signing out or by time.
//!
//! The secret a person signs in with is never kept in the browser: a key session holds the
//! key's hash and is checked against the key on every request (revoking the key ends it); an
//! end user's session holds the user and ends no later than the token. Every form carries the
//! session's CSRF token, and the sign-in form a token of its own bound to a cookie, so another
//! site can neither act in a session nor sign a browser in to one.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tollgate_core::time::now_us;
use tollgate_store::{ConsoleSession, KeyRole, Scope, SessionHolder};

use crate::auth::{Auth, Can, Need, Principal};
use crate::error::ApiError;
use crate::state::AppState;

use super::page::ConsoleError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "tollgate_session";
/// The sign-in form's own CSRF cookie (before there is a session).
pub const SIGN_IN_COOKIE: &str = "tollgate_sign_in";

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 (hex) of a session id: what the database keeps.
pub fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether cookies set for this request must be `Secure`: as configured, else when a trusted
/// proxy says the request came over HTTPS.
pub fn secure(state: &AppState, parts: &Parts) -> bool {
    if let Some(set) = state.settings().console.secure_cookie {
        return set;
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let from_proxy = peer.is_some_and(|ip| state.proxies().trusts(ip));
    from_proxy
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for the console: `HttpOnly`, `SameSite=Strict`, path `/ui`, for
/// `max_age` seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text)
        .expect("a cookie of base64url text and fixed attributes is a valid header")
}

/// Adds `Set-Cookie: cookie` to `response`.
pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// The person a console request is made by, from a live session.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// As the API would authenticate them, on the session's tenant.
    pub auth: Auth,
    /// The session.
    pub session: ConsoleSession,
    /// The tenant's name.
    pub tenant_name: String,
}

impl Viewer {
    /// Whether this is an end user (a customer's own view).
    pub fn is_user(&self) -> bool {
        matches!(self.auth.principal, Principal::User(_))
    }

    /// Whether the key has `scope` (an operator key has all; an end user none).
    pub fn can(&self, scope: Scope) -> bool {
        self.auth.require(scope).is_ok()
    }

    /// Whether this is an operator key.
    pub fn is_operator(&self) -> bool {
        matches!(&self.auth.principal, Principal::Key(k) if k.role == KeyRole::Operator)
    }

    /// The credentials a route's handler takes, if the viewer passes its check (403 if not).
    pub fn may<N: Need>(&self) -> Result<Can<N>, ApiError> {
        Can::checked(self.auth.clone())
    }

    /// Who is signed in, as the header shows it.
    pub fn label(&self) -> String {
        match &self.auth.principal {
            Principal::User(id) => format!("user {id}"),
            Principal::Key(k) => match &k.name {
                Some(name) => format!("{name} ({}…)", k.prefix),
                None => format!("key {}…", k.prefix),
            },
        }
    }

    /// Fails unless `sent` is this session's CSRF token: a form from anywhere else changes
    /// nothing.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ConsoleError> {
        if same_secret(sent, &self.session.csrf_token) {
            Ok(())
        } else {
            Err(ConsoleError::Api(ApiError::forbidden(
                "the form is stale or did not come from this console; reload the page and try again",
            )))
        }
    }
}

/// Where a request without a live session is sent: the sign-in page, coming back here after.
pub fn to_sign_in(parts: &Parts) -> Response {
    let back = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with("/ui/"))
        .unwrap_or("/ui/");
    let next: String = url_encode(back);
    Redirect::to(&format!("/ui/sign-in?next={next}")).into_response()
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(parts));
        };
        let hash = id_hash(id);
        let found = state
            .store()
            .console_session(&hash, now_us())
            .await
            .map_err(|e| ConsoleError::Api(e.into()).into_response())?;
        let Some(session) = found else {
            return Err(to_sign_in(parts));
        };
        let principal = match &session.holder {
            // End users sign in with tokens only while tokens are accepted: turning
            // `auth.jwt` off ends their sessions too.
            SessionHolder::User { user_id } if state.jwt().is_some() => {
                Principal::User(user_id.clone())
            }
            SessionHolder::User { .. } => {
                let _ = state.store().close_console_session(&hash).await;
                return Err(to_sign_in(parts));
            }
            SessionHolder::Key { key_hash } => {
                let key = match state.auth_cache().get(key_hash) {
                    Some(k) => Some(k),
                    None => state
                        .store()
                        .authenticate(key_hash)
                        .await
                        .map_err(|e| ConsoleError::Api(e.into()).into_response())?
                        .map(std::sync::Arc::new),
                };
                match key {
                    Some(k) if k.tenant_id == session.tenant_id || k.role == KeyRole::Operator => {
                        Principal::Key(k)
                    }
                    // Revoked since: the session ends with it.
                    _ => {
                        let _ = state.store().close_console_session(&hash).await;
                        return Err(to_sign_in(parts));
                    }
                }
            }
        };
        let tenant_name = state
            .store()
            .find_tenant(&session.tenant_id)
            .await
            .map_err(|e| ConsoleError::Api(e.into()).into_response())?
            .map(|t| t.name)
            .unwrap_or_else(|| session.tenant_id.clone());
        tracing::Span::current().record("tenant", tracing::field::display(&session.tenant_id));
        Ok(Viewer {
            auth: Auth {
                principal,
                tenant_id: session.tenant_id.clone(),
            },
            session,
            tenant_name,
        })
    }
}
