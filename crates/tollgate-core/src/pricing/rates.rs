//! What a price says and what a call costs under it.
//!
//! A price has a rate per million tokens for each [`TokenClass`] a provider bills on its own
//! (only `input` and `output` are required: a class without a rate of its own is billed at
//! its fallback class's rate, never at zero), whole-request long-context tiers, service-tier
//! rates (batch, flex, priority) stated as their own rates or as a factor, a price per
//! request (or per MCP tool execution), and prices per unit of named quantities (web searches,
//! images by size and quality, seconds of audio).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, Nanos};
use crate::usage::{ServiceTier, TokenClass, TokenCounts};

/// Rates per million tokens, by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRates {
    /// Uncached prompt text.
    pub input: Decimal,
    /// Generated text that is not reasoning.
    pub output: Decimal,
    /// Prompt tokens read from the cache (falls back to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<Decimal>,
    /// Prompt tokens written to a 5-minute cache (falls back to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<Decimal>,
    /// Prompt tokens written to a 1-hour cache (falls back to `cache_write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<Decimal>,
    /// Uncached prompt audio (falls back to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input: Option<Decimal>,
    /// Uncached prompt images (falls back to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_input: Option<Decimal>,
    /// Uncached prompt video (falls back to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_input: Option<Decimal>,
    /// Reasoning tokens (falls back to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Decimal>,
    /// Generated audio (falls back to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output: Option<Decimal>,
    /// Generated images (falls back to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_output: Option<Decimal>,
}

impl TokenRates {
    /// `input` and `output`, every other class falling back.
    pub fn new(input: Decimal, output: Decimal) -> TokenRates {
        TokenRates {
            input,
            output,
            ..TokenRates::default()
        }
    }

    /// The class's own rate, if the price sets one.
    pub fn own(&self, class: TokenClass) -> Option<Decimal> {
        match class {
            TokenClass::Input => Some(self.input),
            TokenClass::Output => Some(self.output),
            TokenClass::CachedInput => self.cached_input,
            TokenClass::CacheWrite => self.cache_write,
            TokenClass::CacheWrite1h => self.cache_write_1h,
            TokenClass::AudioInput => self.audio_input,
            TokenClass::ImageInput => self.image_input,
            TokenClass::VideoInput => self.video_input,
            TokenClass::Reasoning => self.reasoning,
            TokenClass::AudioOutput => self.audio_output,
            TokenClass::ImageOutput => self.image_output,
        }
    }

    /// The slot of a class's own rate, to set it.
    pub fn slot(&mut self, class: TokenClass) -> Option<&mut Option<Decimal>> {
        Some(match class {
            TokenClass::Input | TokenClass::Output => return None,
            TokenClass::CachedInput => &mut self.cached_input,
            TokenClass::CacheWrite => &mut self.cache_write,
            TokenClass::CacheWrite1h => &mut self.cache_write_1h,
            TokenClass::AudioInput => &mut self.audio_input,
            TokenClass::ImageInput => &mut self.image_input,
            TokenClass::VideoInput => &mut self.video_input,
            TokenClass::Reasoning => &mut self.reasoning,
            TokenClass::AudioOutput => &mut self.audio_output,
            TokenClass::ImageOutput => &mut self.image_output,
        })
    }

    /// The rate that bills the class: its own, else its fallback's, down to `input` or
    /// `output`.
    pub fn rate(&self, class: TokenClass) -> Decimal {
        let mut c = class;
        loop {
            if let Some(r) = self.own(c) {
                return r;
            }
            match c.fallback() {
                Some(next) => c = next,
                None => return Decimal::ZERO,
            }
        }
    }

    /// The classes with a rate of their own besides `input` and `output`, with it.
    pub fn own_rates(&self) -> impl Iterator<Item = (TokenClass, Decimal)> + '_ {
        TokenClass::ALL
            .into_iter()
            .filter(|c| !matches!(c, TokenClass::Input | TokenClass::Output))
            .filter_map(|c| self.own(c).map(|r| (c, r)))
    }
}

