//! `GET /registry/…`: the model registry llmring reads, with the prices Tollgate charges (see
//! [`crate::registry`]). No key is needed; with a valid key the caller's tenant sees its own
//! prices where it has them (and the answer is then `Cache-Control: private`).
//!
//! Every answer carries `ETag: "<digest of the listed prices>"`; an `If-None-Match` naming it
//! (or `*`) gets 304 with an empty body, before any filter is applied.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_api::registry::{ProviderModels, RegistryManifest, RegistryResponse};
use tollgate_api::ErrorCode;
use tollgate_core::pricing::canonical_provider;
use tollgate_core::time::{now_us, parse_instant, DateEdge};

use crate::auth::MaybeAuth;
use crate::error::ApiError;
use crate::extract::{Params, PathParam};
use crate::registry::{filter, View};
use crate::state::AppState;

/// Query of `GET /registry/`. An empty value is no filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistryQuery {
    /// Only these providers, comma-separated (`openai,anthropic`).
    providers: Option<String>,
    /// Only models with every one of these, comma-separated: `vision`, `function_calling`,
    /// `json_mode`, `parallel_tool_calls` (the `supports_*` flags, all false: the price book
    /// knows no capabilities) or the name of a model field that must be truthy. One the
    /// models do not have gives an empty `models`, not an error.
    capabilities: Option<String>,
}

fn csv(v: Option<&str>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// How long an answer may be kept.
#[derive(Clone, Copy)]
enum Keep {
    /// An hour: the prices in force can change.
    Hour,
    /// For good: the answer to a digest never changes.
    Forever,
}

/// The tenant whose prices the caller sees ("" for no key) and whether the answer is its own.
fn caller(auth: &MaybeAuth) -> (String, bool) {
    match &auth.0 {
        Some(a) => (a.tenant_id.clone(), true),
        None => (String::new(), false),
    }
}

/// 304 when `If-None-Match` names `etag` (or is `*`), else `body()` as JSON; both with the
/// validator and the caching headers.
fn answer<T: Serialize>(
    headers: &HeaderMap,
    etag: &str,
    private: bool,
    keep: Keep,
    body: impl FnOnce() -> T,
) -> Response {
    let tag = format!("\"{etag}\"");
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body()).into_response()
    };
    let scope = if private { "private" } else { "public" };
    let cache = match keep {
        Keep::Hour => format!("{scope}, max-age=3600"),
        Keep::Forever => format!("{scope}, max-age=31536000, immutable"),
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(CACHE_CONTROL, v);
    }
    h.insert(VARY, HeaderValue::from_static("X-API-Key, Authorization"));
    response
}

/// The model registry
///
/// Every model Tollgate prices now, in llmring-server's `RegistryResponse` shape, with the
/// rates Tollgate charges: for the caller's tenant when a key is sent (its own prices replace
/// the shared ones), the shared prices otherwise. `version` is a digest of the listed prices,
/// sent as the `ETag`; `If-None-Match` with it gives 304. Also at `/registry.json`;
/// `/registry` redirects here (307).
#[utoipa::path(
    get,
    path = "/registry/",
    tag = "registry",
    operation_id = "registry",
    security((), ("api_key" = []), ("bearer" = [])),
    params(RegistryQuery),
    responses(
        (status = 200, description = "The registry", body = RegistryResponse,
         headers(
             ("etag" = String, description = "`\"<version>\"`"),
             ("cache-control" = String, description = "`public, max-age=3600`; `private` when a key was sent"),
         )),
        (status = 304, description = "`If-None-Match` named the current `ETag`: no body"),
    )
)]
pub async fn registry(
    State(state): State<AppState>,
    auth: MaybeAuth,
    headers: HeaderMap,
    Params(q): Params<RegistryQuery>,
) -> Result<Response, ApiError> {
    let (tenant, private) = caller(&auth);
    let book = state.prices().current();
    let view = View::new(&book, &tenant, now_us());
    let version = view.digest();
    Ok(answer(&headers, &version, private, Keep::Hour, || {
        let mut body = view.response(version.clone());
        filter(
            &mut body.models,
            &csv(q.providers.as_deref()),
            &csv(q.capabilities.as_deref()),
        );
        body
    }))
}

/// `YYYY.MM.DD` → the last microsecond of that UTC day.
fn end_of_day(version: &str) -> Option<i64> {
    let b = version.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'.'
        && b[7] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    parse_instant(&version.replace('.', "-"), DateEdge::End).ok()
}

