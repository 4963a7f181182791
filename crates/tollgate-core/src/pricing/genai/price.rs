//! One genai-prices `ModelPrice` object: its amounts by price key, the Tollgate rates they
//! make, and the check that those rates bill every token class as genai-prices does.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::pricing::{Rates, Tier, TokenRates};
use crate::usage::{ServiceTier, TokenClass};

/// A price as genai-prices states it: one amount, or a base amount and, for each tier, the
/// amount of a request whose prompt (every input token) is larger than the tier's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Amount {
    /// The same amount at any prompt size.
    Flat(Decimal),
    /// `{"base": .., "tiers": [{"start": .., "price": ..}]}`, tiers by start.
    Tiered {
        /// The amount up to the first tier.
        base: Decimal,
        /// `(start, amount)`, lowest start first.
        tiers: Vec<(i64, Decimal)>,
    },
}

impl Amount {
    /// The amount for a request of `input` prompt tokens: that of the highest tier whose
    /// start the prompt exceeds, else the base. This is genai-prices' `calc_unit_price`: the
    /// tier prices every token of the request, not only those above its start.
    pub(super) fn at(&self, input: i64) -> Decimal {
        match self {
            Amount::Flat(d) => *d,
            Amount::Tiered { base, tiers } => tiers
                .iter()
                .rev()
                .find(|(start, _)| input > *start)
                .map_or(*base, |(_, d)| *d),
        }
    }

    fn starts(&self) -> &[(i64, Decimal)] {
        match self {
            Amount::Flat(_) => &[],
            Amount::Tiered { tiers, .. } => tiers,
        }
    }
}

/// A `ModelPrice` object: price key (`input_mtok`) → amount.
pub(super) type Prices = BTreeMap<String, Amount>;

/// The genai-prices key of each token class's price, per million tokens.
const TOKEN_KEYS: [(&str, TokenClass); 11] = [
    ("input_mtok", TokenClass::Input),
    ("output_mtok", TokenClass::Output),
    ("cache_read_mtok", TokenClass::CachedInput),
    ("cache_write_mtok", TokenClass::CacheWrite),
    ("cache_write_1h_mtok", TokenClass::CacheWrite1h),
    ("input_audio_mtok", TokenClass::AudioInput),
    ("input_image_mtok", TokenClass::ImageInput),
    ("input_video_mtok", TokenClass::VideoInput),
    ("output_reasoning_mtok", TokenClass::Reasoning),
    ("output_audio_mtok", TokenClass::AudioOutput),
    ("output_image_mtok", TokenClass::ImageOutput),
];

/// The genai-prices keys priced per a number of units, with the quantity Tollgate prices
/// per unit and that number. A genai-prices unit that narrows another (input audio seconds
/// within audio seconds, annotated pages within pages) is the wider one's name with a `:`
/// qualifier, so that, as in genai-prices, it is billed at the wider price when it has none
/// of its own.
const UNIT_KEYS: [(&str, &str, i64); 13] = [
    ("web_searches_kcount", "web_search", 1_000),
    ("storage_searches_kcount", "storage_search", 1_000),
    ("social_searches_kcount", "social_search", 1_000),
    ("code_executions_kcount", "code_execution", 1_000),
    ("rerank_searches_kcount", "rerank_search", 1_000),
    ("audio_hours", "audio_second", 3_600),
    ("input_audio_hours", "audio_second:input", 3_600),
    ("output_audio_hours", "audio_second:output", 3_600),
    ("input_mchars", "input_character", 1_000_000),
    ("input_text_messages_kcount", "input_text_message", 1_000),
    ("input_gpixels", "input_pixel", 1_000_000_000),
    ("input_document_kpages", "page", 1_000),
    ("input_annotated_document_kpages", "page:annotated", 1_000),
];

/// The price per thousand requests, Tollgate's price per call times 1,000.
const REQUESTS_KEY: &str = "requests_kcount";

/// The largest tier start read: far above any context window, and small enough that a start
/// plus one never overflows.
const MAX_START: i64 = 1_000_000_000_000_000;

fn class_key(class: TokenClass) -> &'static str {
    TOKEN_KEYS
        .iter()
        .find(|(_, c)| *c == class)
        .map(|(k, _)| *k)
        .expect("every token class has a key")
}

/// Whether `key` prices a token class.
pub(super) fn is_token_key(key: &str) -> bool {
    TOKEN_KEYS.iter().any(|(k, _)| *k == key)
}

/// Whether Tollgate has a place for `key` in an entry's standard rates.
pub(super) fn is_known_key(key: &str) -> bool {
    is_token_key(key) || key == REQUESTS_KEY || UNIT_KEYS.iter().any(|(k, _, _)| *k == key)
}

/// A genai-prices amount, a JSON number read through its shortest decimal text
/// (`0.003625`), which is the text the file has for any amount of up to 15 significant
/// digits.
fn decimal(what: &str, v: &Value) -> Result<Decimal, String> {
    let f = v
        .as_f64()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| format!("{what} must be a non-negative number"))?;
    let text = format!("{f}");
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{what} {text} is out of range"))
}

