//! The price book: per provider and model, prices per million tokens with an `effective_from`
//! instant, from several sources in order of precedence.
//!
//! An event is priced by the entry in force at its own timestamp: of the most specific source
//! that has one (the tenant's own prices, then prices imported into the database, then the
//! configured price file, then the built-in list), the one with the latest `effective_from`
//! not after the event. The entry's [`PriceEntry::version`] is stored with the event, so a
//! later price never rewrites an old cost.

mod book;
mod file;
mod genai;
mod litellm;
mod rates;

pub use book::{tool_model, Match, PriceBook, TOOL_PROVIDER};

pub use file::{parse_price_file, to_price_file, PriceFileError};
pub use genai::{parse_genai_prices, GenaiImport, FIRST_PRICE_FROM_US};
pub use litellm::{parse_litellm, LiteLlmImport};
pub use rates::{CostSplit, Metered, Rates, ServicePrice, Tier, TokenRates};

/// The built-in price list (public list prices), in the price-file format.
pub const BUILTIN_PRICES: &str = include_str!("builtin_prices.toml");

use crate::money::Currency;
use crate::time;

/// Where a price came from, least specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriceSource {
    /// Compiled into Tollgate.
    Builtin,
    /// The price file named in the configuration.
    File,
    /// Imported into the database (`tollgate pricing import`).
    Database,
    /// A tenant's own price, imported for that tenant only.
    Tenant,
}

impl PriceSource {
    /// The name used in price versions and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::File => "file",
            Self::Database => "db",
            Self::Tenant => "tenant",
        }
    }
}

/// One price: a provider's model, from an instant on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    /// Provider, lower case (`openai`, `anthropic`, `google`).
    pub provider: String,
    /// Model, lower case, without a provider prefix.
    pub model: String,
    /// The first instant (UTC microseconds) the price applies to.
    pub effective_from_us: i64,
    /// The currency of the rates.
    pub currency: Currency,
    /// The rates.
    pub rates: Rates,
    /// Where it came from.
    pub source: PriceSource,
    /// The tenant it applies to, for [`PriceSource::Tenant`].
    pub tenant_id: Option<String>,
}

impl PriceEntry {
    /// The version stored with each event priced by this entry:
    /// `builtin:openai/gpt-4o@2024-08-06`.
    pub fn version(&self) -> String {
        format!(
            "{}:{}/{}@{}",
            self.source.as_str(),
            self.provider,
            self.model,
            effective_label(self.effective_from_us)
        )
    }
}

impl PriceEntry {
    /// The wire form used by `tollgate pricing list --json`: rates per million tokens as
    /// exact decimal strings, as `GET /api/v1/pricing` shows them.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.rates;
        serde_json::json!({
            "provider": self.provider,
            "model": self.model,
            "effective_from": effective_label(self.effective_from_us),
            "currency": self.currency,
            "rates": r.tokens,
            "per_call": r.per_call.map(|d| d.to_string()),
            "per_unit": r.per_unit.map(|d| d.to_string()),
            "unit_prices": r.unit_prices,
            "tiers": r.tiers,
            "service_tiers": r.service_tiers.iter().map(|(t, p)| (t.as_str(), p)).collect::<std::collections::BTreeMap<_, _>>(),
            "source": self.source.as_str(),
            "version": self.version(),
        })
    }
}

/// The largest rate a price may state: a billion per million tokens (or per unit), far above
/// any real price, so that no cost computed from a rate can overflow.
pub const MAX_RATE: i64 = 1_000_000_000;

/// Checks the name of a quantity priced per unit: lower-case letters, digits, `_`, `-`, `.`
/// and `:` (which separates qualifiers: `image:1024x1024:hd`), at most 64 bytes.
pub fn check_quantity_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(':')
        && !name.ends_with(':')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "quantity name '{name}' must be 1 to 64 lower-case letters, digits, '_', '-', '.' \
             or ':' between qualifiers (web_search, image:1024x1024:hd)"
        ))
    }
}

/// `YYYY-MM-DD` when the instant is a midnight, the full RFC 3339 form otherwise.
pub fn effective_label(us: i64) -> String {
    if us.rem_euclid(time::DAY_US) == 0 {
        time::day_string(time::day_of(us))
    } else {
        time::format_us(us)
    }
}

/// Lower-cases a provider name and maps the synonyms in use to one name (genai-prices
/// names xAI `x-ai` and Fireworks `fireworks`).
pub fn canonical_provider(provider: &str) -> String {
    let p = provider.trim().to_ascii_lowercase();
    match p.as_str() {
        "gemini" | "google_genai" | "google-genai" | "googleai" => "google".to_string(),
        "x-ai" | "x_ai" => "xai".to_string(),
        "fireworks" => "fireworks_ai".to_string(),
        _ => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn versions_name_source_model_and_date() {
        let e = PriceEntry {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            effective_from_us: time::parse_instant("2024-08-06", time::DateEdge::Start)
                .expect("date"),
            currency: Currency::usd(),
            rates: Rates::tokens(d("2.50"), d("10")),
            source: PriceSource::Builtin,
            tenant_id: None,
        };
        assert_eq!(e.version(), "builtin:openai/gpt-4o@2024-08-06");
    }

    #[test]
    fn provider_synonyms_name_one_provider() {
        for (name, canonical) in [
            ("Gemini", "google"),
            ("x-ai", "xai"),
            ("fireworks", "fireworks_ai"),
            ("fireworks_ai", "fireworks_ai"),
            (" OpenAI ", "openai"),
        ] {
            assert_eq!(canonical_provider(name), canonical, "{name}");
        }
    }
}
