//! Authentication: a tenant API key from `X-API-Key` or `Authorization: Bearer`, with its
//! tenant and scopes, or an end user's JWT from `Authorization: Bearer` (see `jwt`). The
//! tenant always comes from here, never from a body. An end user reaches only their own
//! account, on the routes that ask [`Auth::require_account`]; [`Auth::require`] refuses them.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use tollgate_store::{ApiKeyInfo, KeyRole, Scope};

use crate::error::ApiError;
use crate::jwt::JwtAuth;
use crate::keys;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// The header an operator key uses to act on another tenant; any other key naming a tenant
/// but its own is refused (403).
pub const TENANT_HEADER: &str = "x-tenant-id";

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// Who is asking.
    pub principal: Principal,
    /// The tenant the request acts on: the key's (or the one an operator named), or the
    /// end user's.
    pub tenant_id: String,
}

/// The credential a request authenticated with.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A tenant API key, with its scopes.
    Key(Arc<ApiKeyInfo>),
    /// An end user, by a JWT; the id is its `sub`.
    User(String),
}

impl Auth {
    /// Fails with 403 unless the key has `scope` (an operator key has every scope). End
    /// users have no scopes: this refuses them on every route.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        self.require_one_of(&[scope])
    }

    /// As [`Auth::require`], for routes that any of `scopes` opens.
    pub fn require_one_of(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        let key = match &self.principal {
            Principal::Key(key) => key,
            Principal::User(_) => {
                return Err(ApiError::forbidden(
                    "an end-user token may only read its own balance, history and usage and authorize its own calls; this route needs a tenant API key",
                ))
            }
        };
        if key.role == KeyRole::Operator || scopes.iter().any(|s| key.scopes.contains(s)) {
            return Ok(());
        }
        let names: Vec<String> = scopes.iter().map(|s| format!("'{}'", s.as_str())).collect();
        Err(ApiError::forbidden(format!(
            "this API key lacks the {} scope",
            names.join(" or ")
        )))
    }

    /// Fails with 403 unless the key is an operator key: the deployment-wide role that
    /// manages plans and tenants and may act on any tenant.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match &self.principal {
            Principal::Key(key) if key.role == KeyRole::Operator => Ok(()),
            _ => Err(ApiError::forbidden(
                "this route needs an operator key (created with `tollgate keys create --operator`)",
            )),
        }
    }

    /// For the routes an end user may call on their own account (balance, history, usage,
    /// authorize): a key needs `scope`, an end user passes. Pair with [`Auth::account_user`].
    pub fn require_account(&self, scope: Scope) -> Result<(), ApiError> {
        match self.principal {
            Principal::Key(_) => self.require(scope),
            Principal::User(_) => Ok(()),
        }
    }

    /// The account a request acts on, given the (validated) `user_id` it names. A key gets
    /// the one named (None: as the route decides). An end user always gets their own;
    /// naming anyone else is a 404, exactly as for an account that does not exist.
    pub fn account_user(&self, requested: Option<String>) -> Result<Option<String>, ApiError> {
        match &self.principal {
            Principal::Key(_) => Ok(requested),
            Principal::User(own) => match requested {
                Some(other) if other != *own => Err(ApiError::not_found("account")),
                _ => Ok(Some(own.clone())),
            },
        }
    }
}

/// What a route needs of its caller, checked by [`Can`] as the credentials are extracted.
pub trait Need: Send + Sync + 'static {
    /// Passes, or fails with 403.
    fn check(auth: &Auth) -> Result<(), ApiError>;
}

/// The needs of Tollgate's routes.
pub mod need {
    use super::{Auth, Need};
    use crate::error::ApiError;
    use tollgate_store::Scope;

    macro_rules! needs {
        ($($(#[$doc:meta])* $name:ident => |$auth:ident| $check:expr;)*) => {$(
            $(#[$doc])*
            pub struct $name;
            impl Need for $name {
                fn check($auth: &Auth) -> Result<(), ApiError> {
                    $check
                }
            }
        )*};
    }

    needs! {
        /// A key with the `ingest` scope.
        Ingest => |a| a.require(Scope::Ingest);
        /// A key with the `read` scope.
        Read => |a| a.require(Scope::Read);
        /// A key with the `admin` scope.
        Admin => |a| a.require(Scope::Admin);
        /// A key with the `billing` scope: its tenant's money.
        Billing => |a| a.require(Scope::Billing);
        /// A key with the `billing` or the `admin` scope (spending limits).
        BillingOrAdmin => |a| a.require_one_of(&[Scope::Billing, Scope::Admin]);
        /// A key with the `ingest` or the `admin` scope (the MCP registry's writes: what an
        /// application registers as it runs, or what its admin sets up).
        IngestOrAdmin => |a| a.require_one_of(&[Scope::Ingest, Scope::Admin]);
        /// An operator key: the deployment-wide role.
        Operator => |a| a.require_operator();
        /// A key with the `ingest` scope, or an end user acting on their own account.
        OwnIngest => |a| a.require_account(Scope::Ingest);
        /// A key with the `read` scope, or an end user reading their own account.
        OwnRead => |a| a.require_account(Scope::Read);
    }
}

/// Credentials that passed `N`. A handler takes it before any path, query or body
/// extractor, so a caller without the scope gets 403 whatever the rest of its request holds,
/// and no body is read for it.
pub struct Can<N>(pub Auth, PhantomData<N>);

impl<N: Need> Can<N> {
    /// `auth`, if it passes `N`: for callers that authenticated another way (the console's
    /// sessions) and then call a route's handler, so the route's own check decides.
    pub fn checked(auth: Auth) -> Result<Can<N>, ApiError> {
        N::check(&auth)?;
        Ok(Can(auth, PhantomData))
    }
}

impl<N> Deref for Can<N> {
    type Target = Auth;

    fn deref(&self) -> &Auth {
        &self.0
    }
}

impl<N: Need> FromRequestParts<AppState> for Can<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        N::check(&auth)?;
        Ok(Can(auth, PhantomData))
    }
}

