//! `GET /api/v1/pricing`: the prices in force for the caller's tenant.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_api::usage::{
    CoverageQuery, Price, PriceList, PriceSource, PriceTier, PriceUnit, PricingCoverage,
    UnpricedModel,
};
use tollgate_core::pricing::{effective_label, PriceEntry};
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
        (status = 200, description = "The prices in force at `at` (or every version, with `all`)", body = PriceList),
    )
)]
pub async fn pricing(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<PricingQuery>,
) -> Result<Json<PriceList>, ApiError> {
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
    Ok(Json(PriceList {
        at: format_us(at),
        unit: PriceUnit::PerMillionTokens,
        prices: entries.into_iter().map(price).collect(),
    }))
}

fn price(e: &PriceEntry) -> Price {
    let rate = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    Price {
        provider: e.provider.clone(),
        model: e.model.clone(),
        effective_from: effective_label(e.effective_from_us),
        currency: e.currency.to_string(),
        input: e.rates.input.to_string(),
        output: e.rates.output.to_string(),
        cached_input: rate(e.rates.cached_input),
        cache_write: rate(e.rates.cache_write),
        reasoning: rate(e.rates.reasoning),
        per_call: rate(e.rates.per_call),
        per_unit: rate(e.rates.per_unit),
        tiers: e
            .rates
            .tiers
            .iter()
            .map(|t| PriceTier {
                above_input_tokens: t.above_input_tokens,
                input: t.input.to_string(),
                output: t.output.to_string(),
                cached_input: rate(t.cached_input),
                cache_write: rate(t.cache_write),
                reasoning: rate(t.reasoning),
            })
            .collect(),
        source: match e.source {
            tollgate_core::pricing::PriceSource::Builtin => PriceSource::Builtin,
            tollgate_core::pricing::PriceSource::File => PriceSource::File,
            tollgate_core::pricing::PriceSource::Database => PriceSource::Database,
            tollgate_core::pricing::PriceSource::Tenant => PriceSource::Tenant,
        },
        version: e.version(),
    }
}

/// Calls without a price
///
/// The models called in a range (default the last 30 days) whose calls were recorded without
/// a price, with their token classes, so that a price can be added for each
/// (`tollgate pricing import`); `priced_now` says whether the book has one now.
#[utoipa::path(
    get,
    path = "/api/v1/pricing/coverage",
    tag = "usage",
    operation_id = "pricing_coverage",
    params(CoverageQuery),
    responses(
        (status = 200, description = "The unpriced calls of the range, per model, most first", body = PricingCoverage),
        (status = 400, description = "A date is malformed, or start_date is after end_date"),
    )
)]
pub async fn coverage(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<CoverageQuery>,
) -> Result<Json<PricingCoverage>, ApiError> {
    let (start_us, end_us) =
        super::stats::date_range(q.start_date.as_deref(), q.end_date.as_deref(), 30)?;
    let groups = state
        .store()
        .unpriced_models(&auth.tenant_id, start_us, end_us)
        .await?;
    let book = state.prices().current();
    let now = now_us();
    let models: Vec<UnpricedModel> = groups
        .into_iter()
        .map(|g| {
            let t = &g.tokens;
            let token_classes = [
                ("input", t.uncached_input()),
                ("cached_input", t.cached_input),
                ("cache_write", t.cache_write),
                ("output", t.output - t.reasoning),
                ("reasoning", t.reasoning),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, _)| name.to_string())
            .collect();
            UnpricedModel {
                priced_now: book
                    .find(&auth.tenant_id, &g.provider, &g.model, now)
                    .is_some(),
                provider: g.provider,
                model: g.model,
                requests: g.requests,
                input_tokens: t.input,
                cached_input_tokens: t.cached_input,
                cache_write_tokens: t.cache_write,
                output_tokens: t.output,
                reasoning_tokens: t.reasoning,
                token_classes,
                first_seen: format_us(g.first_us),
                last_seen: format_us(g.last_us),
            }
        })
        .collect();
    Ok(Json(PricingCoverage {
        start_date: format_us(start_us),
        end_date: format_us(end_us),
        unpriced_requests: models.iter().map(|m| m.requests).sum(),
        models,
    }))
}
