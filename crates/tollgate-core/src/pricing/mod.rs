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
mod litellm;

pub use book::{tool_model, Match, PriceBook, TOOL_PROVIDER};

pub use file::{parse_price_file, to_price_file, PriceFileError};
pub use litellm::{parse_litellm, unmapped_litellm_fields};

use rust_decimal::Decimal;

/// The built-in price list (public list prices), in the price-file format.
pub const BUILTIN_PRICES: &str = include_str!("builtin_prices.toml");

use crate::money::{Currency, MoneyError, Nanos};
use crate::time;
use crate::usage::TokenCounts;

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

/// Prices per million tokens. Optional rates fall back to the rate that bills the same tokens
/// when a provider has no separate price: cached reads and cache writes to `input`, reasoning
/// to `output`. A missing rate therefore never makes tokens free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    /// Uncached prompt tokens.
    pub input: Decimal,
    /// Generated tokens that are not reasoning.
    pub output: Decimal,
    /// Prompt tokens read from the cache.
    pub cached_input: Option<Decimal>,
    /// Prompt tokens written to the cache.
    pub cache_write: Option<Decimal>,
    /// Reasoning tokens.
    pub reasoning: Option<Decimal>,
    /// A price per call, whatever its tokens: what an MCP tool charges per execution.
    pub per_call: Option<Decimal>,
    /// A price per unit of the quantity a tool execution reports (pages, queries, ...).
    pub per_unit: Option<Decimal>,
    /// Long-context tiers, lowest threshold first: a request whose prompt (every input token,
    /// cached ones included) is above a tier's threshold is priced *entirely* at that tier's
    /// rates, as Anthropic, OpenAI and Google bill it.
    pub tiers: Vec<Tier>,
}

/// The rates of a request whose prompt is larger than `above_input_tokens`. A rate the tier
/// does not set falls back as the base rates do: cached reads and cache writes to the tier's
/// `input`, reasoning to its `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// The prompt size (input tokens) a request must exceed.
    pub above_input_tokens: i64,
    /// Uncached prompt tokens.
    pub input: Decimal,
    /// Generated tokens that are not reasoning.
    pub output: Decimal,
    /// Prompt tokens read from the cache.
    pub cached_input: Option<Decimal>,
    /// Prompt tokens written to the cache.
    pub cache_write: Option<Decimal>,
    /// Reasoning tokens.
    pub reasoning: Option<Decimal>,
}

impl Rates {
    /// The exact cost of `tokens`, rounded once, half-even, to nanos.
    pub fn cost(&self, tokens: &TokenCounts) -> Result<Nanos, MoneyError> {
        Ok(self.cost_split(tokens)?.total)
    }

    /// The exact cost of `tokens` and its input side (uncached, cached and cache-write prompt
    /// tokens), each rounded once, half-even, to nanos; the output side is the difference, so
    /// the two parts always add up to the total.
    pub fn cost_split(&self, tokens: &TokenCounts) -> Result<CostSplit, MoneyError> {
        let overflow = || MoneyError::OutOfRange(format!("the cost of {} tokens", tokens.total()));
        // The whole request at the highest tier whose threshold its prompt exceeds.
        let (input_rate, output_rate, cached, write, reasoning) = match self
            .tiers
            .iter()
            .rev()
            .find(|t| tokens.input > t.above_input_tokens)
        {
            Some(t) => (
                t.input,
                t.output,
                t.cached_input,
                t.cache_write,
                t.reasoning,
            ),
            None => (
                self.input,
                self.output,
                self.cached_input,
                self.cache_write,
                self.reasoning,
            ),
        };
        let parts = [
            (tokens.uncached_input(), input_rate),
            (tokens.cached_input, cached.unwrap_or(input_rate)),
            (tokens.cache_write, write.unwrap_or(input_rate)),
            (tokens.output - tokens.reasoning, output_rate),
            (tokens.reasoning, reasoning.unwrap_or(output_rate)),
        ];
        let mut exact = Decimal::ZERO;
        let mut input = Decimal::ZERO;
        for (i, (n, rate)) in parts.into_iter().enumerate() {
            let part = Decimal::from(n).checked_mul(rate).ok_or_else(overflow)?;
            exact = exact.checked_add(part).ok_or_else(overflow)?;
            if i < 3 {
                input = exact;
            }
        }
        let million = Decimal::from(1_000_000);
        Ok(CostSplit {
            total: Nanos::from_decimal_rounded(exact / million)?,
            input: Nanos::from_decimal_rounded(input / million)?,
        })
    }
}

