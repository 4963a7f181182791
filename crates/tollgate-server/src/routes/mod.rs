//! The router: every route, the metrics middleware and JSON fallbacks.

mod authorize;
mod billing;
mod conversations;
mod costs;
mod export;
mod export_receipt;
mod logs;
mod pricing;
mod receipts;
mod stats;
mod totals;
mod usage;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings().max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/log", post(usage::log))
        .route("/api/v1/log/batch", post(usage::log_batch))
        .route("/api/v1/logs", get(logs::logs))
        .route("/api/v1/stats", get(stats::stats))
        .route("/api/v1/pricing", get(pricing::pricing))
        .route("/api/v1/conversations/log", post(conversations::log))
        .route("/api/v1/conversations", get(conversations::list))
        .route("/api/v1/conversations/", get(conversations::list))
        .route("/api/v1/conversations/{id}", get(conversations::get))
        .route(
            "/api/v1/conversations/{id}/messages",
            get(conversations::messages),
        )
        .route("/api/v1/receipts", get(receipts::list))
        .route("/api/v1/receipts/", get(receipts::list))
        .route("/api/v1/receipts/generate", post(receipts::generate))
        .route("/api/v1/receipts/preview", post(receipts::preview))
        .route("/api/v1/receipts/verify", post(receipts::verify))
        .route("/api/v1/receipts/uncertified", get(receipts::uncertified))
        .route(
            "/api/v1/receipts/public-key.pem",
            get(receipts::public_key_pem),
        )
        .route(
            "/api/v1/receipts/public-keys.json",
            get(receipts::public_keys),
        )
        .route("/api/v1/receipts/{id}", get(receipts::get))
        .route("/api/v1/receipts/{id}/logs", get(receipts::logs))
        .route("/api/v1/receipts/{id}/proof", get(receipts::proof))
        .route("/receipts/public-key.pem", get(receipts::public_key_pem))
        .route("/receipts/public-key.jwk", get(receipts::public_key_jwk))
        .route("/receipts/public-keys.json", get(receipts::public_keys))
        .route("/api/v1/transparency/checkpoint", get(receipts::checkpoint))
        .route(
            "/api/v1/transparency/consistency",
            get(receipts::consistency),
        )
        .route("/api/v1/transparency/entries", get(receipts::entries))
        .route("/api/v1/transparency/proof", get(receipts::log_proof))
        .route("/api/v1/authorize", post(authorize::authorize))
        .route(
            "/api/v1/authorize/{hold_id}/release",
            post(authorize::release),
        )
        .route("/api/v1/billing/plan", post(billing::set_plan))
        .route("/billing/plan", post(billing::set_plan))
        .route("/api/v1/billing/limits", get(billing::limits))
        .route("/billing/limits", get(billing::limits))
        .route("/api/v1/billing/balance", get(billing::balance))
        .route("/api/billing/balance", get(billing::balance))
        .route("/api/v1/billing/history", get(billing::history))
        .route("/api/billing/history", get(billing::history))
        .route("/api/v1/billing/topup", post(billing::topup))
        .route("/api/billing/topup", post(billing::topup))
        .route("/api/v1/billing/refund", post(billing::refund))
        .route("/api/v1/billing/adjustment", post(billing::adjustment))
        .route(
            "/api/v1/billing/settings",
            axum::routing::put(billing::settings),
        )
        .route(
            "/api/billing/settings",
            axum::routing::put(billing::settings),
        )
        .route("/api/v1/billing/usage", get(billing::usage))
        .route("/billing/usage", get(billing::usage))
        .route("/api/v1/billing/cost-report", get(billing::cost_report))
        .route("/billing/cost-report", get(billing::cost_report))
        .route("/api/v1/costs/daily", get(costs::daily))
        .route("/api/v1/costs/monthly", get(costs::monthly))
        .route("/api/v1/export/usage", get(export::usage))
        .route("/api/v1/export/receipt/{id}", get(export::receipt))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        _ => "OTHER",
    };
    let response = next.run(req).await;
    state.metrics().request(
        route.as_deref().unwrap_or("unmatched"),
        method,
        response.status().as_u16(),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not accept that method",
    )
}

/// `GET /health`: 200 when the database answers, 503 otherwise.
async fn health(State(state): State<AppState>) -> Response {
    let engine = state.store().dialect().as_str();
    match state.store().health().await {
        Ok(()) => Json(json!({"status": "ok", "database": "ok", "engine": engine, "version": env!("CARGO_PKG_VERSION")}))
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable", "engine": engine})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}
