//! `GET /api/v1/pricing`: the prices in force for the caller's tenant; what was recorded
//! without a price (`/coverage`); importing prices (`/import`) and repricing with them
//! (`/reprice`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The unit every rate is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PriceUnit {
    /// Currency units per million tokens.
    #[serde(rename = "per million tokens")]
    PerMillionTokens,
}

/// Where a price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// Compiled into Tollgate.
    Builtin,
    /// The price file named in the configuration.
    File,
    /// Imported into the database (`tollgate pricing import`).
    #[serde(rename = "db")]
    Database,
    /// A tenant's own price, imported for that tenant only.
    Tenant,
}

/// The answer to `GET /api/v1/pricing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceList {
    /// The instant the prices are shown for.
    #[schema(format = DateTime)]
    pub at: String,
    /// The unit of every rate.
    pub unit: PriceUnit,
    /// The prices.
    pub prices: Vec<Price>,
}

/// Rates per million tokens of each token class, as exact decimal strings. A class without a
/// rate of its own (null) is billed at the rate that bills the same tokens otherwise: prompt
/// classes at `input` (a 1-hour cache write at `cache_write` first), generated ones at
/// `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceRates {
    /// Uncached prompt text, per million tokens.
    #[schema(format = "decimal", example = "2.50")]
    pub input: String,
    /// Generated text, per million tokens.
    #[schema(format = "decimal", example = "10")]
    pub output: String,
    /// Prompt tokens read from the cache; null: at `input`.
    #[schema(required = true, format = "decimal", example = "1.25")]
    pub cached_input: Option<String>,
    /// Prompt tokens written to a 5-minute cache; null: at `input`.
    #[schema(required = true, format = "decimal", example = "3.75")]
    pub cache_write: Option<String>,
    /// Prompt tokens written to a 1-hour cache; null: at `cache_write`.
    #[schema(required = true, format = "decimal")]
    pub cache_write_1h: Option<String>,
    /// Reasoning tokens; null: at `output`.
    #[schema(required = true, format = "decimal")]
    pub reasoning: Option<String>,
    /// Uncached prompt audio; null: at `input`.
    #[schema(required = true, format = "decimal")]
    pub audio_input: Option<String>,
    /// Uncached prompt images; null: at `input`.
    #[schema(required = true, format = "decimal")]
    pub image_input: Option<String>,
    /// Uncached prompt video; null: at `input`.
    #[schema(required = true, format = "decimal")]
    pub video_input: Option<String>,
    /// Generated audio; null: at `output`.
    #[schema(required = true, format = "decimal")]
    pub audio_output: Option<String>,
    /// Generated images; null: at `output`.
    #[schema(required = true, format = "decimal")]
    pub image_output: Option<String>,
}

/// One model's price from an instant on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// From when it applies: `YYYY-MM-DD` when a midnight (UTC), else an RFC 3339 instant.
    #[schema(example = "2024-08-06")]
    pub effective_from: String,
    /// Currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// Token rates of the base tier at standard service.
    #[serde(flatten)]
    pub rates: PriceRates,
    /// Per request (an LLM call) or per execution (an MCP tool: provider `mcp`, model
    /// `<server>/<tool>`); null: none.
    #[schema(required = true, format = "decimal", example = "0.02")]
    pub per_call: Option<String>,
    /// Per unit of the quantity an MCP tool execution reports; null: none.
    #[schema(required = true, format = "decimal")]
    pub per_unit: Option<String>,
    /// Prices per unit of named quantities (`web_search`, `image:1024x1024:hd`, ...). A
    /// quantity is priced by its name, else its name without the last `:` qualifier.
    #[serde(default)]
    pub unit_prices: BTreeMap<String, String>,
    /// Long-context tiers, lowest threshold first: a request whose prompt (every input token)
    /// exceeds a tier's threshold is priced entirely at the tier's rates.
    #[serde(default)]
    pub tiers: Vec<PriceTier>,
    /// Prices of the service tiers other than standard (`batch`, `flex`, `priority`). A call
    /// served at a tier without one is billed at standard rates.
    #[serde(default)]
    pub service_tiers: BTreeMap<String, ServiceTierPrice>,
    /// Where the price comes from.
    pub source: PriceSource,
    /// The version events priced by it carry as `price_version`.
    #[schema(example = "builtin:openai/gpt-4o@2024-08-06")]
    pub version: String,
}