/// What the headers present.
enum Credential<'a> {
    /// An API key.
    Key(String),
    /// A bearer token shaped like a JWT, when end-user tokens are configured.
    Token(&'a JwtAuth, String),
}

/// The credential from the headers, with llmring's shape checks and messages for keys.
fn presented<'a>(
    headers: &HeaderMap,
    jwt: Option<&'a JwtAuth>,
) -> Result<Credential<'a>, ApiError> {
    let raw = match headers.get("x-api-key") {
        Some(v) => v
            .to_str()
            .map_err(|_| {
                ApiError::new(ErrorCode::InvalidApiKey, "X-API-Key must be ASCII")
                    .with_field("X-API-Key")
            })?
            .to_string(),
        None => match headers
            .get("authorization")
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::new(ErrorCode::InvalidApiKey, "Authorization must be ASCII")
                        .with_field("Authorization")
                })
            })
            .transpose()?
        {
            Some(v) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => {
                let bearer = v[7..].trim();
                if let Some(jwt) = jwt.filter(|_| JwtAuth::looks_like_jwt(bearer)) {
                    return Ok(Credential::Token(jwt, bearer.to_string()));
                }
                bearer.to_string()
            }
            _ => return Err(ApiError::unauthorized("X-API-Key header required")),
        },
    };
    let key = raw.trim().to_string();
    match keys::check_shape(&key) {
        Ok(()) => Ok(Credential::Key(key)),
        Err("empty") => Err(ApiError::unauthorized("X-API-Key header cannot be empty")),
        Err("too long") if !headers.contains_key("x-api-key") && JwtAuth::looks_like_jwt(&key) => {
            Err(ApiError::new(ErrorCode::InvalidToken,
                "end-user tokens (JWT) are not enabled on this server; authenticate with an API key",
            ))
        }
        Err("too long") => Err(ApiError::new(ErrorCode::InvalidApiKey,
            "X-API-Key too long",
        )),
        Err(_) => Err(ApiError::new(ErrorCode::InvalidApiKey,
            "X-API-Key must not contain whitespace",
        )),
    }
}

/// The tenant `X-Tenant-Id` names, if any (trimmed; empty counts as none).
fn named_tenant(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(TENANT_HEADER) {
        None => Ok(None),
        Some(v) => Ok(Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::new(ErrorCode::InvalidTenant, "X-Tenant-Id must be ASCII")
                        .with_field("X-Tenant-Id")
                })?
                .trim(),
        )
        .filter(|t| !t.is_empty())),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = match presented(&parts.headers, state.jwt())? {
            Credential::Key(secret) => secret,
            Credential::Token(jwt, token) => {
                let user = jwt.authenticate(&token, state.store()).await?;
                if let Some(t) = named_tenant(&parts.headers)? {
                    if t != user.tenant_id {
                        let named = state.store().find_tenant(t).await?;
                        if named.is_none_or(|n| n.id != user.tenant_id) {
                            return Err(ApiError::forbidden(
                                "an end-user token acts on its own tenant only (X-Tenant-Id)",
                            ));
                        }
                    }
                }
                tracing::Span::current().record("tenant", tracing::field::display(&user.tenant_id));
                return Ok(Auth {
                    principal: Principal::User(user.user_id),
                    tenant_id: user.tenant_id,
                });
            }
        };
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
        let tenant_id = match named_tenant(&parts.headers)? {
            None => key.tenant_id.clone(),
            Some(t) if t == key.tenant_id || t == key.tenant_name => key.tenant_id.clone(),
            Some(t) => {
                if key.role != KeyRole::Operator {
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
        tracing::Span::current().record("tenant", tracing::field::display(&tenant_id));
        Ok(Auth {
            principal: Principal::Key(key),
            tenant_id,
        })
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
