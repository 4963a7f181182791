//! The router: every route, the metrics middleware and JSON fallbacks. The OpenAPI document
//! ([`crate::openapi`]) comes from the same registration, so a route cannot be served without
//! being documented.
//!
//! To add a route:
//! 1. Put `#[utoipa::path(...)]` on the handler: method, `path`, `tag`, `operation_id`,
//!    `params(...)` (path parameters by name, query structs deriving `IntoParams`),
//!    `request_body` (a struct deriving `ToSchema`) and `responses(...)`. The first line of its
//!    doc comment is the summary, the rest the description. Error statuses need only a
//!    description: the error body and a `default` error response are added to every operation.
//! 2. Register it in [`api`] with `.routes(routes!(module::handler))`; handlers of one path with
//!    different methods go in one `routes!`.
//! 3. A second path for the same handler goes through [`Api::alias`], which documents it as a
//!    copy of the first. Never add a route with axum's `Router::route`: it would be undocumented.
//! 4. Refresh the committed document: `cargo run -- openapi -o docs/openapi.json`.

mod alerts;
mod analytics;
mod authorize;
pub(crate) mod billing;
mod conversations;
mod costs;
mod docs;
pub(crate) mod export;
pub(crate) mod export_receipt;
mod keys;
pub(crate) mod logs;
mod mcp;
mod payments;
pub(crate) mod plans;
pub(crate) mod pricing;
pub(crate) mod rate_limits;
pub(crate) mod receipts;
mod registry;
mod reprice;
mod slash;
pub(crate) mod stats;
mod totals;
mod transparency;
mod usage;
pub(crate) mod webhooks;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tollgate_api::operate::{DatabaseStatus, Engine, Health, HealthStatus, ServerInfo};
use tollgate_store::Dialect;
use tracing::Instrument;
use utoipa::openapi::{HttpMethod, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::{routes, PathItemExt};

use crate::error::ApiError;
use crate::openapi::Alias;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Routes being registered, with their documentation.
pub(crate) struct Api {
    router: OpenApiRouter<AppState>,
    aliases: Vec<Alias>,
}

impl Api {
    /// Serves and documents the handlers of `routes!(...)`.
    fn routes(mut self, routes: UtoipaMethodRouter<AppState>) -> Api {
        self.router = self.router.routes(routes);
        self
    }

    /// Serves `handler` at `path` too, documented as a copy of its `method` operation at `of`.
    fn alias<H, T>(
        mut self,
        method: HttpMethod,
        path: &'static str,
        of: &'static str,
        handler: H,
    ) -> Api
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = axum::routing::on(method.to_method_filter(), handler);
        self.router = self.router.route(path, route);
        self.aliases.push(Alias { path, of, method });
        self
    }
}