/// The rates of a request whose prompt (every input token, cached ones included) is larger
/// than `above_input_tokens`: the whole request is priced at them, as Anthropic, OpenAI and
/// Google bill it. A class the tier does not price is billed at the base price's own rate for
/// it, else falls back within the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// The prompt size (input tokens) a request must exceed.
    pub above_input_tokens: i64,
    /// The rates of such a request.
    #[serde(flatten)]
    pub rates: TokenRates,
}

/// How a service tier (batch, flex, priority) is priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicePrice {
    /// Every token rate times this factor (`0.5`: the batch discount), long-context tiers
    /// included.
    Factor(Decimal),
    /// Rates of their own for requests in the base tier. A class they leave out is its
    /// standard rate scaled as the service tier scales `input` (prompt classes) or `output`
    /// (generated classes); above a long-context threshold, each class is the long-context
    /// rate scaled by the same ratio as its service rate to its standard rate.
    Rates(TokenRates),
}

/// A price's rates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    /// Rates per million tokens of the base tier and standard service.
    pub tokens: TokenRates,
    /// A price per request (an LLM call) or per execution (an MCP tool).
    pub per_call: Option<Decimal>,
    /// A price per unit of the quantity an MCP tool execution reports.
    pub per_unit: Option<Decimal>,
    /// Prices per unit of named quantities: `web_search`, `image` (or `image:1024x1024`,
    /// `image:1024x1024:hd`), `audio_second`, ... A quantity is priced by its own name, else
    /// by its name without the last `:` qualifier, and so on.
    pub unit_prices: BTreeMap<String, Decimal>,
    /// Long-context tiers, lowest threshold first.
    pub tiers: Vec<Tier>,
    /// Prices of service tiers other than standard.
    pub service_tiers: BTreeMap<ServiceTier, ServicePrice>,
}

/// What a call used, as a price needs it.
#[derive(Debug, Clone, Copy)]
pub struct Metered<'a> {
    /// Its tokens.
    pub tokens: &'a TokenCounts,
    /// How it was served.
    pub service_tier: ServiceTier,
    /// Named quantities priced per unit (`web_search`: 2).
    pub quantities: &'a BTreeMap<String, i64>,
    /// The units an MCP tool execution reported.
    pub units: Option<i64>,
}

impl<'a> Metered<'a> {
    /// Tokens only, standard service.
    pub fn tokens(tokens: &'a TokenCounts) -> Metered<'a> {
        static NONE: BTreeMap<String, i64> = BTreeMap::new();
        Metered {
            tokens,
            service_tier: ServiceTier::Standard,
            quantities: &NONE,
            units: None,
        }
    }
}

/// A cost and its input side; the output side (generated tokens, the price per call and
/// per unit) is `total - input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostSplit {
    /// The whole cost.
    pub total: Nanos,
    /// The cost of the prompt tokens (uncached, cached reads, cache writes, media).
    pub input: Nanos,
    /// Quantities the price has no unit price for: billed at nothing, so the call is not
    /// fully priced.
    pub unpriced_quantities: Vec<String>,
}

impl Rates {
    /// Token rates only, every class falling back.
    pub fn tokens(input: Decimal, output: Decimal) -> Rates {
        Rates {
            tokens: TokenRates::new(input, output),
            ..Rates::default()
        }
    }

    /// The rates of a tool: a price per call and per unit, no token prices.
    pub fn per_call(per_call: Option<Decimal>, per_unit: Option<Decimal>) -> Rates {
        Rates {
            per_call,
            per_unit,
            ..Rates::default()
        }
    }

    /// The exact cost of `tokens` at standard service, rounded once, half-even, to nanos.
    pub fn cost(&self, tokens: &TokenCounts) -> Result<Nanos, MoneyError> {
        Ok(self.cost_split(&Metered::tokens(tokens))?.total)
    }

    /// The exact cost of one tool execution that reported `units`: the price per call plus
    /// `units` times the price per unit, rounded once, half-even, to nanos.
    pub fn call_cost(&self, units: Option<i64>) -> Result<Nanos, MoneyError> {
        let tokens = TokenCounts::default();
        let mut call = Metered::tokens(&tokens);
        call.units = units;
        Ok(self.cost_split(&call)?.total)
    }

