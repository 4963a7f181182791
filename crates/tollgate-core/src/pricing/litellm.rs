//! Import of LiteLLM's `model_prices_and_context_window.json`.
//!
//! That file prices per token as JSON floats; each float is read through its shortest decimal
//! form (`2.5e-06` → `0.0000025`), then scaled to per million tokens exactly.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{
    canonical_provider, PriceEntry, PriceFileError, PriceSource, Rates, ServicePrice, Tier,
    TokenRates,
};
use crate::money::Currency;
use crate::usage::{ServiceTier, TokenClass};

/// What an import of the LiteLLM file read.
#[derive(Debug, Clone, Default)]
pub struct LiteLlmImport {
    /// The prices.
    pub entries: Vec<PriceEntry>,
    /// Entries with no price Tollgate can use (no token, request or unit price, or no
    /// provider).
    pub skipped: usize,
    /// Price fields it could not map, with how many entries set each (a non-null, non-zero
    /// value), so that none is dropped without a word.
    pub unmapped: BTreeMap<String, usize>,
}

/// The LiteLLM field of each token class's rate.
const CLASS_FIELDS: [(&str, TokenClass); 11] = [
    ("input_cost_per_token", TokenClass::Input),
    ("output_cost_per_token", TokenClass::Output),
    ("cache_read_input_token_cost", TokenClass::CachedInput),
    ("cache_creation_input_token_cost", TokenClass::CacheWrite),
    (
        "cache_creation_input_token_cost_above_1hr",
        TokenClass::CacheWrite1h,
    ),
    ("output_cost_per_reasoning_token", TokenClass::Reasoning),
    ("input_cost_per_audio_token", TokenClass::AudioInput),
    ("output_cost_per_audio_token", TokenClass::AudioOutput),
    ("input_cost_per_image_token", TokenClass::ImageInput),
    ("output_cost_per_image_token", TokenClass::ImageOutput),
    ("input_cost_per_video_token", TokenClass::VideoInput),
];

/// The LiteLLM fields priced per unit, with the quantity Tollgate names them by.
const UNIT_FIELDS: [(&str, &str); 13] = [
    ("output_cost_per_image", "image"),
    ("input_cost_per_image", "input_image"),
    ("input_cost_per_audio_per_second", "audio_second"),
    ("input_cost_per_second", "input_second"),
    ("output_cost_per_second", "output_second"),
    ("output_cost_per_video_per_second", "video_second"),
    ("input_cost_per_video_per_second", "input_video_second"),
    ("input_cost_per_query", "query"),
    ("google_maps_grounding_cost_per_query", "maps_query"),
    ("ocr_cost_per_page", "page"),
    ("annotation_cost_per_page", "annotation_page"),
    (
        "code_interpreter_cost_per_session",
        "code_interpreter_session",
    ),
    ("input_cost_per_character", "input_character"),
];

/// Rates per million tokens by class, as a file states them.
type ClassRates = BTreeMap<TokenClass, Decimal>;

/// A field name taken apart: `input_cost_per_token_above_200k_tokens_batches` is the
/// input rate, above 200k tokens, of batch service.
struct Field<'a> {
    base: &'a str,
    above_k: Option<i64>,
    service: Option<&'a str>,
}

fn split_field(name: &str) -> Field<'_> {
    let mut rest = name;
    let mut service = None;
    for s in [
        "batches",
        "flex",
        "priority",
        "ultrafast",
        "decisions",
        "balanced",
    ] {
        if let Some(r) = rest.strip_suffix(s).and_then(|r| r.strip_suffix('_')) {
            service = Some(s);
            rest = r;
            break;
        }
    }
    let mut above_k = None;
    if let Some((base, tail)) = rest.rsplit_once("_above_") {
        if let Some(k) = tail
            .strip_suffix("k_tokens")
            .and_then(|k| k.parse::<i64>().ok())
        {
            above_k = Some(k);
            rest = base;
        }
    }
    Field {
        base: rest,
        above_k,
        service,
    }
}

/// Whether a field names a price.
fn is_price(field: &str) -> bool {
    field.contains("cost") || field.contains("price") || field == "tiered_pricing"
}