/// Every route: the axum router (without state, fallbacks or layers) and its document.
pub(crate) fn api() -> (Router<AppState>, OpenApi) {
    use HttpMethod::{Get, Post};
    let api = Api {
        router: OpenApiRouter::with_openapi(crate::openapi::base()),
        aliases: Vec::new(),
    }
    .routes(routes!(root))
    .routes(routes!(health))
    .routes(routes!(metrics))
    .routes(routes!(docs::openapi_json))
    .routes(routes!(docs::docs))
    .routes(routes!(usage::log))
    .routes(routes!(usage::log_batch))
    .routes(routes!(logs::logs))
    .routes(routes!(logs::one))
    .routes(routes!(stats::stats))
    .routes(routes!(pricing::pricing))
    .routes(routes!(pricing::coverage))
    .routes(routes!(pricing::import))
    .routes(routes!(reprice::reprice))
    .routes(routes!(conversations::log))
    .routes(routes!(conversations::list, conversations::edit::create))
    .alias(
        Get,
        "/api/v1/conversations",
        "/api/v1/conversations/",
        conversations::list,
    )
    .alias(
        Post,
        "/api/v1/conversations",
        "/api/v1/conversations/",
        conversations::edit::create,
    )
    .routes(routes!(conversations::get, conversations::edit::update))
    .routes(routes!(conversations::messages, conversations::add::one))
    .routes(routes!(conversations::add::batch))
    .routes(routes!(conversations::old::delete_old_messages))
    .routes(routes!(receipts::list))
    .alias(Get, "/api/v1/receipts/", "/api/v1/receipts", receipts::list)
    .routes(routes!(receipts::issue::generate))
    .routes(routes!(receipts::issue::preview))
    .routes(routes!(receipts::verify))
    .routes(routes!(receipts::uncertified))
    .routes(routes!(receipts::get))
    .routes(routes!(receipts::logs))
    .routes(routes!(receipts::proof))
    .routes(routes!(keys::public_key_pem))
    .alias(
        Get,
        "/api/v1/receipts/public-key.pem",
        "/receipts/public-key.pem",
        keys::public_key_pem,
    )
    .routes(routes!(keys::public_key_jwk))
    .routes(routes!(keys::public_keys))
    .alias(
        Get,
        "/api/v1/receipts/public-keys.json",
        "/receipts/public-keys.json",
        keys::public_keys,
    )
    .routes(routes!(transparency::checkpoint))
    .routes(routes!(transparency::consistency))
    .routes(routes!(transparency::entries))
    .routes(routes!(transparency::log_proof))
    .routes(routes!(payments::stripe))
    .routes(routes!(payments::paddle))
    .routes(routes!(payments::fondy))
    .routes(routes!(authorize::authorize))
    .routes(routes!(authorize::release))
    .routes(routes!(plans::list))
    .routes(routes!(plans::put, plans::delete))
    .routes(routes!(rate_limits::list))
    .routes(routes!(rate_limits::put_key, rate_limits::delete_key))
    .routes(routes!(rate_limits::put_user, rate_limits::delete_user))
    .routes(routes!(billing::set_plan))
    .alias(
        Post,
        "/billing/plan",
        "/api/v1/billing/plan",
        billing::set_plan,
    )
    .routes(routes!(billing::limits))
    .alias(
        Get,
        "/billing/limits",
        "/api/v1/billing/limits",
        billing::limits,
    )
    .routes(routes!(billing::accounts::list))
    .routes(routes!(billing::accounts::balance))
    .routes(routes!(billing::stream::balance_stream))
    .routes(routes!(billing::prepaid::balance))
    .routes(routes!(billing::accounts::history))
    .routes(routes!(billing::prepaid::history))
    .routes(routes!(billing::credits::topup))
    .routes(routes!(billing::prepaid::topup))
    .routes(routes!(billing::credits::refund))
    .routes(routes!(billing::credits::adjustment))
    .routes(routes!(billing::accounts::settings))
    .routes(routes!(billing::prepaid::settings))
    .routes(routes!(billing::overrides::get, billing::overrides::put))
    .routes(routes!(billing::overrides::audit))
    .routes(routes!(billing::reports::usage))
    .alias(
        Get,
        "/billing/usage",
        "/api/v1/billing/usage",
        billing::reports::usage,
    )
    .routes(routes!(billing::statements::statement))
    .routes(routes!(billing::reports::cost_report))
    .alias(
        Get,
        "/billing/cost-report",
        "/api/v1/billing/cost-report",
        billing::reports::cost_report,
    )
    .routes(routes!(webhooks::create, webhooks::list))
    .routes(routes!(webhooks::get, webhooks::delete))
    .routes(routes!(webhooks::deliveries))
    .routes(routes!(alerts::get, alerts::set))
    .routes(routes!(alerts::deliveries))
    .routes(routes!(costs::daily))
    .routes(routes!(analytics::usage))
    .routes(routes!(analytics::top))
    .routes(routes!(analytics::peak_hours))
    .routes(routes!(analytics::cohorts))
    .routes(routes!(costs::monthly))
    .routes(routes!(export::usage))
    .routes(routes!(export_receipt::receipt))
    .routes(routes!(registry::registry))
    .alias(Get, "/registry.json", "/registry/", registry::registry)
    .routes(routes!(registry::manifest))
    .routes(routes!(registry::registry_version))
    .routes(routes!(registry::provider_models))
    .routes(routes!(mcp::servers::create, mcp::servers::list))
    .routes(routes!(
        mcp::servers::get,
        mcp::servers::update,
        mcp::servers::put,
        mcp::servers::delete
    ))
    .routes(routes!(mcp::refresh::refresh))
    .routes(routes!(mcp::tools::create, mcp::tools::list))
    .routes(routes!(mcp::tools::get, mcp::tools::update))
    .routes(routes!(mcp::executions::execute))
    .routes(routes!(mcp::executions::history))
    .routes(routes!(mcp::catalog::list_resources))
    .routes(routes!(mcp::catalog::get_resource))
    .routes(routes!(mcp::catalog::resource_content))
    .routes(routes!(mcp::catalog::list_prompts))
    .routes(routes!(mcp::catalog::get_prompt))
    .routes(routes!(mcp::catalog::render_prompt));
    let (router, mut document) = api.router.split_for_parts();
    crate::openapi::finish(&mut document, &api.aliases);
    (router, document)
}