    /// The long-context tier a prompt of `input` tokens falls in, if any.
    pub fn tier_for(&self, input: i64) -> Option<&Tier> {
        self.tiers
            .iter()
            .rev()
            .find(|t| input > t.above_input_tokens)
    }

    /// The rate per million tokens of `class` for a request of `input` prompt tokens served
    /// at `service`; None when it does not fit a decimal (a price far beyond any real one).
    ///
    /// Above a long-context threshold, a class the tier does not price is billed at the base
    /// price's own rate for it (the provider does not change it), else falls back within the
    /// tier.
    pub fn rate(&self, class: TokenClass, input: i64, service: ServiceTier) -> Option<Decimal> {
        let tier = self.tier_for(input);
        let base = match tier {
            None => self.tokens.rate(class),
            Some(t) => t
                .rates
                .own(class)
                .or_else(|| self.tokens.own(class))
                .unwrap_or_else(|| t.rates.rate(class)),
        };
        let price = match service {
            ServiceTier::Standard => None,
            other => self.service_tiers.get(&other),
        };
        // `base × scale / of`, checked.
        let scaled = |scale: Decimal, of: Decimal| {
            if of.is_zero() {
                Some(base)
            } else {
                base.checked_mul(scale)?.checked_div(of)
            }
        };
        match price {
            None => Some(base),
            Some(ServicePrice::Factor(f)) => base.checked_mul(*f),
            Some(ServicePrice::Rates(r)) => {
                let standard = self.tokens.rate(class);
                match (r.own(class), tier) {
                    (Some(own), None) => Some(own),
                    (Some(own), Some(_)) if !standard.is_zero() => scaled(own, standard),
                    _ if class.is_input() => scaled(r.input, self.tokens.input),
                    _ => scaled(r.output, self.tokens.output),
                }
            }
        }
    }

    /// The price of one unit of `quantity`: its own, else that of its name without the last
    /// `:` qualifier, and so on.
    pub fn unit_price(&self, quantity: &str) -> Option<Decimal> {
        let mut name = quantity;
        loop {
            if let Some(p) = self.unit_prices.get(name) {
                return Some(*p);
            }
            name = name.rsplit_once(':')?.0;
        }
    }

    /// The exact cost of a call and its input side, each rounded once, half-even, to nanos;
    /// the output side is the difference, so the two always add up to the total.
    pub fn cost_split(&self, call: &Metered<'_>) -> Result<CostSplit, MoneyError> {
        let overflow = || MoneyError::OutOfRange("the cost of a call".into());
        let tokens = call.tokens;
        let mut exact = Decimal::ZERO;
        let mut input = Decimal::ZERO;
        for (class, n) in tokens.by_class() {
            if n == 0 {
                continue;
            }
            let rate = self
                .rate(class, tokens.input, call.service_tier)
                .ok_or_else(overflow)?;
            let part = Decimal::from(n).checked_mul(rate).ok_or_else(overflow)?;
            exact = exact.checked_add(part).ok_or_else(overflow)?;
            if class.is_input() {
                input = input.checked_add(part).ok_or_else(overflow)?;
            }
        }
        let million = Decimal::from(1_000_000);
        exact /= million;
        input /= million;
        if let Some(p) = self.per_call {
            exact = exact.checked_add(p).ok_or_else(overflow)?;
        }
        if let (Some(units), Some(p)) = (call.units, self.per_unit) {
            let part = Decimal::from(units).checked_mul(p).ok_or_else(overflow)?;
            exact = exact.checked_add(part).ok_or_else(overflow)?;
        }
        let mut unpriced_quantities = Vec::new();
        for (name, n) in call.quantities {
            match self.unit_price(name) {
                Some(p) => {
                    let part = Decimal::from(*n).checked_mul(p).ok_or_else(overflow)?;
                    exact = exact.checked_add(part).ok_or_else(overflow)?;
                }
                None if *n > 0 => unpriced_quantities.push(name.clone()),
                None => {}
            }
        }
        Ok(CostSplit {
            total: Nanos::from_decimal_rounded(exact)?,
            input: Nanos::from_decimal_rounded(input)?,
            unpriced_quantities,
        })
    }