/// Whether a value sets a price: not null, not zero, not an empty object.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Object(o) => o.values().any(is_set),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// A LiteLLM per-token (or per-unit) float read through its shortest decimal text.
fn decimal(key: &str, field: &str, v: &Value) -> Result<Decimal, String> {
    let f = v
        .as_f64()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| format!("{key}: {field} must be a non-negative number"))?;
    let text = format!("{f}");
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{key}: {field} {text} is out of range"))
}

/// A per-token price as a rate per million tokens; out of range when it would exceed what a
/// price can be (a billion per million tokens).
fn per_million(d: Decimal) -> Result<Decimal, String> {
    d.checked_mul(Decimal::from(1_000_000))
        .filter(|r| *r <= Decimal::from(super::MAX_RATE))
        .map(|r| r.normalize())
        .ok_or_else(|| format!("the price {d} per token is out of range"))
}

/// Reads the LiteLLM price JSON, mapping every price field Tollgate's model has and
/// reporting the rest.
pub fn parse_litellm(
    text: &str,
    effective_from_us: i64,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<LiteLlmImport, PriceFileError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    let map = root.as_object().ok_or_else(|| {
        PriceFileError::Syntax("the top level must be an object of models".into())
    })?;
    let mut import = LiteLlmImport::default();
    for (index, (key, spec)) in map.iter().enumerate() {
        if key == "sample_spec" {
            continue;
        }
        let Some(spec) = spec.as_object() else {
            import.skipped += 1;
            continue;
        };
        let err = |message: String| PriceFileError::Entry {
            index,
            model: key.clone(),
            message,
        };
        let mut unmapped = Vec::new();
        let rates = entry_rates(key, spec, &mut unmapped).map_err(err)?;
        let provider_field = spec
            .get("litellm_provider")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (provider, model) = split_key(key, provider_field);
        match rates {
            Some(rates) if !provider.is_empty() => {
                for field in unmapped {
                    *import.unmapped.entry(field).or_insert(0) += 1;
                }
                import.entries.push(PriceEntry {
                    provider,
                    model,
                    effective_from_us,
                    currency: Currency::usd(),
                    rates,
                    source,
                    tenant_id: tenant_id.map(str::to_string),
                });
            }
            _ => {
                // Nothing imported: every price it sets goes unmapped.
                for (field, value) in spec {
                    if is_price(field) && is_set(value) {
                        *import.unmapped.entry(field.clone()).or_insert(0) += 1;
                    }
                }
                import.skipped += 1;
            }
        }
    }
    one_entry_per_model(&mut import);
    Ok(import)
}

/// What `unmapped` counts entries under that name a model another entry also names, with
/// other prices: the file says two things of one model, and one of them is not imported.
pub const DUPLICATE_ENTRY: &str = "(an entry naming the same model as another, with other prices)";

/// LiteLLM names some models twice (`deepseek-chat` and `deepseek/deepseek-chat`). Equal
/// prices are one entry; different ones keep the entry stating the most prices (the first
/// of equals), and the others are reported under [`DUPLICATE_ENTRY`].
fn one_entry_per_model(import: &mut LiteLlmImport) {
    let stated = |r: &Rates| {
        r.tokens.own_rates().count()
            + r.unit_prices.len()
            + r.tiers.len()
            + r.service_tiers.len()
            + usize::from(r.per_call.is_some())
    };
    let mut kept: Vec<PriceEntry> = Vec::with_capacity(import.entries.len());
    for e in std::mem::take(&mut import.entries) {
        let Some(i) = kept
            .iter()
            .position(|k| k.provider == e.provider && k.model == e.model)
        else {
            kept.push(e);
            continue;
        };
        if kept[i].rates != e.rates {
            *import.unmapped.entry(DUPLICATE_ENTRY.into()).or_insert(0) += 1;
            if stated(&e.rates) > stated(&kept[i].rates) {
                kept[i] = e;
            }
        }
    }
    import.entries = kept;
}