/// One long-context tier of a [`Price`]; a class it does not price (null) is billed at the
/// price's own rate for it, else falls back within the tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceTier {
    /// The prompt size (input tokens, cached ones included) a request must exceed.
    pub above_input_tokens: i64,
    /// The tier's rates.
    #[serde(flatten)]
    pub rates: PriceRates,
}

/// How a service tier is priced: a factor on every token rate, or rates of its own (a class
/// they leave out is its standard rate scaled as the tier scales `input` or `output`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceTierPrice {
    /// Every token rate times this (`0.5`); null when the tier has rates.
    #[schema(required = true, format = "decimal", example = "0.5")]
    pub factor: Option<String>,
    /// The tier's own rates; null when it has a factor.
    #[schema(required = true)]
    pub rates: Option<PriceRates>,
}

/// Query of `GET /api/v1/pricing/coverage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// Start (date or RFC 3339; default 30 days before the end).
    #[serde(rename = "start", skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// End (default now).
    #[serde(rename = "end", skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// The answer to `GET /api/v1/pricing/coverage`: what was recorded without a price in a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PricingCoverage {
    /// The start of the range.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// The end of the range.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// Calls recorded without a price in the range (their cost counts as 0).
    pub unpriced_requests: i64,
    /// Per model, most unpriced calls first.
    pub models: Vec<UnpricedModel>,
    /// Token classes priced calls used that their model's price (the one in force now) has no
    /// rate of its own for, so they were billed at the rate that bills the same tokens
    /// (`billed_at`): a price worth completing.
    pub fallback_classes: Vec<FallbackClass>,
    /// Service tiers priced calls were served at that their model's price (in force now) does
    /// not name, so they were billed at standard rates.
    pub unpriced_service_tiers: Vec<UnpricedServiceTier>,
}

/// A token class billed at a fallback rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FallbackClass {
    /// Provider, as the calls named it.
    pub provider: String,
    /// Model, as the calls named it.
    pub model: String,
    /// The class without a rate of its own (`audio_input`, `cache_write_1h`, ...).
    pub token_class: String,
    /// Its tokens in the range.
    pub tokens: i64,
    /// The class whose rate billed them (`input`, `cache_write`, `output`).
    pub billed_at: String,
}

/// A service tier billed at standard rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnpricedServiceTier {
    /// Provider, as the calls named it.
    pub provider: String,
    /// Model, as the calls named it.
    pub model: String,
    /// The tier (`batch`, `flex`, `priority`).
    pub service_tier: String,
    /// Calls served at it in the range.
    pub requests: i64,
}

/// One model's calls recorded without a price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnpricedModel {
    /// Provider, as the calls named it.
    pub provider: String,
    /// Model, as the calls named it.
    pub model: String,
    /// Calls recorded without a price.
    pub requests: i64,
    /// Their prompt tokens (cached ones included).
    pub input_tokens: i64,
    /// Their prompt tokens read from the cache.
    pub cached_input_tokens: i64,
    /// Their prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Their generated tokens (reasoning included).
    pub output_tokens: i64,
    /// Their reasoning tokens.
    pub reasoning_tokens: i64,
    /// The token classes they used, each needing a rate: `input`, `cached_input`,
    /// `cache_write`, `cache_write_1h`, `audio_input`, `image_input`, `video_input`,
    /// `output`, `reasoning`, `audio_output`, `image_output`.
    pub token_classes: Vec<String>,
    /// The first such call.
    #[schema(format = DateTime)]
    pub first_seen: String,
    /// The last such call.
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// Whether the price book has a price for the model now (calls already recorded keep
    /// the price they were recorded at).
    pub priced_now: bool,
}

