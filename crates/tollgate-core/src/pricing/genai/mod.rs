//! Import of pydantic's genai-prices `data.json`: a list of providers, each with its models,
//! each model with its prices.
//!
//! A model's `prices` is one price object or a list of `{constraint, prices}`, of which
//! genai-prices uses the last whose constraint holds (the first when none does). A price
//! object maps price keys to amounts, flat or tiered on the prompt size
//! (`{"base": 3, "tiers": [{"start": 200000, "price": 6}]}`); `price_variants` state the
//! prices a request context changes (`{"processing": "batch"}`).
//!
//! What becomes of it:
//! - each model is an entry under its provider (through [`canonical_provider`]) and its `id`,
//!   lower case; its `match` aliases are not imported (Tollgate's own lookup finds dated
//!   snapshots of a model);
//! - a `start_date` constraint starts a new entry at midnight UTC of that date; the price
//!   genai-prices uses before any date is in force from [`FIRST_PRICE_FROM_US`];
//! - token prices per million tokens are the token class rates (`cache_read_mtok` →
//!   `cached_input`, `cache_write_mtok` → `cache_write`, ...); a class genai-prices does not
//!   price is billed as part of its parent there and falls back to it here;
//! - tiered token prices become whole-request long-context tiers, as genai-prices bills
//!   them (a request whose prompt exceeds a tier's start pays the tier for every token);
//! - `requests_kcount` is the price per call (divided by 1,000), and prices per a number of
//!   units are unit prices per one unit: `web_searches_kcount` → `web_search`,
//!   `storage_searches_kcount` → `storage_search`, `input_document_kpages` → `page`,
//!   `input_annotated_document_kpages` → `page:annotated`, `audio_hours` → `audio_second`,
//!   `input_audio_hours` → `audio_second:input`, `input_mchars` → `input_character`,
//!   `input_text_messages_kcount` → `input_text_message`, ... (a price per hour divided by
//!   3,600 is rounded at the 28th decimal place, as genai-prices' own decimals round it);
//! - a model with an empty price object is free in genai-prices and imported at zero;
//! - variants for batch processing (`processing: batch`) and for the `flex` and `priority`
//!   service tiers become service-tier rates: the prices a variant states, the standard ones
//!   for those it does not.
//!
//! Amounts are JSON numbers, read through their shortest decimal text, which is the file's
//! own text for any amount of up to 15 significant digits.
//!
//! A model with a price that holds only at some times of day (DeepSeek's off-peak hours) is
//! not imported at all, so that its calls are priced by the other sources rather than every
//! hour at one of its prices; its prices are reported.
//!
//! What does not fit (a time-of-day constraint, a key with no token class, a variant for
//! another context, a unit price of a service tier, a service price the model would bill
//! otherwise above a long-context tier) is left out and counted in [`GenaiImport::unmapped`]
//! under its path in the file (`prices.constraint.start_time`, `prices.cache_audio_read_mtok`,
//! `price_variants.when.service_tier=fast`, `price_variants.prices.input_mtok.tiers`), once
//! per object that states it. Every rate imported is checked against what genai-prices bills
//! for each token class at each prompt size where a price changes.

mod price;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use self::price::{is_known_key, is_token_key, Prices};
use super::{canonical_provider, PriceEntry, PriceFileError, PriceSource, Rates, ServicePrice};
use crate::money::Currency;
use crate::time::{parse_instant, DateEdge};
use crate::usage::ServiceTier;

/// When a model's first price starts: 2000-01-01T00:00:00Z. genai-prices gives no date for
/// the price it uses before any dated one, so it is in force from well before any of its
/// models.
pub const FIRST_PRICE_FROM_US: i64 = 946_684_800_000_000;

/// What an import of genai-prices' data read.
#[derive(Debug, Clone, Default)]
pub struct GenaiImport {
    /// The prices, a model's oldest first.
    pub entries: Vec<PriceEntry>,
    /// Models not imported: their only prices are ones Tollgate cannot use (each counted in
    /// `unmapped`), they have no prices, or they repeat an earlier model of their provider.
    pub skipped: usize,
    /// What it could not map, by path in the file, with how many objects (prices, variants)
    /// state it, so that no price is dropped without a word.
    pub unmapped: BTreeMap<String, usize>,
}

/// When a price or variant applies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    /// No constraint.
    Always,
    /// From this instant on (`start_date`).
    From(i64),
    /// A constraint Tollgate cannot express (a time of day): its model is not imported, and
    /// it is reported by path.
    Unmapped(String),
}

impl When {
    fn read(what: &str, constraint: Option<&Value>) -> Result<When, String> {
        let c = match constraint {
            None | Some(Value::Null) => return Ok(When::Always),
            Some(Value::Object(c)) => c,
            Some(_) => return Err(format!("{what}.constraint must be an object")),
        };
        match (c.get("start_date"), c.len()) {
            (Some(Value::String(date)), 1) => parse_instant(date, DateEdge::Start)
                .map(When::From)
                .map_err(|e| format!("{what}.constraint.start_date: {e}")),
            (Some(_), 1) => Err(format!("{what}.constraint.start_date must be a date")),
            _ if c.contains_key("start_time") => Ok(When::Unmapped("constraint.start_time".into())),
            _ => {
                let keys: Vec<&str> = c.keys().map(String::as_str).collect();
                Ok(When::Unmapped(format!("constraint.{}", keys.join(","))))
            }
        }
    }