/// Reads a `ModelPrice` object; `what` names it in errors (`prices`, `price_variants[0].prices`).
pub(super) fn read_prices(what: &str, value: &Value) -> Result<Prices, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("{what} must be an object of prices"))?;
    let mut prices = Prices::new();
    for (key, v) in map {
        let what = format!("{what}.{key}");
        let amount = match v {
            Value::Null => continue,
            Value::Number(_) => Amount::Flat(decimal(&what, v)?),
            Value::Object(o) => {
                let base = decimal(
                    &format!("{what}.base"),
                    o.get("base").unwrap_or(&Value::Null),
                )?;
                let items = match o.get("tiers") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items.clone(),
                    Some(_) => return Err(format!("{what}.tiers must be a list")),
                };
                let mut tiers = Vec::with_capacity(items.len());
                for item in &items {
                    let start = item
                        .get("start")
                        .and_then(Value::as_i64)
                        .filter(|s| (0..=MAX_START).contains(s))
                        .ok_or_else(|| {
                            format!("{what}.tiers: start must be a whole number of tokens from 0 to {MAX_START}")
                        })?;
                    let price = decimal(
                        &format!("{what}.tiers.price"),
                        item.get("price").unwrap_or(&Value::Null),
                    )?;
                    tiers.push((start, price));
                }
                tiers.sort_by_key(|(start, _)| *start);
                Amount::Tiered { base, tiers }
            }
            _ => return Err(format!("{what} must be a number or {{base, tiers}}")),
        };
        prices.insert(key.clone(), amount);
    }
    Ok(prices)
}

/// The keys of a price object an entry's standard rates cannot hold: keys Tollgate has no
/// place for (`cache_audio_read_mtok`) and the tiers of a price it does not tier (a unit or
/// request price: `web_searches_kcount.tiers`, its base being used).
pub(super) fn unmapped_keys(prices: &Prices) -> Vec<String> {
    prices
        .iter()
        .filter_map(|(key, amount)| {
            if !is_known_key(key) {
                Some(key.clone())
            } else if !is_token_key(key) && !amount.starts().is_empty() {
                Some(format!("{key}.tiers"))
            } else {
                None
            }
        })
        .collect()
}

/// The token rates of a request of `input` prompt tokens: each class genai-prices prices,
/// at its amount for that prompt size; `input` and `output` are zero when it prices neither
/// (genai-prices bills nothing for a unit without a price). Other classes fall back as they
/// do in genai-prices, whose unpriced units are billed as part of their parent.
pub(super) fn token_rates(prices: &Prices, input: i64) -> TokenRates {
    let get = |class: TokenClass| prices.get(class_key(class)).map(|a| a.at(input));
    let mut rates = TokenRates::new(
        get(TokenClass::Input).unwrap_or_default(),
        get(TokenClass::Output).unwrap_or_default(),
    );
    for class in TokenClass::ALL {
        if let Some(slot) = rates.slot(class) {
            *slot = get(class);
        }
    }
    rates
}

/// The standard rates of a price object: token rates, a whole-request tier at each start any
/// token price is tiered at (the first start being above zero), unit prices per unit and the
/// price per request. Keys [`unmapped_keys`] lists are left out.
pub(super) fn standard_rates(prices: &Prices) -> Result<Rates, String> {
    let mut rates = Rates {
        tokens: token_rates(prices, 0),
        ..Rates::default()
    };
    let starts: BTreeSet<i64> = prices
        .iter()
        .filter(|(key, _)| is_token_key(key))
        .flat_map(|(_, a)| a.starts().iter().map(|(s, _)| *s))
        .filter(|s| *s > 0)
        .collect();
    rates.tiers = starts
        .into_iter()
        .map(|start| Tier {
            above_input_tokens: start,
            rates: token_rates(prices, start + 1),
        })
        .collect();
    let per_unit = |key: &str, amount: &Amount, per: i64| {
        amount
            .at(0)
            .checked_div(Decimal::from(per))
            .map(|d| d.normalize())
            .ok_or_else(|| format!("{key} is out of range"))
    };
    for (key, amount) in prices {
        if key == REQUESTS_KEY {
            rates.per_call = Some(per_unit(key, amount, 1_000)?);
        } else if let Some((_, quantity, per)) = UNIT_KEYS.iter().find(|(k, _, _)| k == key) {
            rates
                .unit_prices
                .insert((*quantity).to_string(), per_unit(key, amount, *per)?);
        }
    }
    Ok(rates)
}

/// `standard` with `overrides` over it: a service-tier variant replaces the prices it
/// states and keeps the others.
pub(super) fn merge(standard: &Prices, overrides: &Prices) -> Prices {
    let mut merged = standard.clone();
    merged.extend(overrides.iter().map(|(k, a)| (k.clone(), a.clone())));
    merged
}

/// What genai-prices bills a token of `class` in a request of `input` prompt tokens, and
/// the key that prices it: a class without a price of its own is billed as part of its
/// parent (a cached read as input), as genai-prices' leaf values do.
fn genai_rate(prices: &Prices, class: TokenClass, input: i64) -> (&'static str, Decimal) {
    let mut c = class;
    loop {
        if let Some(a) = prices.get(class_key(c)) {
            return (class_key(c), a.at(input));
        }
        match c.fallback() {
            Some(next) => c = next,
            None => return (class_key(c), Decimal::ZERO),
        }
    }
}

/// The token keys of `prices` whose genai-prices amount, for some class and prompt size,
/// is not what `rates` bills at `service`. Each prompt size where a price changes is tried
/// (a tier's start and one token above it), so an empty answer means the rates bill every
/// token as genai-prices does.
pub(super) fn unfaithful(
    rates: &Rates,
    service: ServiceTier,
    prices: &Prices,
) -> BTreeSet<&'static str> {
    let mut sizes: BTreeSet<i64> = [0].into();
    let starts = prices
        .values()
        .flat_map(|a| a.starts().iter().map(|(s, _)| *s))
        .chain(rates.tiers.iter().map(|t| t.above_input_tokens));
    for start in starts {
        sizes.insert(start);
        sizes.insert(start + 1);
    }
    let mut keys = BTreeSet::new();
    for class in TokenClass::ALL {
        for &input in &sizes {
            let (key, expected) = genai_rate(prices, class, input);
            if rates.rate(class, input, service) != Some(expected) {
                keys.insert(key);
            }
        }
    }
    keys
}
