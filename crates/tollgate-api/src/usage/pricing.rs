//! `GET /api/v1/pricing`: the prices in force for the caller's tenant.

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

/// One model's price from an instant on. A missing optional rate bills those tokens at the
/// rate that bills the same tokens otherwise (cached reads and cache writes at `input`,
/// reasoning at `output`).
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
    /// Prompt tokens, per million.
    #[schema(format = "decimal", example = "2.50")]
    pub input: String,
    /// Generated tokens, per million.
    #[schema(format = "decimal", example = "10")]
    pub output: String,
    /// Prompt tokens read from the cache, per million; null: at `input`.
    #[schema(required = true, format = "decimal", example = "1.25")]
    pub cached_input: Option<String>,
    /// Prompt tokens written to the cache, per million; null: at `input`.
    #[schema(required = true, format = "decimal", example = "3.75")]
    pub cache_write: Option<String>,
    /// Reasoning tokens, per million; null: at `output`.
    #[schema(required = true, format = "decimal")]
    pub reasoning: Option<String>,
    /// Per call (an MCP tool execution: provider `mcp`, model `<server>/<tool>`); null: none.
    #[schema(required = true, format = "decimal", example = "0.02")]
    pub per_call: Option<String>,
    /// Per unit of the quantity a tool execution reports; null: none.
    #[schema(required = true, format = "decimal")]
    pub per_unit: Option<String>,
    /// Long-context tiers, lowest threshold first: a request whose prompt (every input token)
    /// exceeds a tier's threshold is priced entirely at the tier's rates.
    #[serde(default)]
    pub tiers: Vec<PriceTier>,
    /// Where the price comes from.
    pub source: PriceSource,
    /// The version events priced by it carry as `price_version`.
    #[schema(example = "builtin:openai/gpt-4o@2024-08-06")]
    pub version: String,
}

/// One long-context tier of a [`Price`]; rates per million tokens, a missing one falling back
/// to the tier's `input` (cached reads, cache writes) or `output` (reasoning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceTier {
    /// The prompt size (input tokens, cached ones included) a request must exceed.
    pub above_input_tokens: i64,
    /// Prompt tokens.
    #[schema(format = "decimal", example = "6.00")]
    pub input: String,
    /// Generated tokens.
    #[schema(format = "decimal", example = "22.50")]
    pub output: String,
    /// Prompt tokens read from the cache; null: at `input`.
    #[schema(required = true, format = "decimal")]
    pub cached_input: Option<String>,
    /// Prompt tokens written to the cache; null: at `input`.
    #[schema(required = true, format = "decimal")]
    pub cache_write: Option<String>,
    /// Reasoning tokens; null: at `output`.
    #[schema(required = true, format = "decimal")]
    pub reasoning: Option<String>,
}