    fn holds_at(&self, at_us: i64) -> bool {
        match self {
            When::Always => true,
            When::From(from) => at_us >= *from,
            When::Unmapped(_) => false,
        }
    }
}

/// A `price_variants` item: prices a request context changes.
#[derive(Debug)]
struct Variant {
    /// The service tier its context names, or the context as `when.key=value` when it
    /// names none Tollgate has.
    tier: Result<ServiceTier, String>,
    when: When,
    prices: Prices,
}

/// A model as read.
#[derive(Debug)]
struct Model {
    id: String,
    /// The conditional prices in file order (one, unconstrained, for a single price object).
    prices: Vec<(When, Prices)>,
    variants: Vec<Variant>,
}

/// The service tier a variant's context names: batch processing, or OpenAI's `flex` and
/// `priority` tiers. The `default` tier is the standard prices, which a variant does not
/// change for Tollgate.
fn service_tier(when: &Map<String, Value>) -> Result<ServiceTier, String> {
    let pairs: Vec<String> = when
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    match pairs.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["processing=batch"] | ["service_tier=batch"] => Ok(ServiceTier::Batch),
        ["service_tier=flex"] => Ok(ServiceTier::Flex),
        ["service_tier=priority"] => Ok(ServiceTier::Priority),
        _ => Err(format!("when.{}", pairs.join(","))),
    }
}

fn read_model(m: &Value) -> Result<Model, String> {
    let m = m.as_object().ok_or("a model must be an object")?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .ok_or("a model needs an id")?;
    let prices = match m.get("prices") {
        None | Some(Value::Null) => Vec::new(),
        Some(p @ Value::Object(_)) => vec![(When::Always, price::read_prices("prices", p)?)],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let what = format!("prices[{i}]");
                let when = When::read(&what, item.get("constraint"))?;
                let p = item.get("prices").unwrap_or(&Value::Null);
                Ok((when, price::read_prices(&format!("{what}.prices"), p)?))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("prices must be an object or a list".into()),
    };
    let variants = match m.get("price_variants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let what = format!("price_variants[{i}]");
                let when = item
                    .get("when")
                    .and_then(Value::as_object)
                    .ok_or_else(|| format!("{what}.when must be an object"))?;
                Ok(Variant {
                    tier: service_tier(when),
                    when: When::read(&what, item.get("constraint"))?,
                    prices: price::read_prices(
                        &format!("{what}.prices"),
                        item.get("prices").unwrap_or(&Value::Null),
                    )?,
                })
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("price_variants must be a list".into()),
    };
    Ok(Model {
        id,
        prices,
        variants,
    })
}

/// Reads genai-prices' `data.json`, mapping every price Tollgate's model has and reporting
/// the rest.
pub fn parse_genai_prices(
    text: &str,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<GenaiImport, PriceFileError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    let providers = root.as_array().ok_or_else(|| {
        PriceFileError::Syntax("the top level must be a list of providers".into())
    })?;
    let mut import = GenaiImport::default();
    let mut seen = BTreeSet::new();
    let mut index = 0;
    for p in providers {
        let id = p.get("id").and_then(Value::as_str).unwrap_or("");
        let provider = canonical_provider(id);
        if provider.is_empty() {
            return Err(PriceFileError::Syntax("every provider needs an id".into()));
        }
        let models = match p.get("models") {
            None | Some(Value::Null) => &Vec::new(),
            Some(Value::Array(models)) => models,
            Some(_) => {
                return Err(PriceFileError::Syntax(format!(
                    "provider {id}: models must be a list"
                )))
            }
        };
        for m in models {
            let name = m.get("id").and_then(Value::as_str).unwrap_or("");
            let model = read_model(m).map_err(|message| PriceFileError::Entry {
                index,
                model: format!("{id}/{name}"),
                message,
            })?;
            index += 1;
            if !seen.insert((provider.clone(), model.id.clone())) {
                // genai-prices finds the first model of an id: a later one is never used.
                import.skipped += 1;
                *import
                    .unmapped
                    .entry("models.id (repeated)".into())
                    .or_insert(0) += 1;
                continue;
            }
            let entries = import_model(&provider, &model, source, tenant_id, &mut import).map_err(
                |message| PriceFileError::Entry {
                    index: index - 1,
                    model: format!("{id}/{name}"),
                    message,
                },
            )?;
            import.entries.extend(entries);
        }
    }
    Ok(import)
}

