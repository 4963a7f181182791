//! Import of LiteLLM's `model_prices_and_context_window.json`.
//!
//! That file prices per token as JSON floats; each float is read through its shortest decimal
//! form (`2.5e-06` → `0.0000025`), then scaled to per million tokens exactly.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{canonical_provider, PriceEntry, PriceFileError, PriceSource, Rates};
use crate::money::Currency;

/// Reads the LiteLLM price JSON. Entries without both an input and an output token price
/// (image, audio, embedding-only models, the `sample_spec` entry) are skipped and counted.
pub fn parse_litellm(
    text: &str,
    effective_from_us: i64,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<(Vec<PriceEntry>, usize), PriceFileError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    let map = root.as_object().ok_or_else(|| {
        PriceFileError::Syntax("the top level must be an object of models".into())
    })?;
    let mut entries = Vec::new();
    let mut skipped = 0;
    for (index, (key, spec)) in map.iter().enumerate() {
        if key == "sample_spec" {
            continue;
        }
        let per_million = |field: &str| -> Result<Option<Decimal>, PriceFileError> {
            match spec.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let f = v
                        .as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .ok_or_else(|| PriceFileError::Entry {
                            index,
                            model: key.clone(),
                            message: format!("{field} must be a non-negative number"),
                        })?;
                    let text = format!("{f}");
                    let d = Decimal::from_str(&text)
                        .or_else(|_| Decimal::from_scientific(&text))
                        .map_err(|_| PriceFileError::Entry {
                            index,
                            model: key.clone(),
                            message: format!("{field} {text} is out of range"),
                        })?;
                    Ok(Some((d * Decimal::from(1_000_000)).normalize()))
                }
            }
        };
        let (Some(input), Some(output)) = (
            per_million("input_cost_per_token")?,
            per_million("output_cost_per_token")?,
        ) else {
            skipped += 1;
            continue;
        };
        // Long-context tiers: `input_cost_per_token_above_200k_tokens` and its siblings. A
        // rate the tier leaves out is the base one (the provider does not change it).
        let mut thresholds: Vec<i64> = spec
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .filter_map(|k| {
                k.strip_prefix("input_cost_per_token_above_")?
                    .strip_suffix("k_tokens")?
                    .parse::<i64>()
                    .ok()
            })
            .collect();
        thresholds.sort_unstable();
        let mut tiers = Vec::with_capacity(thresholds.len());
        for k in thresholds {
            let above = |base: &str| per_million(&format!("{base}_above_{k}k_tokens"));
            let above_input_tokens =
                k.checked_mul(1000)
                    .filter(|a| *a > 0)
                    .ok_or_else(|| PriceFileError::Entry {
                        index,
                        model: key.clone(),
                        message: format!("the long-context threshold {k}k tokens is out of range"),
                    })?;
            tiers.push(super::Tier {
                above_input_tokens,
                input: above("input_cost_per_token")?.unwrap_or(input),
                output: above("output_cost_per_token")?.unwrap_or(output),
                cached_input: above("cache_read_input_token_cost")?
                    .or(per_million("cache_read_input_token_cost")?),
                cache_write: above("cache_creation_input_token_cost")?
                    .or(per_million("cache_creation_input_token_cost")?),
                reasoning: per_million("output_cost_per_reasoning_token")?,
            });
        }
        let provider_field = spec
            .get("litellm_provider")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (provider, model) = split_key(key, provider_field);
        if provider.is_empty() {
            skipped += 1;
            continue;
        }
        entries.push(PriceEntry {
            provider,
            model,
            effective_from_us,
            currency: Currency::usd(),
            rates: Rates {
                input,
                output,
                cached_input: per_million("cache_read_input_token_cost")?,
                cache_write: per_million("cache_creation_input_token_cost")?,
                reasoning: per_million("output_cost_per_reasoning_token")?,
                per_call: None,
                per_unit: None,
                tiers,
            },
            source,
            tenant_id: tenant_id.map(str::to_string),
        });
    }
    Ok((entries, skipped))
}

