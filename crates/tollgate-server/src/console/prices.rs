//! Prices: the calls of the last 30 days that had no price (`/api/v1/pricing/coverage`) and
//! the prices in force (`/api/v1/pricing`), filterable by provider or model. A `read` key
//! sees it; it is linked from the overview's unpriced calls and from Operate.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tollgate_api::usage::CoverageQuery;
use tollgate_store::Scope;

use super::fmt::{count, instant, money};
use super::page::{render, Chrome, ConsoleError};
use super::session::Viewer;
use crate::auth::need;
use crate::extract::Params;
use crate::routes::pricing as api;
use crate::state::AppState;

/// Prices shown at most (the filter narrows them).
const SHOWN: usize = 500;

struct UnpricedRow {
    provider: String,
    model: String,
    requests: String,
    input: String,
    output: String,
    last_seen: String,
    priced_now: &'static str,
}

struct PriceRow {
    provider: String,
    model: String,
    input: String,
    output: String,
    cached: String,
    since: String,
    source: String,
}

#[derive(Template)]
#[template(path = "console/prices.html")]
struct PricesPage {
    chrome: Chrome,
    admin: bool,
    coverage_range: String,
    unpriced_total: String,
    unpriced: Vec<UnpricedRow>,
    filter: String,
    prices: Vec<PriceRow>,
    shown: usize,
    total: usize,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PricesQuery {
    /// Text the provider or the model must contain.
    #[serde(default)]
    q: Option<String>,
}

/// `GET /ui/operate/prices`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<PricesQuery>,
) -> Result<Response, ConsoleError> {
    let axum::Json(coverage) = api::coverage(
        State(state.clone()),
        viewer.may::<need::Read>()?,
        Params(CoverageQuery::default()),
    )
    .await?;
    let axum::Json(book) = api::pricing(
        State(state.clone()),
        viewer.may::<need::Read>()?,
        Params(api::PricingQuery::default()),
    )
    .await?;
    let filter = q.q.unwrap_or_default().trim().to_lowercase();
    let matching: Vec<_> = book
        .prices
        .iter()
        .filter(|p| {
            filter.is_empty()
                || p.provider.to_lowercase().contains(&filter)
                || p.model.to_lowercase().contains(&filter)
        })
        .collect();
    let total = book.prices.len();
    let prices: Vec<PriceRow> = matching
        .iter()
        .take(SHOWN)
        .map(|p| PriceRow {
            provider: p.provider.clone(),
            model: p.model.clone(),
            input: money(&p.rates.input, &p.currency),
            output: money(&p.rates.output, &p.currency),
            cached: p
                .rates
                .cached_input
                .as_deref()
                .map(|c| money(c, &p.currency))
                .unwrap_or_default(),
            since: instant(&p.effective_from),
            source: serde_json::to_value(p.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        })
        .collect();
    render(&PricesPage {
        chrome: Chrome::new(&viewer, "Prices", "/ui/operate"),
        admin: viewer.can(Scope::Admin),
        coverage_range: format!(
            "{} to {}",
            instant(&coverage.start_date),
            instant(&coverage.end_date)
        ),
        unpriced_total: count(coverage.unpriced_requests),
        unpriced: coverage
            .models
            .iter()
            .map(|m| UnpricedRow {
                provider: m.provider.clone(),
                model: m.model.clone(),
                requests: count(m.requests),
                input: count(m.input_tokens),
                output: count(m.output_tokens),
                last_seen: instant(&m.last_seen),
                priced_now: if m.priced_now { "yes" } else { "no" },
            })
            .collect(),
        filter,
        shown: prices.len(),
        prices,
        total,
    })
}