impl Rates {
    /// The rates of a tool: a price per call and per unit, no token prices.
    pub fn per_call(per_call: Option<Decimal>, per_unit: Option<Decimal>) -> Rates {
        Rates {
            input: Decimal::ZERO,
            output: Decimal::ZERO,
            cached_input: None,
            cache_write: None,
            reasoning: None,
            per_call,
            per_unit,
            tiers: Vec::new(),
        }
    }

    /// The exact cost of one call that reported `units` (a tool execution): the price per
    /// call plus `units` times the price per unit, rounded once, half-even, to nanos.
    pub fn call_cost(&self, units: Option<i64>) -> Result<Nanos, MoneyError> {
        let per_call = self.per_call.unwrap_or(Decimal::ZERO);
        let units = Decimal::from(units.unwrap_or(0));
        let exact = units
            .checked_mul(self.per_unit.unwrap_or(Decimal::ZERO))
            .and_then(|u| u.checked_add(per_call))
            .ok_or_else(|| MoneyError::OutOfRange(format!("the cost of {units} units")))?;
        Nanos::from_decimal_rounded(exact)
    }
}

/// A cost and its input side; the output side is `total - input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostSplit {
    /// The whole cost.
    pub total: Nanos,
    /// The cost of the prompt tokens (uncached, cached reads and cache writes).
    pub input: Nanos,
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
    /// The wire form used by `GET /api/v1/pricing` and `tollgate pricing list --json`: rates
    /// per million tokens as exact decimal strings.
    pub fn to_json(&self) -> serde_json::Value {
        let rate = |d: Option<Decimal>| d.map(|d| d.to_string());
        serde_json::json!({
            "provider": self.provider,
            "model": self.model,
            "effective_from": effective_label(self.effective_from_us),
            "currency": self.currency,
            "input": self.rates.input.to_string(),
            "output": self.rates.output.to_string(),
            "cached_input": rate(self.rates.cached_input),
            "cache_write": rate(self.rates.cache_write),
            "reasoning": rate(self.rates.reasoning),
            "per_call": rate(self.rates.per_call),
            "per_unit": rate(self.rates.per_unit),
            "tiers": self.rates.tiers.iter().map(|t| serde_json::json!({
                "above_input_tokens": t.above_input_tokens,
                "input": t.input.to_string(),
                "output": t.output.to_string(),
                "cached_input": rate(t.cached_input),
                "cache_write": rate(t.cache_write),
                "reasoning": rate(t.reasoning),
            })).collect::<Vec<_>>(),
            "source": self.source.as_str(),
            "version": self.version(),
        })
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

/// Lower-cases a provider name and maps the synonyms in use to one name.
pub fn canonical_provider(provider: &str) -> String {
    let p = provider.trim().to_ascii_lowercase();
    match p.as_str() {
        "gemini" | "google_genai" | "google-genai" | "googleai" => "google".to_string(),
        _ => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn rates() -> Rates {
        Rates {
            input: d("2.50"),
            output: d("10"),
            cached_input: Some(d("1.25")),
            cache_write: Some(d("3.75")),
            reasoning: None,
            per_call: None,
            per_unit: None,
            tiers: Vec::new(),
        }
    }

    #[test]
    fn uncached_tokens_cost_tokens_times_rate_over_a_million() {
        let t = TokenCounts {
            input: 1000,
            output: 500,
            ..Default::default()
        };
        // 1000 × 2.50 / 1e6 + 500 × 10 / 1e6 = 0.0025 + 0.005
        assert_eq!(rates().cost(&t).expect("fits"), Nanos(7_500_000));
    }

    #[test]
    fn cached_reads_cache_writes_and_reasoning_use_their_own_rates() {
        let t = TokenCounts {
            input: 1000,
            output: 500,
            cached_input: 600,
            cache_write: 100,
            reasoning: 300,
        };
        // 300 × 2.50 + 600 × 1.25 + 100 × 3.75 + 200 × 10 + 300 × 10 (reasoning at output rate)
        let expected = d("0.00075") + d("0.00075") + d("0.000375") + d("0.002") + d("0.003");
        assert_eq!(
            rates().cost(&t).expect("fits"),
            Nanos::from_decimal_rounded(expected).expect("fits")
        );
    }

    #[test]
    fn a_single_token_is_never_free() {
        let r = Rates {
            input: d("0.075"),
            output: d("0.30"),
            cached_input: None,
            cache_write: None,
            reasoning: None,
            per_call: None,
            per_unit: None,
            tiers: Vec::new(),
        };
        let t = TokenCounts {
            input: 1,
            ..Default::default()
        };
        // 0.075 / 1e6 = 0.000000075 exactly 75 nanos
        assert_eq!(r.cost(&t).expect("fits"), Nanos(75));
    }

    #[test]
    fn a_tool_call_costs_its_price_per_call_plus_its_units_times_the_unit_price() {
        let r = Rates::per_call(Some(d("0.02")), Some(d("0.0015")));
        assert_eq!(r.call_cost(None).expect("fits"), Nanos(20_000_000));
        // 0.02 + 3 × 0.0015
        assert_eq!(r.call_cost(Some(3)).expect("fits"), Nanos(24_500_000));
        // Rounded once, half-even: 0.0000000005 per unit × 3 = 1.5 nanos → 2.
        let tiny = Rates::per_call(None, Some(d("0.0000000005")));
        assert_eq!(tiny.call_cost(Some(3)).expect("fits"), Nanos(2));
        assert_eq!(
            Rates::per_call(None, None)
                .call_cost(Some(9))
                .expect("fits"),
            Nanos::ZERO
        );
    }

    #[test]
    fn a_prompt_above_a_tier_prices_the_whole_request_at_the_tier() {
        let mut r = rates();
        r.tiers = vec![Tier {
            above_input_tokens: 1000,
            input: d("5"),
            output: d("20"),
            cached_input: None,
            cache_write: None,
            reasoning: None,
        }];
        let t = |input, cached| TokenCounts {
            input,
            cached_input: cached,
            output: 100,
            ..Default::default()
        };
        // At the threshold: base rates, cached reads at their own rate.
        let base = d("1000") * d("2.50") + d("100") * d("10");
        assert_eq!(
            r.cost(&t(1000, 0)).expect("fits"),
            Nanos::from_decimal_rounded(base / d("1000000")).expect("fits")
        );
        // Above it: every token at the tier; a cached read falls back to the tier's input.
        let tier = d("1001") * d("5") + d("100") * d("20");
        assert_eq!(
            r.cost(&t(1001, 500)).expect("fits"),
            Nanos::from_decimal_rounded(tier / d("1000000")).expect("fits")
        );
    }

    #[test]
    fn versions_name_source_model_and_date() {
        let e = PriceEntry {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            effective_from_us: time::parse_instant("2024-08-06", time::DateEdge::Start)
                .expect("date"),
            currency: Currency::usd(),
            rates: rates(),
            source: PriceSource::Builtin,
            tenant_id: None,
        };
        assert_eq!(e.version(), "builtin:openai/gpt-4o@2024-08-06");
    }
}
