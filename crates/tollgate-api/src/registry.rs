//! The model registry as llmring reads it, filled from Tollgate's own price book: the merged
//! registry of llmring-server (`GET /registry/`, [`RegistryResponse`]), the per-provider file
//! the llmring client fetches (`GET /registry/{provider}/models.json`, [`ProviderModels`]) and
//! the manifest llmring-server reads first (`GET /registry/manifest.json`,
//! [`RegistryManifest`]).
//!
//! llmring's fields keep their names and types (`dollars_per_million_tokens_*` are JSON
//! numbers). What the price book does not know is null or false: Tollgate knows prices, not
//! token limits or capabilities. Tollgate's own fields (`currency`, the `*_exact` decimal
//! strings, `effective_from`, `price_source`, `price_version`) come after llmring's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::usage::PriceSource;

/// One model with the prices Tollgate charges for it (llmring's `LLMModel`, with the price
/// fields of the llmring client's `RegistryModel` and Tollgate's exact rates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistryModel {
    /// Provider, lower case.
    #[schema(example = "openai")]
    pub provider: String,
    /// Model, without the provider.
    #[schema(example = "gpt-4o")]
    pub model_name: String,
    /// The model name again: the price book has no display names, and the llmring client
    /// skips a model without one.
    #[schema(example = "gpt-4o")]
    pub display_name: String,
    /// Always null: the price book has no descriptions.
    #[schema(required = true, value_type = Option<String>)]
    pub description: Option<String>,
    /// Always null: the price book has no token limits.
    #[schema(required = true, value_type = Option<i64>)]
    pub max_input_tokens: Option<i64>,
    /// Always null: the price book has no token limits.
    #[schema(required = true, value_type = Option<i64>)]
    pub max_output_tokens: Option<i64>,
    /// Always false: the price book has no capabilities.
    pub supports_vision: bool,
    /// Always false: the price book has no capabilities.
    pub supports_function_calling: bool,
    /// Always false: the price book has no capabilities.
    pub supports_json_mode: bool,
    /// Always false: the price book has no capabilities.
    pub supports_parallel_tool_calls: bool,
    /// Always null.
    #[schema(required = true, value_type = Option<String>)]
    pub tool_call_format: Option<String>,
    /// Dollars per million uncached prompt tokens, as a number derived from the exact rate;
    /// null when the price is not in USD.
    #[schema(required = true, example = 2.5)]
    pub dollars_per_million_tokens_input: Option<f64>,
    /// Dollars per million generated tokens, as a number; null when not in USD.
    #[schema(required = true, example = 10.0)]
    pub dollars_per_million_tokens_output: Option<f64>,
    /// Always true: a model the book prices is one Tollgate bills.
    pub is_active: bool,
    /// Dollars per million prompt tokens read from the cache (the llmring client's field);
    /// null when the book has no separate rate (they bill at the input rate) or the price is
    /// not in USD.
    #[schema(required = true, example = 1.25)]
    pub dollars_per_million_tokens_cached_input: Option<f64>,
    /// Dollars per million reasoning tokens (the llmring client's thinking rate); null when
    /// the book has no separate rate (they bill at the output rate) or not in USD.
    #[schema(required = true)]
    pub dollars_per_million_tokens_output_thinking: Option<f64>,
    /// The currency of the `*_exact` rates (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// Per million uncached prompt tokens, exact, in `currency`.
    #[schema(format = "decimal", example = "2.50")]
    pub dollars_per_million_tokens_input_exact: String,
    /// Per million generated tokens, exact, in `currency`.
    #[schema(format = "decimal", example = "10")]
    pub dollars_per_million_tokens_output_exact: String,
    /// Per million prompt tokens read from the cache, exact; null: at the input rate.
    #[schema(required = true, format = "decimal", example = "1.25")]
    pub dollars_per_million_tokens_cached_input_exact: Option<String>,
    /// Per million prompt tokens written to the cache, exact; null: at the input rate.
    #[schema(required = true, format = "decimal", example = "3.75")]
    pub dollars_per_million_tokens_cache_write_exact: Option<String>,
    /// Per million reasoning tokens, exact; null: at the output rate.
    #[schema(required = true, format = "decimal")]
    pub dollars_per_million_tokens_output_thinking_exact: Option<String>,
    /// From when this price applies: `YYYY-MM-DD` when a midnight (UTC), else RFC 3339.
    #[schema(example = "2024-08-06")]
    pub effective_from: String,
    /// Where the price comes from (`tenant`: the caller's own price).
    pub price_source: PriceSource,
    /// The version events priced by it carry as `price_version`.
    #[schema(example = "builtin:openai/gpt-4o@2024-08-06")]
    pub price_version: String,
}

/// A provider in the merged registry (llmring-server's `ProviderInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryProvider {
    /// Its name: `OpenAI`, `Anthropic`, `Google`, or the provider id for another provider.
    #[schema(example = "OpenAI")]
    pub name: String,
    /// Its API's base URL, for the three llmring knows; null for another provider.
    #[schema(required = true, example = "https://api.openai.com/v1")]
    pub base_url: Option<String>,
    /// Where its API lists models, relative to `base_url`; null when it has none or unknown.
    #[schema(required = true, example = "/models")]
    pub models_endpoint: Option<String>,
}

/// The merged registry (`GET /registry/`, llmring-server's `RegistryResponse`): every model
/// the price book prices now, for the caller's tenant when a key is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistryResponse {
    /// A digest of the prices listed (before the query's filters): it changes exactly when
    /// they change, and is the `ETag`. On a date route, the date asked for.
    #[schema(example = "3f5c0a9e12b4d6e8")]
    pub version: String,
    /// When the newest of the listed prices took effect (RFC 3339, UTC): the registry's
    /// contents, not the moment of the request, so the same prices give the same bytes.
    #[schema(format = DateTime)]
    pub generated_at: String,
    /// The models, keyed `provider:model`.
    pub models: BTreeMap<String, RegistryModel>,
    /// The providers the price book has prices for, by id.
    pub providers: BTreeMap<String, RegistryProvider>,
}

/// One provider's models in the llmring registry's file format
/// (`GET /registry/{provider}/models.json`), the file the llmring client fetches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderModels {
    /// The provider.
    #[schema(example = "openai")]
    pub provider: String,
    /// The models, keyed `provider:model`.
    pub models: BTreeMap<String, RegistryModel>,
    /// An integer, as the llmring client compares it with the version a lockfile pins: the
    /// UTC date (`YYYYMMDD`) the newest of these prices took effect.
    #[schema(example = 20251113)]
    pub version: i64,
    /// When the newest of these prices took effect (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// A digest of these prices: changes exactly when they change; the `ETag`.
    #[schema(example = "9a0b1c2d3e4f5061")]
    pub digest: String,
}

/// One provider in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ManifestProvider {
    /// Its file, relative to the registry: `<provider>/models.json`.
    #[schema(example = "openai/models.json")]
    pub file: String,
    /// How many models it lists.
    pub model_count: i64,
    /// The UTC date (`YYYY-MM-DD`) the newest of its prices took effect.
    #[schema(example = "2025-11-13")]
    pub last_updated: String,
    /// Its file's `version`.
    #[schema(example = 20251113)]
    pub version: i64,
}

/// The registry's manifest (`GET /registry/manifest.json`), which llmring-server reads before
/// the per-provider files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryManifest {
    /// The merged registry's `version`.
    #[schema(example = "3f5c0a9e12b4d6e8")]
    pub version: String,
    /// When the newest listed price took effect (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The providers, by id.
    pub providers: BTreeMap<String, ManifestProvider>,
}
