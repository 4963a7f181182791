//! Authentication: the key from `X-API-Key` or `Authorization: Bearer`, its tenant and
//! scopes. The tenant always comes from here, never from a body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use tollgate_store::{ApiKeyInfo, Scope};

use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;

/// The header an operator uses to act on another tenant.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The key used.
    pub key: Arc<ApiKeyInfo>,
    /// The tenant the request acts on: the key's, or the one an operator named.
    pub tenant_id: String,
}

impl Auth {
    /// Fails with 403 unless the key has `scope` (the operator scope has them all).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.scopes.contains(&scope) || self.key.scopes.contains(&Scope::Operator) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this API key lacks the '{}' scope",
                scope.as_str()
            )))
        }
    }
}

/// Remembers authenticated keys for a short time, so the hot path skips a database read.
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Arc<ApiKeyInfo>, Instant)>>,
}

impl AuthCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &str) -> Option<Arc<ApiKeyInfo>> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(k, _)| k.clone())
    }

    fn put(&self, hash: String, key: Arc<ApiKeyInfo>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(hash, (key, Instant::now()));
    }
}

/// The key from the headers, with llmring's shape checks and messages.
fn presented_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let raw = match headers.get("x-api-key") {
        Some(v) => v
            .to_str()
            .map_err(|_| ApiError::bad_request("INVALID_API_KEY", "X-API-Key must be ASCII"))?
            .to_string(),
        None => match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(v) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => v[7..].to_string(),
            _ => return Err(ApiError::unauthorized("X-API-Key header required")),
        },
    };
    let key = raw.trim().to_string();
    match keys::check_shape(&key) {
        Ok(()) => Ok(key),
        Err("empty") => Err(ApiError::unauthorized("X-API-Key header cannot be empty")),
        Err("too long") => Err(ApiError::bad_request(
            "INVALID_API_KEY",
            "X-API-Key too long",
        )),
        Err(_) => Err(ApiError::bad_request(
            "INVALID_API_KEY",
            "X-API-Key must not contain whitespace",
        )),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = presented_key(&parts.headers)?;
        let hash = keys::hash(&secret);
        let key = match state.auth_cache().get(&hash) {
            Some(k) => k,
            None => {
                let k = Arc::new(
                    state
                        .store()
                        .authenticate(&hash)
                        .await?
                        .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?,
                );
                state.auth_cache().put(hash, k.clone());
                k
            }
        };
        let named = match parts.headers.get(TENANT_HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| {
                        ApiError::bad_request("INVALID_TENANT", "X-Tenant-Id must be ASCII")
                    })?
                    .trim(),
            ),
        };
        let tenant_id = match named {
            None | Some("") => key.tenant_id.clone(),
            Some(t) if t == key.tenant_id || t == key.tenant_name => key.tenant_id.clone(),
            Some(t) => {
                if !key.scopes.contains(&Scope::Operator) {
                    return Err(ApiError::forbidden(
                        "only an operator key may act on another tenant (X-Tenant-Id)",
                    ));
                }
                state
                    .store()
                    .find_tenant(t)
                    .await?
                    .ok_or_else(|| ApiError::not_found("tenant"))?
                    .id
            }
        };
        Ok(Auth { key, tenant_id })
    }
}

/// Credentials when the request carries a key, none otherwise (for routes that answer
/// anyone but tell more to the owner). A key that is presented must be valid.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Auth>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key("x-api-key") || parts.headers.contains_key("authorization") {
            Ok(MaybeAuth(Some(
                Auth::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeAuth(None))
        }
    }
}