/// The API document, generated from the registration.
pub(crate) fn document() -> OpenApi {
    api().1
}

/// The document served at `/openapi.json`, rendered once.
pub(crate) fn served() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| crate::openapi::to_json(&document()))
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings().max_body_bytes;
    let (routes, document) = api();
    let served = Arc::new(slash::Served::new(document.paths.paths.keys()));
    let routes = if state.settings().console.enabled {
        routes.merge(crate::console::router())
    } else {
        routes
    };
    routes
        .fallback(move |req: Request| not_found(served, req))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Runs the request in a `request` span (method, route, path, and the tenant once the
/// credentials name it), counts it in the metrics, and logs it: at `debug` always, at `warn`
/// when it took `http.slow_request_ms` or more. Bad bytes in the path or query and a declared
/// body over the limit are answered here, before the route runs (`input::check_request`).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().cloned();
    let matched = path.as_ref().map(MatchedPath::as_str);
    let route = matched.unwrap_or("unmatched");
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        _ => "OTHER",
    };
    // At `error` level, so that whatever the filter lets through (errors, warnings) carries it.
    // The values are recorded as `Display`: the text format then copies them as they are
    // instead of escaping them character by character, on every request.
    let span = tracing::error_span!(
        "request",
        method = %method,
        route = %route,
        path = %req.uri().path(),
        tenant = tracing::field::Empty,
    );
    let started = Instant::now();
    let checked = crate::input::check_request(&req, matched, state.settings().max_body_bytes);
    let response = match checked {
        Ok(()) => next.run(req).instrument(span.clone()).await,
        Err(e) => span.in_scope(|| e.into_response()),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics().request(route, method, status);
    let slow = state.settings().http.slow_request_ms;
    let ms = elapsed.as_secs_f64() * 1e3;
    span.in_scope(|| {
        if slow > 0 && elapsed >= Duration::from_millis(slow) {
            tracing::warn!(status, ms, "slow request");
        } else {
            tracing::debug!(status, ms, "request");
        }
    });
    response
}

/// No route serves the path: 307 to the same path with its trailing slash toggled when a
/// route serves that (see [`slash`]), else 404.
async fn not_found(served: Arc<slash::Served>, req: Request) -> Response {
    match served.redirect(&req) {
        Some(redirect) => redirect,
        None => ApiError::new(ErrorCode::NotFound, "no such route").into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method",
    )
}

/// The name `GET /` and `GET /health` give.
const SERVER_NAME: &str = "Tollgate";

/// What this server is
///
/// Its name and version and where to start: the reference, the OpenAPI document and the health
/// check. No key is needed.
#[utoipa::path(
    get,
    path = "/",
    tag = "operate",
    operation_id = "root",
    security(()),
    responses(
        (status = 200, description = "The server's name, version and links", body = ServerInfo),
    )
)]
async fn root() -> Json<ServerInfo> {
    Json(ServerInfo {
        name: SERVER_NAME.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        docs: "/docs".into(),
        openapi: "/openapi.json".into(),
        health: "/health".into(),
        registry: "/registry/".into(),
    })
}

/// Whether the server and its database answer
///
/// 200 when the database answers; 503 with `Retry-After` when it does not.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operate",
    operation_id = "health",
    security(()),
    responses(
        (status = 200, description = "The server and its database answer", body = Health),
        (status = 503, description = "The database does not answer: `status` `unavailable`, `database` `unreachable`, no `version`", body = Health),
    )
)]
async fn health(State(state): State<AppState>) -> Response {
    let engine = match state.store().dialect() {
        Dialect::Sqlite => Engine::Sqlite,
        Dialect::Postgres => Engine::Postgres,
    };
    match state.store().health().await {
        Ok(()) => Json(Health {
            status: HealthStatus::Ok,
            database: DatabaseStatus::Ok,
            engine,
            name: SERVER_NAME.to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(Health {
                    status: HealthStatus::Unavailable,
                    database: DatabaseStatus::Unreachable,
                    engine,
                    name: SERVER_NAME.to_string(),
                    version: None,
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics
///
/// Requests by route and status, ingested events, commit batch sizes and latency, receipts
/// issued, authorize decisions by outcome, holds open and expired, HTTP connections (open,
/// the cap, shed, refused) and timeouts by kind.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operate",
    operation_id = "metrics",
    security(()),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
    )
)]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(
            state.store().contention_retries(),
            state.store().append_guesses(),
        ),
    )
        .into_response()
}