/// The price fields of a LiteLLM file that Tollgate does not map, with how many entries set
/// each (a non-null, non-zero value): prices an import leaves out, so that none is dropped
/// without a word. Every field naming a cost or a price counts, except the token rates and
/// their long-context `*_above_Nk_tokens` forms, which are imported.
pub fn unmapped_litellm_fields(
    text: &str,
) -> Result<std::collections::BTreeMap<String, usize>, PriceFileError> {
    const MAPPED: [&str; 5] = [
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
    ];
    let root: Value =
        serde_json::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    let mut unmapped = std::collections::BTreeMap::new();
    for (key, spec) in root.as_object().into_iter().flatten() {
        if key == "sample_spec" {
            continue;
        }
        for (field, value) in spec.as_object().into_iter().flatten() {
            let priced = field.contains("cost") || field.contains("price");
            let set = !(value.is_null() || value.as_f64() == Some(0.0));
            let base = field
                .split_once("_above_")
                .filter(|(_, rest)| {
                    rest.strip_suffix("k_tokens")
                        .is_some_and(|n| n.parse::<i64>().is_ok())
                })
                .map_or(field.as_str(), |(base, _)| base);
            if priced && set && !MAPPED.contains(&base) {
                *unmapped.entry(field.clone()).or_insert(0) += 1;
            }
        }
    }
    Ok(unmapped)
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

    const SAMPLE: &str = r#"{
      "sample_spec": {"max_tokens": "set to max_output_tokens if provider specifies it", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
      "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "litellm_provider": "openai", "mode": "chat"},
      "claude-sonnet-4-20250514": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07, "litellm_provider": "anthropic"},
      "gemini/gemini-2.5-flash": {"input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06, "litellm_provider": "gemini"},
      "dall-e-3": {"output_cost_per_pixel": 0.0, "litellm_provider": "openai", "mode": "image_generation"}
    }"#;

    #[test]
    fn litellm_prices_become_exact_per_million_rates() {
        let (entries, skipped) =
            parse_litellm(SAMPLE, 0, PriceSource::Database, None).expect("valid");
        assert_eq!(skipped, 1, "dall-e-3 has no token prices");
        let find = |m: &str| entries.iter().find(|e| e.model == m).expect(m);
        let gpt = find("gpt-4o");
        assert_eq!(gpt.rates.input.to_string(), "2.5");
        assert_eq!(gpt.rates.output.to_string(), "10");
        assert_eq!(
            gpt.rates.cached_input.map(|d| d.to_string()).as_deref(),
            Some("1.25")
        );
        let claude = find("claude-sonnet-4-20250514");
        assert_eq!(
            claude.rates.cached_input.map(|d| d.to_string()).as_deref(),
            Some("0.3")
        );
        assert_eq!(
            claude.rates.cache_write.map(|d| d.to_string()).as_deref(),
            Some("3.75")
        );
        let gemini = find("gemini-2.5-flash");
        assert_eq!(gemini.provider, "google");
        assert!(entries.iter().all(|e| e.model != "sample_spec"));
    }

    #[test]
    fn long_context_fields_become_a_tier_that_keeps_what_it_does_not_change() {
        let text = r#"{"claude-sonnet-4-5": {"litellm_provider": "anthropic",
            "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
            "cache_read_input_token_cost": 3e-07,
            "input_cost_per_token_above_200k_tokens": 6e-06,
            "output_cost_per_token_above_200k_tokens": 2.25e-05}}"#;
        let (entries, _) = parse_litellm(text, 0, PriceSource::Database, None).expect("valid");
        let tiers = &entries[0].rates.tiers;
        assert_eq!(tiers.len(), 1);
        assert_eq!(tiers[0].above_input_tokens, 200_000);
        assert_eq!(tiers[0].input, Decimal::from(6));
        assert_eq!(tiers[0].output, Decimal::from_str("22.5").expect("d"));
        assert_eq!(
            tiers[0].cached_input,
            Some(Decimal::from_str("0.3").expect("d")),
            "no long-context cache price: the base one"
        );
    }

    #[test]
    fn price_fields_it_does_not_map_are_reported_by_name_and_count() {
        let text = r#"{"sample_spec": {"input_cost_per_audio_token": 1},
            "a": {"litellm_provider": "openai", "input_cost_per_token": 1e-06,
                  "output_cost_per_token": 2e-06, "input_cost_per_audio_token": 4e-05,
                  "input_cost_per_token_above_200k_tokens": 2e-06,
                  "cache_creation_input_token_cost_above_1hr": 6e-06, "max_tokens": 10},
            "b": {"litellm_provider": "openai", "output_cost_per_image": 0.04,
                  "input_cost_per_audio_token": 0, "search_context_cost_per_query": null}}"#;
        let unmapped = unmapped_litellm_fields(text).expect("valid");
        let names: Vec<(&str, usize)> = unmapped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            names,
            [
                ("cache_creation_input_token_cost_above_1hr", 1),
                ("input_cost_per_audio_token", 1),
                ("output_cost_per_image", 1)
            ]
        );
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
}
