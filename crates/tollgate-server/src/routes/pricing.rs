//! `GET /api/v1/pricing`: the prices in force for the caller's tenant.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::pricing::PriceEntry;
use tollgate_core::time::{format_us, now_us, parse_instant, DateEdge};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Query of `GET /api/v1/pricing`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PricingQuery {
    /// The instant to show prices for (default now).
    at: Option<String>,
    /// Every version instead of those in force.
    all: Option<bool>,
}

/// List prices
///
/// The prices in force for the caller's tenant, per million tokens, as exact decimal strings.
#[utoipa::path(
    get,
    path = "/api/v1/pricing",
    tag = "usage",
    operation_id = "list_prices",
    params(PricingQuery),
    responses(
        (status = 200, description = "`at`, `unit` and `prices`: each entry's provider, model, rates, currency, `effective_from` and source", body = Value),
    )
)]
pub async fn pricing(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<PricingQuery>,
) -> Result<Json<Value>, ApiError> {
    let at = match q.at.as_deref() {
        Some(t) => parse_instant(t, DateEdge::Start)
            .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("at: {e}")))?,
        None => now_us(),
    };
    let book = state.prices().current();
    let entries = if q.all.unwrap_or(false) {
        book.entries_for(&auth.tenant_id)
    } else {
        book.in_force(&auth.tenant_id, at)
    };
    Ok(Json(json!({
        "at": format_us(at),
        "unit": "per million tokens",
        "prices": entries.into_iter().map(PriceEntry::to_json).collect::<Vec<_>>(),
    })))
}