/// The format of an imported price file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceFileFormat {
    /// Tollgate's own TOML price file (see the README).
    Toml,
    /// LiteLLM's `model_prices_and_context_window.json`.
    Litellm,
    /// pydantic's genai-prices `data.json` (dated price changes, tiers, service tiers).
    GenaiPrices,
}

/// `POST /api/v1/pricing/import`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceImport {
    /// The file's format.
    pub format: PriceFileFormat,
    /// The file's text.
    pub content: String,
    /// Import as the caller's tenant's own prices (an `admin` key may), instead of prices for
    /// every tenant (an operator key only). Default false.
    #[serde(default)]
    pub for_tenant: bool,
    /// When LiteLLM prices take effect (a date or RFC 3339; default today, UTC). Tollgate's
    /// own file and genai-prices date each entry themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceImported {
    /// Prices added.
    pub added: usize,
    /// Prices the database already held, exactly.
    pub already_present: usize,
    /// Entries of a catalogue without any price Tollgate can use, not imported.
    pub skipped: usize,
    /// A catalogue's price fields Tollgate could not map (per pixel, `ultrafast` service,
    /// 12-hour cache writes, ...), with how many entries set each: those prices were not
    /// imported. Empty for a TOML file.
    #[serde(default)]
    pub unmapped: std::collections::BTreeMap<String, usize>,
    /// When the prices apply: at once on this instance, within `refresh_seconds` on the others
    /// (each reloads on its own timer). Calls recorded before keep their price.
    pub refresh_seconds: u64,
}

/// `POST /api/v1/pricing/reprice`: price the calls recorded without a price, now that the book
/// has one for their time, by appending an adjustment for each (the log is never rewritten).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepriceRequest {
    /// Only calls at or after this instant (a date is its first instant, UTC; RFC 3339
    /// otherwise). Default: from the first call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01-01")]
    pub since: Option<String>,
    /// Only calls before this instant (a date is its first instant, so `2026-02-01` ends with
    /// January). Default: up to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-02-01")]
    pub until: Option<String>,
    /// Say what would be repriced without writing anything. Default false.
    #[serde(default)]
    pub dry_run: bool,
    /// The tenant whose calls to reprice (id or name): another tenant than the caller's needs
    /// an operator key. Default the caller's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_tenant: Option<String>,
}

/// What a repricing did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Repriced {
    /// The tenant whose calls were repriced.
    pub tenant_id: String,
    /// True when nothing was written.
    pub dry_run: bool,
    /// Calls priced by an adjustment now (on a dry run: that would be). A rerun prices none
    /// of those again.
    pub repriced: i64,
    /// What the adjustments add in `currency`, exactly.
    #[schema(format = "decimal", example = "0.003000000")]
    pub cost: String,
    /// The currency of `cost`: USD when any adjustment is in USD (or none was made), else
    /// the currency with the largest total.
    #[schema(example = "USD")]
    pub currency: String,
    /// What the adjustments add, per currency.
    pub costs_by_currency: std::collections::BTreeMap<String, String>,
    /// Unpriced calls of the range the price book still has no price for, per provider and
    /// model, most first.
    pub still_unpriced: Vec<StillUnpriced>,
    /// The adjustments, in log order, at most the first 100.
    pub adjustments: Vec<RepriceAdjustment>,
    /// False when `adjustments` lists only the first of them.
    pub adjustments_complete: bool,
}

/// The calls of one model the price book still has no price for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StillUnpriced {
    /// Provider, as recorded.
    pub provider: String,
    /// Model, as recorded.
    pub model: String,
    /// How many calls.
    pub events: i64,
}

/// One adjustment: the event that prices an unpriced call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RepriceAdjustment {
    /// The adjustment's log id; null on a dry run.
    #[schema(required = true, format = "uuid")]
    pub log_id: Option<String>,
    /// The log id of the call it prices.
    #[schema(format = "uuid")]
    pub adjusts: String,
    /// What it adds: the call's cost at the price now in force for its time, less what it
    /// was recorded at (zero).
    #[schema(format = "decimal", example = "0.003000000")]
    pub cost: String,
    /// The price's currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// The price entry that priced it.
    #[schema(example = "db:acme/brand-new@2020-01-01")]
    pub price_version: String,
}
