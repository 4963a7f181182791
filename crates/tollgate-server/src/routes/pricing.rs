//! `GET /api/v1/pricing`: the prices in force for the caller's tenant.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::pricing::{effective_label, PriceEntry};
use tollgate_core::time::{format_us, now_us, parse_instant, DateEdge};
use tollgate_store::Scope;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;

/// Query of `GET /api/v1/pricing`.
#[derive(Deserialize)]
pub struct PricingQuery {
    /// The instant to show prices for (default now).
    at: Option<String>,
    /// Every version instead of those in force.
    all: Option<bool>,
}

fn entry_json(e: &PriceEntry) -> Value {
    let rate = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    json!({
        "provider": e.provider,
        "model": e.model,
        "effective_from": effective_label(e.effective_from_us),
        "currency": e.currency,
        "input": e.rates.input.to_string(),
        "output": e.rates.output.to_string(),
        "cached_input": rate(e.rates.cached_input),
        "cache_write": rate(e.rates.cache_write),
        "reasoning": rate(e.rates.reasoning),
        "source": e.source.as_str(),
        "version": e.version(),
    })
}

/// Lists prices, per million tokens, as exact decimal strings.
pub async fn pricing(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<PricingQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let at = match q.at.as_deref() {
        Some(t) => parse_instant(t, DateEdge::Start)
            .map_err(|e| ApiError::bad_request("INVALID_QUERY", format!("at: {e}")))?,
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
        "prices": entries.into_iter().map(entry_json).collect::<Vec<_>>(),
    })))
}