/// The registry at a version
///
/// `version` is either the current `version` of `GET /registry/` (the same answer, kept for
/// good: a digest names its contents) or a date `YYYY.MM.DD`: the prices in force at the end
/// of that UTC day, as the price book holds them now (a later import can change a past
/// day's answer, so it is kept for an hour). Tollgate keeps no past registries by digest: any
/// other version is a 404.
#[utoipa::path(
    get,
    path = "/registry/v/{version}/registry.json",
    tag = "registry",
    operation_id = "registry_version",
    security((), ("api_key" = []), ("bearer" = [])),
    params(("version" = String, Path, description = "The current digest, or a date `YYYY.MM.DD`")),
    responses(
        (status = 200, description = "The registry at that version", body = RegistryResponse,
         headers(
             ("etag" = String, description = "`\"<digest of the listed prices>\"`"),
             ("cache-control" = String, description = "`public, max-age=31536000, immutable` for the current digest, `public, max-age=3600` for a date; `private` when a key was sent"),
         )),
        (status = 304, description = "`If-None-Match` named the `ETag`: no body"),
        (status = 404, description = "Neither the current digest nor a date"),
    )
)]
pub async fn registry_version(
    State(state): State<AppState>,
    auth: MaybeAuth,
    headers: HeaderMap,
    PathParam(version): PathParam,
) -> Result<Response, ApiError> {
    let (tenant, private) = caller(&auth);
    let book = state.prices().current();
    let current = View::new(&book, &tenant, now_us());
    let digest = current.digest();
    if version == digest {
        return Ok(answer(&headers, &digest, private, Keep::Forever, || {
            current.response(digest.clone())
        }));
    }
    let Some(at) = end_of_day(&version) else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "registry version '{version}' is not the current one ('{digest}'): Tollgate does \
                 not keep past registries by digest; ask for a date, \
                 /registry/v/YYYY.MM.DD/registry.json, for the prices in force at the end of \
                 that UTC day"
            ),
        ));
    };
    let then = View::new(&book, &tenant, at);
    let etag = then.digest();
    Ok(answer(&headers, &etag, private, Keep::Hour, || {
        then.response(version.clone())
    }))
}

/// One provider's models, llmring's registry file
///
/// The file the llmring client fetches as `<registry_url>/<provider>/models.json`, with the
/// prices Tollgate charges (for the caller's tenant when a key is sent). Its `version` is an
/// integer, as the client reads it: the date (`YYYYMMDD`) the newest of these prices took
/// effect. `ETag` is `digest`.
#[utoipa::path(
    get,
    path = "/registry/{provider}/models.json",
    tag = "registry",
    operation_id = "registry_provider_models",
    security((), ("api_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "The provider: `openai`, `anthropic`, `google`, …")),
    responses(
        (status = 200, description = "The provider's models", body = ProviderModels,
         headers(
             ("etag" = String, description = "`\"<digest>\"`"),
             ("cache-control" = String, description = "`public, max-age=3600`; `private` when a key was sent"),
         )),
        (status = 304, description = "`If-None-Match` named the current `ETag`: no body"),
        (status = 404, description = "Tollgate has no prices for that provider"),
    )
)]
pub async fn provider_models(
    State(state): State<AppState>,
    auth: MaybeAuth,
    headers: HeaderMap,
    PathParam(provider): PathParam,
) -> Result<Response, ApiError> {
    let (tenant, private) = caller(&auth);
    let provider = canonical_provider(&provider);
    let book = state.prices().current();
    let view = View::new(&book, &tenant, now_us()).provider(&provider);
    if view.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("Tollgate has no prices for provider '{provider}'"),
        ));
    }
    let digest = view.digest();
    Ok(answer(&headers, &digest, private, Keep::Hour, || {
        view.provider_file(&provider)
    }))
}

/// The registry's manifest
///
/// What llmring-server reads from its registry base URL before the per-provider files: the
/// merged `version` and, per provider, its file, model count and version.
#[utoipa::path(
    get,
    path = "/registry/manifest.json",
    tag = "registry",
    operation_id = "registry_manifest",
    security((), ("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The manifest", body = RegistryManifest,
         headers(
             ("etag" = String, description = "`\"<version>\"`"),
             ("cache-control" = String, description = "`public, max-age=3600`; `private` when a key was sent"),
         )),
        (status = 304, description = "`If-None-Match` named the current `ETag`: no body"),
    )
)]
pub async fn manifest(
    State(state): State<AppState>,
    auth: MaybeAuth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, private) = caller(&auth);
    let book = state.prices().current();
    let view = View::new(&book, &tenant, now_us());
    let version = view.digest();
    Ok(answer(&headers, &version, private, Keep::Hour, || {
        view.manifest()
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_date_version_is_the_end_of_that_day_and_nothing_else_is_a_date() {
        let end = super::end_of_day("2025.11.13").expect("a date");
        assert_eq!(
            tollgate_core::time::format_us(end),
            "2025-11-13T23:59:59.999999Z"
        );
        for v in [
            "2025-11-13",
            "2025.1.13",
            "3f5c0a9e12b4d6e8",
            "2025.13.40",
            "v1",
        ] {
            assert!(super::end_of_day(v).is_none(), "{v}");
        }
    }
}