/// The rates of one entry, or `None` when it sets no price Tollgate can use. Price fields
/// not mapped are pushed to `unmapped`.
fn entry_rates(
    key: &str,
    spec: &Map<String, Value>,
    unmapped: &mut Vec<String>,
) -> Result<Option<Rates>, String> {
    let class_of = |base: &str| {
        CLASS_FIELDS
            .iter()
            .find(|(f, _)| *f == base)
            .map(|(_, c)| *c)
    };
    // Token rates per (threshold, service), per million tokens.
    let mut token: BTreeMap<(Option<i64>, Option<&str>), ClassRates> = BTreeMap::new();
    let mut rates = Rates::default();
    let mut late: Vec<&str> = Vec::new();
    let mut ranges: Vec<(i64, ClassRates)> = Vec::new();
    for (field, value) in spec {
        if !is_price(field) || value.is_null() {
            continue;
        }
        let f = split_field(field);
        if let Some(class) = class_of(f.base) {
            // A token rate of 0 is a price (an embedding model's output): kept, not dropped.
            match f.service {
                Some(_) if !is_set(value) => {}
                None | Some("batches" | "flex" | "priority") => {
                    let d = per_million(decimal(key, field, value)?)?;
                    token
                        .entry((f.above_k, f.service))
                        .or_default()
                        .insert(class, d);
                }
                Some(_) => unmapped.push(field.clone()),
            }
            if f.above_k.is_some() && f.service.is_some() && is_set(value) {
                late.push(field);
            }
            continue;
        }
        if !is_set(value) {
            continue;
        }
        if f.above_k.is_some() || f.service.is_some() {
            unmapped.push(field.clone());
            continue;
        }
        match field.as_str() {
            // DeepSeek's name for the cached-read rate: the same class, so a second, different
            // figure for it cannot be kept and is reported.
            "input_cost_per_token_cache_hit" => {
                let d = per_million(decimal(key, field, value)?)?;
                let stated = spec
                    .get("cache_read_input_token_cost")
                    .filter(|v| is_set(v))
                    .map(|v| per_million(decimal(key, "cache_read_input_token_cost", v)?))
                    .transpose()?;
                match stated {
                    Some(other) if other != d => unmapped.push(field.clone()),
                    _ => {
                        token
                            .entry((None, None))
                            .or_default()
                            .insert(TokenClass::CachedInput, d);
                    }
                }
            }
            "input_cost_per_request" => rates.per_call = Some(decimal(key, field, value)?),
            "search_context_cost_per_query" => {
                let sizes = value.as_object().cloned().unwrap_or_default();
                for (size, v) in &sizes {
                    let Some(level) = size.strip_prefix("search_context_size_") else {
                        unmapped.push(format!("{field}.{size}"));
                        continue;
                    };
                    let d = decimal(key, &format!("{field}.{size}"), v)?;
                    rates.unit_prices.insert(format!("web_search:{level}"), d);
                }
                // A search without a stated context size is billed at the default, medium.
                if let Some(medium) = rates.unit_prices.get("web_search:medium").copied() {
                    rates.unit_prices.insert("web_search".into(), medium);
                }
            }
            "tiered_pricing" => ranges = tiered(key, value, unmapped)?,
            other => {
                let unit = UNIT_FIELDS
                    .iter()
                    .find(|(f, _)| *f == other)
                    .map(|(_, q)| q.to_string());
                let sized = ["output_cost_per_image_", "output_cost_per_second_"]
                    .iter()
                    .find_map(|p| {
                        let size = other.strip_prefix(p)?.to_ascii_lowercase();
                        let q = if p.contains("image") {
                            "image"
                        } else {
                            "output_second"
                        };
                        Some(format!("{q}:{size}"))
                    });
                match unit.or(sized) {
                    Some(q) if super::check_quantity_name(&q).is_ok() => {
                        rates.unit_prices.insert(q, decimal(key, field, value)?);
                    }
                    _ => unmapped.push(field.clone()),
                }
            }
        }
    }
    let mut standard = token.remove(&(None, None)).unwrap_or_default();
    // `tiered_pricing`: the range from 0 is the standard rates (a rate the entry also states
    // at the top level must agree), each other range a tier above its lower bound.
    let mut range_tiers = Vec::new();
    for (lower, classes) in ranges {
        if lower > 0 {
            range_tiers.push((lower, classes));
            continue;
        }
        for (class, d) in classes {
            match standard.get(&class) {
                Some(stated) if *stated != d => unmapped.push("tiered_pricing".into()),
                _ => {
                    standard.insert(class, d);
                }
            }
        }
    }
    let (input, output) = match (
        standard.get(&TokenClass::Input).copied(),
        standard.get(&TokenClass::Output).copied(),
    ) {
        (Some(i), Some(o)) => (i, o),
        // Priced per request or per unit only (image generation, transcription by the
        // second): the provider bills no tokens.
        (None, None) if rates.per_call.is_some() || !rates.unit_prices.is_empty() => {
            (Decimal::ZERO, Decimal::ZERO)
        }
        (Some(i), None) if rates.per_call.is_some() || !rates.unit_prices.is_empty() => {
            (i, Decimal::ZERO)
        }
        _ => return Ok(None),
    };
    let build = |classes: &BTreeMap<TokenClass, Decimal>, input: Decimal, output: Decimal| {
        let mut r = TokenRates::new(
            classes.get(&TokenClass::Input).copied().unwrap_or(input),
            classes.get(&TokenClass::Output).copied().unwrap_or(output),
        );
        for (class, d) in classes {
            if let Some(slot) = r.slot(*class) {
                *slot = Some(*d);
            }
        }
        r
    };
    rates.tokens = build(&standard, input, output);
    // Long-context tiers: a rate the tier leaves out is the standard one (the provider does
    // not change it).
    for ((above_k, service), classes) in &token {
        let (Some(k), None) = (above_k, service) else {
            continue;
        };
        let above_input_tokens = k
            .checked_mul(1000)
            .filter(|a| *a > 0)
            .ok_or_else(|| format!("the long-context threshold {k}k tokens is out of range"))?;
        let tier = overlay(&rates.tokens, classes);
        rates.tiers.push(Tier {
            above_input_tokens,
            rates: tier,
        });
    }
    for (lower, classes) in range_tiers {
        let tier = overlay(&rates.tokens, &classes);
        rates.tiers.push(Tier {
            above_input_tokens: lower,
            rates: tier,
        });
    }
    rates.tiers.sort_by_key(|t| t.above_input_tokens);
    rates.tiers.dedup_by_key(|t| t.above_input_tokens);
    for (name, tier) in [
        ("batches", ServiceTier::Batch),
        ("flex", ServiceTier::Flex),
        ("priority", ServiceTier::Priority),
    ] {
        if let Some(classes) = token.get(&(None, Some(name))) {
            let r = build(classes, rates.tokens.input, rates.tokens.output);
            rates.service_tiers.insert(tier, ServicePrice::Rates(r));
        }
    }
    // A long-context rate of a service tier is what the model derives (the long-context
    // rate scaled as the service scales the standard one) or it is reported.
    for field in late {
        let f = split_field(field);
        let (Some(k), Some(service)) = (f.above_k, f.service) else {
            continue;
        };
        let tier = match service {
            "batches" => ServiceTier::Batch,
            "flex" => ServiceTier::Flex,
            _ => ServiceTier::Priority,
        };
        let stated = per_million(decimal(key, field, &spec[field])?)?;
        let class = class_of(f.base).unwrap_or(TokenClass::Input);
        let derived = rates.rate(class, k.saturating_mul(1000).saturating_add(1), tier);
        if derived.map(|d| d.normalize()) != Some(stated) {
            unmapped.push(field.to_string());
        }
    }
    Ok(Some(rates))
}