/// The entries of one model, oldest first; what it cannot map goes to `import.unmapped`.
fn import_model(
    provider: &str,
    model: &Model,
    source: PriceSource,
    tenant_id: Option<&str>,
    import: &mut GenaiImport,
) -> Result<Vec<PriceEntry>, String> {
    // (where it is stated, path): one count per object that states it.
    let mut unmapped: BTreeSet<(String, String)> = BTreeSet::new();
    let unusable = model
        .prices
        .iter()
        .filter(|(when, prices)| !matches!(when, When::Unmapped(_)) && !prices.is_empty())
        .any(|(_, prices)| !prices.keys().any(|k| is_known_key(k)));
    // A price that holds only at some times of day cannot be stated: importing the others
    // would bill every hour at them, so the model is left to the other sources.
    let timed = model
        .prices
        .iter()
        .any(|(when, _)| matches!(when, When::Unmapped(_)));
    if model.prices.is_empty() || unusable || timed {
        // Nothing imported: every price it states goes unmapped.
        for (i, (when, prices)) in model.prices.iter().enumerate() {
            if let When::Unmapped(path) = when {
                unmapped.insert((format!("p{i}"), format!("prices.{path}")));
            }
            for key in prices.keys() {
                unmapped.insert((format!("p{i}"), format!("prices.{key}")));
            }
        }
        for (i, v) in model.variants.iter().enumerate() {
            for key in v.prices.keys() {
                unmapped.insert((format!("v{i}"), format!("price_variants.prices.{key}")));
            }
        }
        count(import, unmapped);
        import.skipped += 1;
        return Ok(Vec::new());
    }
    for (i, (when, prices)) in model.prices.iter().enumerate() {
        match when {
            When::Unmapped(path) => {
                unmapped.insert((format!("p{i}"), format!("prices.{path}")));
            }
            _ => {
                for key in price::unmapped_keys(prices) {
                    unmapped.insert((format!("p{i}"), format!("prices.{key}")));
                }
            }
        }
    }
    for (i, v) in model.variants.iter().enumerate() {
        if v.prices.is_empty() {
            continue;
        }
        let at = format!("v{i}");
        match (&v.tier, &v.when) {
            (Err(label), _) => {
                unmapped.insert((at, format!("price_variants.{label}")));
            }
            (Ok(_), When::Unmapped(path)) => {
                unmapped.insert((at, format!("price_variants.{path}")));
            }
            (Ok(_), _) => {
                for key in v.prices.keys().filter(|k| !is_token_key(k)) {
                    unmapped.insert((at.clone(), format!("price_variants.prices.{key}")));
                }
            }
        }
    }
    // Every instant a price or variant starts, from the first price on.
    let mut starts: BTreeSet<i64> = [FIRST_PRICE_FROM_US].into();
    for when in model
        .prices
        .iter()
        .map(|(w, _)| w)
        .chain(model.variants.iter().map(|v| &v.when))
    {
        if let When::From(from) = when {
            starts.insert(*from);
        }
    }
    let mut entries: Vec<PriceEntry> = Vec::new();
    for at_us in starts {
        let rates = rates_at(model, at_us, &mut unmapped)?;
        if entries.last().is_some_and(|e| e.rates == rates) {
            continue;
        }
        entries.push(PriceEntry {
            provider: provider.to_string(),
            model: model.id.clone(),
            effective_from_us: at_us,
            currency: Currency::usd(),
            rates,
            source,
            tenant_id: tenant_id.map(str::to_string),
        });
    }
    count(import, unmapped);
    Ok(entries)
}

/// The rates genai-prices applies at `at_us`: the last conditional price whose constraint
/// holds (the first when none does), with the service-tier variants in force over it, each
/// price key from the first variant that states it.
fn rates_at(
    model: &Model,
    at_us: i64,
    unmapped: &mut BTreeSet<(String, String)>,
) -> Result<Rates, String> {
    let chosen = model
        .prices
        .iter()
        .rposition(|(when, _)| when.holds_at(at_us))
        .unwrap_or(0);
    let standard = &model.prices[chosen].1;
    let mut rates = price::standard_rates(standard)?;
    for key in price::unfaithful(&rates, ServiceTier::Standard, standard) {
        unmapped.insert((format!("p{chosen}"), format!("prices.{key}.tiers")));
    }
    for tier in [ServiceTier::Batch, ServiceTier::Flex, ServiceTier::Priority] {
        let mut overrides = Prices::new();
        let mut stated_by: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, v) in model.variants.iter().enumerate() {
            if v.tier != Ok(tier) || !v.when.holds_at(at_us) {
                continue;
            }
            for (key, amount) in v.prices.iter().filter(|(k, _)| is_token_key(k)) {
                if !overrides.contains_key(key) {
                    overrides.insert(key.clone(), amount.clone());
                    stated_by.insert(key, i);
                }
            }
        }
        if overrides.is_empty() {
            continue;
        }
        let merged = price::merge(standard, &overrides);
        rates
            .service_tiers
            .insert(tier, ServicePrice::Rates(price::token_rates(&merged, 0)));
        for key in price::unfaithful(&rates, tier, &merged) {
            let at = stated_by
                .get(key)
                .map_or(format!("p{chosen}"), |i| format!("v{i}"));
            unmapped.insert((at, format!("price_variants.prices.{key}.tiers")));
        }
    }
    Ok(rates)
}

fn count(import: &mut GenaiImport, unmapped: BTreeSet<(String, String)>) {
    for (_, path) in unmapped {
        *import.unmapped.entry(path).or_insert(0) += 1;
    }
}
