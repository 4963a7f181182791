//! `GET /api/v1/pricing`: the prices in force for the caller's tenant.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_api::usage::{
    CoverageQuery, FallbackClass, Price, PriceFileFormat, PriceImport, PriceImported, PriceList,
    PriceRates, PriceSource, PriceTier, PriceUnit, PricingCoverage, ServiceTierPrice,
    UnpricedModel, UnpricedServiceTier,
};
use tollgate_core::pricing::{
    effective_label, parse_genai_prices, parse_litellm, parse_price_file, PriceEntry,
    PriceFileError, PriceSource as CorePriceSource, ServicePrice, TokenRates,
};
use tollgate_core::time::{format_us, now_us, parse_instant, DateEdge, DAY_US};
use tollgate_core::usage::{ServiceTier, TokenClass};

use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Query of `GET /api/v1/pricing`.
#[derive(Default, Deserialize, utoipa::IntoParams)]
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

fn rates(r: &TokenRates) -> PriceRates {
    let own = |c: TokenClass| r.own(c).map(|d| d.to_string());
    PriceRates {
        input: r.input.to_string(),
        output: r.output.to_string(),
        cached_input: own(TokenClass::CachedInput),
        cache_write: own(TokenClass::CacheWrite),
        cache_write_1h: own(TokenClass::CacheWrite1h),
        reasoning: own(TokenClass::Reasoning),
        audio_input: own(TokenClass::AudioInput),
        image_input: own(TokenClass::ImageInput),
        video_input: own(TokenClass::VideoInput),
        audio_output: own(TokenClass::AudioOutput),
        image_output: own(TokenClass::ImageOutput),
    }
}

fn price(e: &PriceEntry) -> Price {
    let rate = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    Price {
        provider: e.provider.clone(),
        model: e.model.clone(),
        effective_from: effective_label(e.effective_from_us),
        currency: e.currency.to_string(),
        rates: rates(&e.rates.tokens),
        per_call: rate(e.rates.per_call),
        per_unit: rate(e.rates.per_unit),
        unit_prices: e
            .rates
            .unit_prices
            .iter()
            .map(|(name, p)| (name.clone(), p.to_string()))
            .collect(),
        tiers: e
            .rates
            .tiers
            .iter()
            .map(|t| PriceTier {
                above_input_tokens: t.above_input_tokens,
                rates: rates(&t.rates),
            })
            .collect(),
        service_tiers: e
            .rates
            .service_tiers
            .iter()
            .map(|(tier, p)| {
                let price = match p {
                    ServicePrice::Factor(f) => ServiceTierPrice {
                        factor: Some(f.to_string()),
                        rates: None,
                    },
                    ServicePrice::Rates(r) => ServiceTierPrice {
                        factor: None,
                        rates: Some(rates(r)),
                    },
                };
                (tier.as_str().to_string(), price)
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
            let token_classes = t
                .by_class()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(class, _)| class.as_str().to_string())
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
    let mut fallback_classes: Vec<FallbackClass> = Vec::new();
    let mut unpriced_service_tiers = Vec::new();
    for g in state
        .store()
        .priced_models(&auth.tenant_id, start_us, end_us)
        .await?
    {
        let Some(m) = book.find(&auth.tenant_id, &g.provider, &g.model, now) else {
            continue;
        };
        let rates = &m.entry.rates;
        for (class, n) in g.tokens.by_class() {
            if n == 0 || rates.tokens.own(class).is_some() {
                continue;
            }
            let mut billed_at = class;
            while let (None, Some(next)) = (rates.tokens.own(billed_at), billed_at.fallback()) {
                billed_at = next;
            }
            match fallback_classes.iter_mut().find(|f| {
                f.provider == g.provider && f.model == g.model && f.token_class == class.as_str()
            }) {
                Some(f) => f.tokens += n,
                None => fallback_classes.push(FallbackClass {
                    provider: g.provider.clone(),
                    model: g.model.clone(),
                    token_class: class.as_str().to_string(),
                    tokens: n,
                    billed_at: billed_at.as_str().to_string(),
                }),
            }
        }
        if let Some(tier) = g.service_tier.as_deref() {
            let named = ServiceTier::parse("service_tier", tier)
                .is_ok_and(|t| rates.service_tiers.contains_key(&t));
            if !named {
                unpriced_service_tiers.push(UnpricedServiceTier {
                    provider: g.provider.clone(),
                    model: g.model.clone(),
                    service_tier: tier.to_string(),
                    requests: g.requests,
                });
            }
        }
    }
    Ok(Json(PricingCoverage {
        start_date: format_us(start_us),
        end_date: format_us(end_us),
        unpriced_requests: models.iter().map(|m| m.requests).sum(),
        models,
        fallback_classes,
        unpriced_service_tiers,
    }))
}

/// Import prices
///
/// A price file (Tollgate's TOML, LiteLLM's JSON or genai-prices' `data.json`) into the database: prices for every tenant
/// (an operator key), or with `for_tenant` the caller's tenant's own prices (an `admin` key).
/// They apply at once on this instance and within `pricing.refresh_seconds` on the others;
/// calls recorded before keep their price. A price that differs from one already imported for
/// the same instant is refused (409): add it with a later `effective_from` instead.
#[utoipa::path(
    post,
    path = "/api/v1/pricing/import",
    tag = "usage",
    operation_id = "import_prices",
    request_body = PriceImport,
    responses(
        (status = 200, description = "What was added, and when it applies", body = PriceImported),
        (status = 403, description = "Prices for every tenant need an operator key; a tenant's own, the `admin` scope"),
        (status = 409, description = "A price differs from one already imported for the same model and instant"),
        (status = 422, description = "The file is malformed or an entry is invalid (`content`, with the entry's position and model)"),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Body(b): Body<PriceImport>,
) -> Result<Json<PriceImported>, ApiError> {
    if !b.for_tenant {
        auth.require_operator()?;
    }
    let (source, tenant) = if b.for_tenant {
        (CorePriceSource::Tenant, Some(auth.tenant_id.as_str()))
    } else {
        (CorePriceSource::Database, None)
    };
    let bad = |e: PriceFileError| ApiError::invalid_field("content", e.to_string());
    let (entries, skipped, unmapped) = match b.format {
        PriceFileFormat::Toml | PriceFileFormat::GenaiPrices if b.effective_from.is_some() => {
            return Err(ApiError::invalid_field(
                "effective_from",
                "effective_from dates LiteLLM prices; a TOML price file and genai-prices date each entry themselves",
            ));
        }
        PriceFileFormat::Toml => (
            parse_price_file(&b.content, source, tenant).map_err(bad)?,
            0,
            Default::default(),
        ),
        PriceFileFormat::GenaiPrices => {
            let import = parse_genai_prices(&b.content, source, tenant).map_err(bad)?;
            (import.entries, import.skipped, import.unmapped)
        }
        PriceFileFormat::Litellm => {
            let from = match b.effective_from.as_deref() {
                Some(t) => parse_instant(t, DateEdge::Start).map_err(|e| {
                    ApiError::invalid_field("effective_from", format!("effective_from: {e}"))
                })?,
                None => now_us().div_euclid(DAY_US) * DAY_US,
            };
            let import = parse_litellm(&b.content, from, source, tenant).map_err(bad)?;
            (import.entries, import.skipped, import.unmapped)
        }
    };
    let added = state.store().import_prices(&entries).await?;
    state.prices().reload(state.store()).await?;
    Ok(Json(PriceImported {
        added,
        already_present: entries.len() - added,
        skipped,
        unmapped,
        refresh_seconds: state.settings().pricing.refresh_seconds.max(1),
    }))
}