/// `standard` with the rates of `classes` in place of its own: a tier's rates, a rate the tier
/// leaves out being the standard one (the provider does not change it).
fn overlay(standard: &TokenRates, classes: &ClassRates) -> TokenRates {
    let mut rates = standard.clone();
    for (class, d) in classes {
        match rates.slot(*class) {
            Some(slot) => *slot = Some(*d),
            None if *class == TokenClass::Input => rates.input = *d,
            None => rates.output = *d,
        }
    }
    rates
}

/// `tiered_pricing`: `[{"input_cost_per_token": .., "output_cost_per_token": ..,
/// "range": [0, 256000]}, ...]`, a request priced entirely at the range its prompt falls in.
/// Each range's lower bound with its token rates (any class LiteLLM names at the top level);
/// a range or a price in it that cannot be read is reported.
fn tiered(
    key: &str,
    value: &Value,
    unmapped: &mut Vec<String>,
) -> Result<Vec<(i64, ClassRates)>, String> {
    let Some(items) = value.as_array() else {
        unmapped.push("tiered_pricing".into());
        return Ok(Vec::new());
    };
    let mut ranges = Vec::new();
    for item in items {
        let lower = item
            .get("range")
            .and_then(|r| r.get(0))
            .and_then(Value::as_f64)
            .filter(|l| l.is_finite() && *l >= 0.0 && l.fract() == 0.0 && *l < 1e15);
        let (Some(lower), Some(fields)) = (lower, item.as_object()) else {
            unmapped.push("tiered_pricing".into());
            continue;
        };
        let mut classes = ClassRates::new();
        for (field, v) in fields {
            if field == "range" || v.is_null() {
                continue;
            }
            match CLASS_FIELDS.iter().find(|(f, _)| f == field) {
                Some((_, class)) => {
                    let d = decimal(key, &format!("tiered_pricing.{field}"), v)?;
                    classes.insert(*class, per_million(d)?);
                }
                None if is_set(v) => unmapped.push(format!("tiered_pricing.{field}")),
                None => {}
            }
        }
        ranges.push((lower as i64, classes));
    }
    Ok(ranges)
}