    /// The token classes of `tokens` this price bills at a fallback rate: it sets no rate of
    /// their own.
    pub fn fallbacks(&self, tokens: &TokenCounts) -> Vec<TokenClass> {
        let rates = self
            .tier_for(tokens.input)
            .map_or(&self.tokens, |t| &t.rates);
        tokens
            .by_class()
            .into_iter()
            .filter(|(c, n)| *n > 0 && rates.own(*c).is_none() && self.tokens.own(*c).is_none())
            .map(|(c, _)| c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn nanos(exact: Decimal) -> Nanos {
        Nanos::from_decimal_rounded(exact / d("1000000")).expect("fits")
    }

    fn rates() -> Rates {
        let mut r = Rates::tokens(d("2.50"), d("10"));
        r.tokens.cached_input = Some(d("1.25"));
        r.tokens.cache_write = Some(d("3.75"));
        r
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
            ..Default::default()
        };
        // 300 × 2.50 + 600 × 1.25 + 100 × 3.75 + 200 × 10 + 300 × 10 (reasoning at output rate)
        let expected = d("750") + d("750") + d("375") + d("2000") + d("3000");
        assert_eq!(rates().cost(&t).expect("fits"), nanos(expected));
    }

    #[test]
    fn a_single_token_is_never_free() {
        let r = Rates::tokens(d("0.075"), d("0.30"));
        let t = TokenCounts {
            input: 1,
            ..Default::default()
        };
        // 0.075 / 1e6 = 0.000000075 exactly 75 nanos
        assert_eq!(r.cost(&t).expect("fits"), Nanos(75));
    }

    #[test]
    fn a_one_hour_cache_write_without_its_own_rate_is_billed_as_a_five_minute_one() {
        let mut r = rates();
        let t = TokenCounts {
            input: 1000,
            cache_write: 1000,
            cache_write_1h: 400,
            ..Default::default()
        };
        assert_eq!(r.cost(&t).expect("fits"), nanos(d("1000") * d("3.75")));
        assert_eq!(r.fallbacks(&t), [TokenClass::CacheWrite1h]);
        r.tokens.cache_write_1h = Some(d("5"));
        assert_eq!(
            r.cost(&t).expect("fits"),
            nanos(d("600") * d("3.75") + d("400") * d("5"))
        );
        assert!(r.fallbacks(&t).is_empty());
    }

    #[test]
    fn media_tokens_use_their_own_rates_and_otherwise_the_text_ones() {
        let mut r = rates();
        r.tokens.audio_input = Some(d("40"));
        r.tokens.audio_output = Some(d("80"));
        let t = TokenCounts {
            input: 1000,
            output: 500,
            audio_input: 600,
            image_input: 100,
            audio_output: 300,
            ..Default::default()
        };
        let expected = d("300") * d("2.50")
            + d("600") * d("40")
            + d("100") * d("2.50")
            + d("200") * d("10")
            + d("300") * d("80");
        let split = r.cost_split(&Metered::tokens(&t)).expect("fits");
        assert_eq!(split.total, nanos(expected));
        assert_eq!(
            split.input,
            nanos(d("300") * d("2.50") + d("600") * d("40") + d("250"))
        );
        assert_eq!(r.fallbacks(&t), [TokenClass::ImageInput]);
    }

    #[test]
    fn a_prompt_above_a_tier_prices_the_whole_request_at_the_tier() {
        let mut r = rates();
        r.tiers = vec![Tier {
            above_input_tokens: 1000,
            rates: TokenRates::new(d("5"), d("20")),
        }];
        let t = |input, cached| TokenCounts {
            input,
            cached_input: cached,
            output: 100,
            ..Default::default()
        };
        // At the threshold: base rates.
        let base = d("1000") * d("2.50") + d("100") * d("10");
        assert_eq!(r.cost(&t(1000, 0)).expect("fits"), nanos(base));
        // Above it: every token at the tier; a cached read the tier does not price keeps the
        // base price's own cached rate.
        let tier = d("501") * d("5") + d("500") * d("1.25") + d("100") * d("20");
        assert_eq!(r.cost(&t(1001, 500)).expect("fits"), nanos(tier));
        // Without one there either, it falls back within the tier, to the tier's input.
        r.tokens.cached_input = None;
        let tier = d("1001") * d("5") + d("100") * d("20");
        assert_eq!(r.cost(&t(1001, 500)).expect("fits"), nanos(tier));
    }

    #[test]
    fn a_batch_factor_discounts_every_token_rate_long_context_included() {
        let mut r = rates();
        r.tiers = vec![Tier {
            above_input_tokens: 1000,
            rates: TokenRates::new(d("5"), d("20")),
        }];
        r.service_tiers
            .insert(ServiceTier::Batch, ServicePrice::Factor(d("0.5")));
        let t = TokenCounts {
            input: 2000,
            output: 100,
            ..Default::default()
        };
        let call = Metered {
            service_tier: ServiceTier::Batch,
            ..Metered::tokens(&t)
        };
        assert_eq!(
            r.cost_split(&call).expect("fits").total,
            nanos((d("2000") * d("5") + d("100") * d("20")) * d("0.5"))
        );
        // A tier the price does not know is billed at standard rates.
        let flex = Metered {
            service_tier: ServiceTier::Flex,
            ..Metered::tokens(&t)
        };
        assert_eq!(
            r.cost_split(&flex).expect("fits").total,
            nanos(d("2000") * d("5") + d("100") * d("20"))
        );
    }

    #[test]
    fn service_rates_scale_the_classes_they_leave_out() {
        let mut r = rates();
        r.service_tiers.insert(
            ServiceTier::Priority,
            ServicePrice::Rates(TokenRates::new(d("5"), d("15"))),
        );
        let t = TokenCounts {
            input: 1000,
            cached_input: 400,
            output: 100,
            ..Default::default()
        };
        let call = Metered {
            service_tier: ServiceTier::Priority,
            ..Metered::tokens(&t)
        };
        // Cached reads: 1.25 × (5 / 2.50) = 2.50.
        let expected = d("600") * d("5") + d("400") * d("2.50") + d("100") * d("15");
        assert_eq!(r.cost_split(&call).expect("fits").total, nanos(expected));
    }

    #[test]
    fn a_price_too_large_for_a_decimal_is_an_error_not_a_panic() {
        let mut r = Rates::tokens(d("1e27"), d("1"));
        r.service_tiers
            .insert(ServiceTier::Batch, ServicePrice::Factor(d("1e27")));
        let t = TokenCounts {
            input: 1000,
            ..Default::default()
        };
        let call = Metered {
            service_tier: ServiceTier::Batch,
            ..Metered::tokens(&t)
        };
        assert!(r.cost_split(&call).is_err());
    }

    #[test]
    fn per_request_and_per_unit_prices_add_to_the_tokens() {
        let mut r = rates();
        r.per_call = Some(d("0.005"));
        r.unit_prices.insert("web_search".into(), d("0.01"));
        r.unit_prices.insert("image".into(), d("0.04"));
        r.unit_prices.insert("image:1024x1024:hd".into(), d("0.08"));
        let t = TokenCounts::default();
        let quantities: BTreeMap<String, i64> = [
            ("web_search".to_string(), 3),
            ("image:1024x1024:hd".to_string(), 1),
            ("image:1024x1792".to_string(), 2),
            ("audio_second".to_string(), 30),
        ]
        .into();
        let call = Metered {
            quantities: &quantities,
            ..Metered::tokens(&t)
        };
        let split = r.cost_split(&call).expect("fits");
        // 0.005 + 3 × 0.01 + 0.08 + 2 × 0.04 (the plain image price)
        assert_eq!(split.total, Nanos(195_000_000));
        assert_eq!(split.unpriced_quantities, ["audio_second"]);
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
}