/// LiteLLM keys are `model` or `provider/model`; its provider names map to ours
/// (`gemini` → `google`).
fn split_key(key: &str, provider_field: &str) -> (String, String) {
    let key = key.trim().to_ascii_lowercase();
    let provider = canonical_provider(provider_field);
    let model = match key.split_once('/') {
        Some((prefix, rest))
            if canonical_provider(prefix) == provider || prefix == provider_field =>
        {
            rest.to_string()
        }
        _ => key.clone(),
    };
    (provider, model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::TokenRates;

    const SAMPLE: &str = r#"{
      "sample_spec": {"max_tokens": "set to max_output_tokens if provider specifies it", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
      "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "litellm_provider": "openai", "mode": "chat"},
      "claude-sonnet-4-20250514": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07, "litellm_provider": "anthropic"},
      "gemini/gemini-2.5-flash": {"input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06, "litellm_provider": "gemini"},
      "dall-e-3": {"output_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"}
    }"#;

    #[test]
    fn litellm_prices_become_exact_per_million_rates() {
        let import = parse_litellm(SAMPLE, 0, PriceSource::Database, None).expect("valid");
        assert_eq!(import.skipped, 0);
        let find = |m: &str| import.entries.iter().find(|e| e.model == m).expect(m);
        let gpt = find("gpt-4o");
        assert_eq!(gpt.rates.tokens.input.to_string(), "2.5");
        assert_eq!(gpt.rates.tokens.output.to_string(), "10");
        assert_eq!(
            gpt.rates
                .tokens
                .cached_input
                .map(|d| d.to_string())
                .as_deref(),
            Some("1.25")
        );
        let claude = find("claude-sonnet-4-20250514");
        assert_eq!(
            claude
                .rates
                .tokens
                .cached_input
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.3")
        );
        assert_eq!(
            claude
                .rates
                .tokens
                .cache_write
                .map(|d| d.to_string())
                .as_deref(),
            Some("3.75")
        );
        let gemini = find("gemini-2.5-flash");
        assert_eq!(gemini.provider, "google");
        let dalle = find("dall-e-3");
        assert_eq!(
            dalle
                .rates
                .unit_prices
                .get("image")
                .map(|d| d.to_string())
                .as_deref(),
            Some("0.04")
        );
        assert!(import.entries.iter().all(|e| e.model != "sample_spec"));
    }

    #[test]
    fn long_context_fields_become_a_tier_that_keeps_what_it_does_not_change() {
        let text = r#"{"claude-sonnet-4-5": {"litellm_provider": "anthropic",
            "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
            "cache_read_input_token_cost": 3e-07,
            "input_cost_per_token_above_200k_tokens": 6e-06,
            "output_cost_per_token_above_200k_tokens": 2.25e-05}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        let tiers = &import.entries[0].rates.tiers;
        assert_eq!(tiers.len(), 1);
        assert_eq!(tiers[0].above_input_tokens, 200_000);
        assert_eq!(tiers[0].rates.input, Decimal::from(6));
        assert_eq!(tiers[0].rates.output, Decimal::from_str("22.5").expect("d"));
        assert_eq!(
            tiers[0].rates.cached_input,
            Some(Decimal::from_str("0.3").expect("d")),
            "no long-context cache price: the base one"
        );
        assert!(import.unmapped.is_empty(), "{:?}", import.unmapped);
    }

    #[test]
    fn media_cache_durations_service_tiers_and_unit_prices_are_all_mapped() {
        let text = r#"{"gpt-x": {"litellm_provider": "openai",
            "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-07,
            "cache_creation_input_token_cost_above_1hr": 2.5e-06,
            "input_cost_per_audio_token": 3.2e-05, "output_cost_per_audio_token": 6.4e-05,
            "input_cost_per_image_token": 1e-05, "output_cost_per_image_token": 4e-05,
            "input_cost_per_video_token": 2e-06, "output_cost_per_reasoning_token": 1e-05,
            "input_cost_per_token_batches": 6.25e-07, "output_cost_per_token_batches": 5e-06,
            "input_cost_per_token_priority": 2.5e-06, "output_cost_per_token_priority": 2e-05,
            "cache_read_input_token_cost_flex": 6.25e-08,
            "input_cost_per_token_flex": 6.25e-07, "output_cost_per_token_flex": 5e-06,
            "input_cost_per_token_above_272k_tokens": 2.5e-06,
            "output_cost_per_token_above_272k_tokens": 1.5e-05,
            "input_cost_per_token_above_272k_tokens_batches": 1.25e-06,
            "output_cost_per_token_above_272k_tokens_priority": 9e-05,
            "input_cost_per_request": 0.005, "output_cost_per_image_1024": 0.02,
            "search_context_cost_per_query": {"search_context_size_low": 0.025,
                "search_context_size_medium": 0.0275, "search_context_size_high": 0.03},
            "input_cost_per_token_ultrafast": 5e-06, "input_cost_per_pixel": 1e-08}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        let r = &import.entries[0].rates;
        let s = |d: Option<Decimal>| d.map(|d| d.to_string());
        assert_eq!(s(r.tokens.cache_write_1h).as_deref(), Some("2.5"));
        assert_eq!(s(r.tokens.audio_input).as_deref(), Some("32"));
        assert_eq!(s(r.tokens.audio_output).as_deref(), Some("64"));
        assert_eq!(s(r.tokens.image_input).as_deref(), Some("10"));
        assert_eq!(s(r.tokens.image_output).as_deref(), Some("40"));
        assert_eq!(s(r.tokens.video_input).as_deref(), Some("2"));
        assert_eq!(s(r.tokens.reasoning).as_deref(), Some("10"));
        assert_eq!(s(r.per_call).as_deref(), Some("0.005"));
        assert_eq!(
            s(r.unit_prices.get("image:1024").copied()).as_deref(),
            Some("0.02")
        );
        assert_eq!(
            s(r.unit_prices.get("web_search").copied()).as_deref(),
            Some("0.0275")
        );
        assert_eq!(
            s(r.unit_prices.get("web_search:high").copied()).as_deref(),
            Some("0.03")
        );
        assert_eq!(r.service_tiers.len(), 3);
        let Some(ServicePrice::Rates(flex)) = r.service_tiers.get(&ServiceTier::Flex) else {
            panic!("flex rates")
        };
        assert_eq!(s(flex.cached_input).as_deref(), Some("0.0625"));
        assert_eq!(r.tiers[0].above_input_tokens, 272_000);
        // The batch long-context rate is the derived one (2.5 × 0.5); the priority one is
        // not (15 × 2 = 30, not 90), so it is reported; ultrafast and per-pixel prices have
        // no place in the model.
        let names: Vec<&str> = import.unmapped.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "input_cost_per_pixel",
                "input_cost_per_token_ultrafast",
                "output_cost_per_token_above_272k_tokens_priority"
            ]
        );
    }

    #[test]
    fn tiered_pricing_ranges_become_whole_request_tiers() {
        let text = r#"{"dashscope/qwen-flash": {"litellm_provider": "dashscope",
            "tiered_pricing": [
              {"input_cost_per_token": 5e-08, "output_cost_per_token": 4e-07, "range": [0, 256000.0]},
              {"input_cost_per_token": 2.5e-07, "output_cost_per_token": 2e-06, "range": [256000.0, 1000000.0]}]}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        let e = &import.entries[0];
        assert_eq!(
            (e.provider.as_str(), e.model.as_str()),
            ("dashscope", "qwen-flash")
        );
        assert_eq!(e.rates.tokens.input.to_string(), "0.05");
        assert_eq!(e.rates.tiers[0].above_input_tokens, 256_000);
        assert_eq!(e.rates.tiers[0].rates.output.to_string(), "2");
        assert!(import.unmapped.is_empty(), "{:?}", import.unmapped);
    }

    #[test]
    fn a_model_named_twice_is_imported_once_and_a_disagreement_reported() {
        let text = r#"{"deepseek-chat": {"litellm_provider": "deepseek",
              "input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07},
            "deepseek/deepseek-chat": {"litellm_provider": "deepseek",
              "input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07,
              "cache_read_input_token_cost": 2.8e-08},
            "gemini-exp-1206": {"litellm_provider": "gemini",
              "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            "gemini/gemini-exp-1206": {"litellm_provider": "gemini",
              "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        assert_eq!(import.entries.len(), 2);
        let chat = import
            .entries
            .iter()
            .find(|e| e.model == "deepseek-chat")
            .expect("one");
        assert!(
            chat.rates.tokens.cached_input.is_some(),
            "the fuller entry is kept"
        );
        assert_eq!(
            import.unmapped.get(DUPLICATE_ENTRY),
            Some(&1),
            "equal prices are no disagreement"
        );
    }

    #[test]
    fn a_zero_token_rate_is_a_price_not_a_missing_one() {
        let text = r#"{"text-embedding-3-small": {"litellm_provider": "openai",
            "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
            "perplexity/pplx-70b-online": {"litellm_provider": "perplexity",
            "input_cost_per_token": 0, "output_cost_per_token": 2.8e-06,
            "input_cost_per_request": 0.005}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        assert_eq!(import.skipped, 0, "{:?}", import.entries);
        let embed = &import.entries[1].rates;
        assert_eq!(embed.tokens.input.to_string(), "0.02");
        assert_eq!(embed.tokens.output, Decimal::ZERO);
        let pplx = &import.entries[0].rates;
        assert_eq!(pplx.tokens.input, Decimal::ZERO);
        assert_eq!(
            pplx.per_call.map(|d| d.to_string()).as_deref(),
            Some("0.005")
        );
    }

    #[test]
    fn every_rate_of_a_tiered_range_is_kept_and_the_rest_reported() {
        let text = r#"{"dashscope/qwen-plus": {"litellm_provider": "dashscope",
            "tiered_pricing": [
              {"range": [0, 256000], "input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06,
               "output_cost_per_reasoning_token": 4e-06, "cache_read_input_token_cost": 8e-08},
              {"range": [256000, 1000000], "input_cost_per_token": 1.2e-06,
               "output_cost_per_token": 3.6e-06, "output_cost_per_reasoning_token": 1.2e-05,
               "cache_read_input_token_cost": null, "output_cost_per_pixel": 1e-09}]},
            "dashscope/one-range": {"litellm_provider": "dashscope", "tiered_pricing": [
              {"range": [0, 1000000], "input_cost_per_token": 1e-07, "output_cost_per_token": 2e-07}]}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        let one = import
            .entries
            .iter()
            .find(|e| e.model == "one-range")
            .expect("one range");
        assert_eq!(one.rates.tokens.input.to_string(), "0.1");
        let plus = &import
            .entries
            .iter()
            .find(|e| e.model == "qwen-plus")
            .expect("plus")
            .rates;
        let s = |d: Option<Decimal>| d.map(|d| d.to_string());
        assert_eq!(s(plus.tokens.cached_input).as_deref(), Some("0.08"));
        assert_eq!(s(plus.tokens.reasoning).as_deref(), Some("4"));
        assert_eq!(plus.tiers[0].above_input_tokens, 256_000);
        assert_eq!(s(plus.tiers[0].rates.reasoning).as_deref(), Some("12"));
        assert_eq!(
            s(plus.tiers[0].rates.cached_input).as_deref(),
            Some("0.08"),
            "a rate the range leaves out is the standard one"
        );
        assert_eq!(
            import
                .unmapped
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["tiered_pricing.output_cost_per_pixel"]
        );
    }

    #[test]
    fn an_entry_it_cannot_import_reports_every_price_it_sets() {
        let text = r#"{"sample_spec": {"input_cost_per_audio_token": 1},
            "b": {"litellm_provider": "openai", "input_cost_per_pixel": 1e-08,
                  "input_cost_per_audio_token": 0, "search_context_cost_per_query": null}}"#;
        let import = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        assert_eq!(import.skipped, 1);
        let names: Vec<(&str, usize)> = import
            .unmapped
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(names, [("input_cost_per_pixel", 1)]);
    }

    #[test]
    fn a_threshold_out_of_range_is_refused_not_overflowed() {
        let text = r#"{"m": {"litellm_provider": "openai", "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
            "input_cost_per_token_above_9223372036854775807k_tokens": 2e-06}}"#;
        let err = parse_litellm(text, 0, PriceSource::Database, None).expect_err("too large");
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn malformed_litellm_files_are_refused() {
        assert!(parse_litellm("[]", 0, PriceSource::Database, None).is_err());
        assert!(parse_litellm("{", 0, PriceSource::Database, None).is_err());
        let bad = r#"{"m": {"input_cost_per_token": -1, "output_cost_per_token": 1, "litellm_provider": "openai"}}"#;
        assert!(parse_litellm(bad, 0, PriceSource::Database, None).is_err());
    }

    /// Every rate an entry holds, per million tokens or per unit, normalised.
    fn values(e: &PriceEntry) -> Vec<Decimal> {
        fn tokens(all: &mut Vec<Decimal>, t: &TokenRates) {
            all.extend([t.input, t.output]);
            all.extend(t.own_rates().map(|(_, d)| d));
        }
        let r = &e.rates;
        let mut all: Vec<Decimal> = Vec::new();
        tokens(&mut all, &r.tokens);
        for t in &r.tiers {
            tokens(&mut all, &t.rates);
        }
        for p in r.service_tiers.values() {
            match p {
                ServicePrice::Factor(f) => all.push(*f),
                ServicePrice::Rates(t) => tokens(&mut all, t),
            }
        }
        all.extend(r.unit_prices.values().copied());
        all.extend(r.per_call);
        all.into_iter().map(|d| d.normalize()).collect()
    }

    #[test]
    fn every_price_of_a_trimmed_copy_of_the_real_file_is_imported_or_reported() {
        // 62 entries of LiteLLM 1.110.2's file, chosen so that every price field it sets
        // (163 names) is set at least once.
        let text = include_str!("testdata/litellm_sample.json");
        let root: Value = serde_json::from_str(text).expect("json");
        let mut checked = 0;
        for (key, spec) in root.as_object().expect("object") {
            if key == "sample_spec" {
                continue;
            }
            // One entry at a time, so that what is reported is this entry's.
            let alone = serde_json::json!({ key: spec }).to_string();
            let import = parse_litellm(&alone, 0, PriceSource::Database, None).expect(key);
            let entry = import.entries.first();
            for (field, value) in spec.as_object().expect("entry") {
                if !is_price(field) || !is_set(value) {
                    continue;
                }
                checked += 1;
                if import.unmapped.contains_key(field) {
                    continue;
                }
                let entry =
                    entry.unwrap_or_else(|| panic!("{key}: {field} dropped with its entry"));
                let have = values(entry);
                let per_token = field.contains("token");
                let expect = |v: &Value| {
                    let d = decimal(key, field, v).expect("a number");
                    if per_token {
                        per_million(d).expect("in range")
                    } else {
                        d.normalize()
                    }
                };
                let f = split_field(field);
                let found = match (field.as_str(), f.above_k, f.service) {
                    ("search_context_cost_per_query", _, _) => value
                        .as_object()
                        .expect("sizes")
                        .values()
                        .all(|v| have.contains(&expect(v))),
                    ("tiered_pricing", _, _) => value.as_array().expect("ranges").iter().all(|t| {
                        let d = |k: &str| {
                            per_million(decimal(key, k, &t[k]).expect("number")).expect("in range")
                        };
                        have.contains(&d("input_cost_per_token"))
                            && have.contains(&d("output_cost_per_token"))
                    }),
                    // A service tier's long-context rate: the one the model derives.
                    (_, Some(k), Some(service)) => {
                        let tier = match service {
                            "batches" => ServiceTier::Batch,
                            "flex" => ServiceTier::Flex,
                            _ => ServiceTier::Priority,
                        };
                        let class = CLASS_FIELDS
                            .iter()
                            .find(|(name, _)| *name == f.base)
                            .map(|(_, c)| *c)
                            .expect("a token class");
                        entry
                            .rates
                            .rate(class, k * 1000 + 1, tier)
                            .map(|d| d.normalize())
                            == Some(expect(value))
                    }
                    _ => have.contains(&expect(value)),
                };
                assert!(
                    found,
                    "{key}: {field} = {value} is neither imported nor reported"
                );
            }
        }
        assert!(checked > 500, "{checked} prices checked");
    }
}
