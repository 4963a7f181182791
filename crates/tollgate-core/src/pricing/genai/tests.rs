//! The importer against a sample of genai-prices' real data (`testdata/genai_prices_sample.json`,
//! every field shape the whole file has), and against genai-prices' own costs for it
//! (`testdata/genai_prices_sample_costs.json`); `testdata/genai_tool.py` makes both.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::*;
use crate::money::Nanos;
use crate::pricing::{effective_label, parse_price_file, to_price_file, Metered};
use crate::usage::TokenCounts;

const SAMPLE: &str = include_str!("../testdata/genai_prices_sample.json");
const SAMPLE_COSTS: &str = include_str!("../testdata/genai_prices_sample_costs.json");

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn sample() -> GenaiImport {
    parse_genai_prices(SAMPLE, PriceSource::Database, None).expect("the sample parses")
}

/// A model's entries, oldest first.
fn entries<'a>(import: &'a GenaiImport, provider: &str, model: &str) -> Vec<&'a PriceEntry> {
    let found: Vec<&PriceEntry> = import
        .entries
        .iter()
        .filter(|e| e.provider == provider && e.model == model)
        .collect();
    assert!(!found.is_empty(), "no entry for {provider}/{model}");
    found
}

fn labels(entries: &[&PriceEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| effective_label(e.effective_from_us))
        .collect()
}

#[test]
fn token_prices_become_exact_rates_per_million_tokens() {
    let import = sample();
    let haiku = entries(&import, "anthropic", "claude-haiku-4-5")[0];
    assert_eq!(haiku.effective_from_us, FIRST_PRICE_FROM_US);
    assert_eq!(effective_label(FIRST_PRICE_FROM_US), "2000-01-01");
    assert_eq!(haiku.currency, Currency::usd());
    assert_eq!(haiku.source, PriceSource::Database);
    let t = &haiku.rates.tokens;
    assert_eq!((t.input, t.output), (d("1"), d("5")));
    assert_eq!(t.cached_input, Some(d("0.1")));
    assert_eq!(t.cache_write, Some(d("1.25")));
    assert_eq!(t.cache_write_1h, Some(d("2")));
    assert_eq!(haiku.rates.unit_prices.get("web_search"), Some(&d("0.01")));
    assert_eq!(haiku.rates.per_call, None);

    let realtime = &entries(&import, "openai", "gpt-realtime")[0].rates.tokens;
    assert_eq!((realtime.input, realtime.output), (d("4"), d("16")));
    assert_eq!(realtime.audio_input, Some(d("32")));
    assert_eq!(realtime.audio_output, Some(d("64")));
    assert_eq!(realtime.image_input, Some(d("5")));
    let embedding = &entries(&import, "google", "gemini-embedding-2")[0]
        .rates
        .tokens;
    assert_eq!(embedding.video_input, Some(d("12")));
    assert_eq!(
        embedding.output,
        Decimal::ZERO,
        "no output price: nothing billed"
    );
    let research = &entries(&import, "perplexity", "sonar-deep-research")[0]
        .rates
        .tokens;
    assert_eq!(research.reasoning, Some(d("3")));
    let image = &entries(&import, "google", "gemini-3-pro-image-preview")[0]
        .rates
        .tokens;
    assert_eq!(image.image_output, Some(d("120")));
}

#[test]
fn models_are_named_by_their_lower_case_id_under_the_canonical_provider() {
    let import = sample();
    entries(&import, "baseten", "deepseek-ai/deepseek-v4-pro");
    entries(&import, "xai", "grok-4.3");
    assert!(import.entries.iter().all(|e| e.provider != "x-ai"));
    assert!(import
        .entries
        .iter()
        .all(|e| e.model == e.model.to_ascii_lowercase()));
}

#[test]
fn a_dated_price_change_becomes_an_entry_from_midnight_utc_of_its_date() {
    let import = sample();
    let mistral = entries(&import, "openrouter", "mistralai/mistral-large-4-0");
    assert_eq!(labels(&mistral), ["2000-01-01", "2026-11-03"]);
    assert_eq!(
        mistral[1].effective_from_us,
        parse_instant("2026-11-03T00:00:00Z", DateEdge::Start).expect("instant")
    );
    assert_eq!(mistral[0].rates.tokens.input, d("0.68"));
    assert_eq!(mistral[1].rates.tokens.input, d("0.7"));
    assert_eq!(mistral[1].rates.tokens.output, d("2.1"));
    // Long-context tiers until 2026-03-13, flat after; a batch variant from 2026-10-14.
    let opus = entries(&import, "anthropic", "claude-opus-4-6");
    assert_eq!(labels(&opus), ["2000-01-01", "2026-03-13", "2026-10-14"]);
    assert_eq!(opus[0].rates.tiers.len(), 1);
    assert!(opus[1].rates.tiers.is_empty());
    assert!(opus[1].rates.service_tiers.is_empty());
    assert!(opus[2]
        .rates
        .service_tiers
        .contains_key(&ServiceTier::Batch));
}

#[test]
fn a_tiered_price_becomes_a_whole_request_tier_above_its_start() {
    let import = sample();
    let sonnet = &entries(&import, "anthropic", "claude-sonnet-4-5")[0].rates;
    assert_eq!(sonnet.tiers.len(), 1);
    let tier = &sonnet.tiers[0];
    assert_eq!(tier.above_input_tokens, 200_000);
    assert_eq!((tier.rates.input, tier.rates.output), (d("6"), d("22.5")));
    assert_eq!(tier.rates.cached_input, Some(d("0.6")));
    assert_eq!(tier.rates.cache_write, Some(d("7.5")));
    assert_eq!(tier.rates.cache_write_1h, Some(d("12")));
    // One token over the start: every token at the tier, cached reads included.
    let call = |input| TokenCounts {
        input,
        cached_input: 1_000,
        output: 100,
        ..Default::default()
    };
    let at_start =
        (d("199000") * d("3") + d("1000") * d("0.3") + d("100") * d("15")) / d("1000000");
    let nanos = |exact| Nanos::from_decimal_rounded(exact).expect("fits");
    assert_eq!(sonnet.cost(&call(200_000)).expect("fits"), nanos(at_start));
    let above = (d("199001") * d("6") + d("1000") * d("0.6") + d("100") * d("22.5")) / d("1000000");
    assert_eq!(sonnet.cost(&call(200_001)).expect("fits"), nanos(above));

    // Several tiers, each class at its own amount there.
    let qwen = entries(&import, "openrouter", "qwen/qwen3-coder-flash");
    let tiers = &qwen[1].rates.tiers;
    let starts: Vec<i64> = tiers.iter().map(|t| t.above_input_tokens).collect();
    assert_eq!(starts, [32_000, 128_000]);
    assert_eq!(tiers[0].rates.input, d("0.325"));
    assert_eq!(tiers[1].rates.output, d("2.6"));
    assert_eq!(tiers[1].rates.cache_write, Some(d("0.65")));
}

#[test]
fn a_price_per_thousand_requests_is_a_price_per_call() {
    let import = sample();
    let sonar = &entries(&import, "perplexity", "sonar")[0].rates;
    assert_eq!(sonar.per_call, Some(d("0.012")));
    let none = TokenCounts::default();
    assert_eq!(sonar.cost(&none).expect("fits"), Nanos(12_000_000));
}

#[test]
fn prices_per_thousand_or_per_hour_become_prices_per_unit() {
    let import = sample();
    let ocr = &entries(&import, "mistral", "mistral-ocr-2512")[0].rates;
    assert_eq!(ocr.unit_prices.get("page"), Some(&d("0.002")));
    assert_eq!(ocr.unit_prices.get("page:annotated"), Some(&d("0.003")));
    let voice = entries(&import, "xai", "grok-voice-latest");
    assert_eq!(
        voice[0].rates.unit_prices.get("input_text_message"),
        Some(&d("0.004"))
    );
    // $4.80 an hour from 2026-08-05: per second, to the 28th decimal place.
    let second = voice[1].rates.unit_prices["audio_second"];
    assert_eq!(second, d("0.0013333333333333333333333333"));
    let hour = voice[1].rates.unit_price("audio_second").expect("priced") * d("3600");
    assert!(
        (hour - d("4.8")).abs() < d("0.000000000000000000000001"),
        "{hour}"
    );
    // Input audio seconds narrow audio seconds: priced as them when not on their own.
    let live = &entries(&import, "openai", "gpt-live-1")[0].rates;
    assert_eq!(
        live.unit_price("audio_second:input"),
        live.unit_price("audio_second")
    );
    let tts = &entries(&import, "groq", "canopylabs/orpheus-v1-english")[0].rates;
    assert_eq!(tts.unit_prices.get("input_character"), Some(&d("0.000022")));
}

#[test]
fn batch_flex_and_priority_variants_become_service_tier_rates_from_their_dates() {
    let import = sample();
    let gpt = entries(&import, "openai", "gpt-4.1");
    assert_eq!(labels(&gpt), ["2000-01-01", "2026-10-12", "2026-10-14"]);
    assert!(gpt[0].rates.service_tiers.is_empty());
    let rates = |e: &PriceEntry, tier| match e.rates.service_tiers.get(&tier) {
        Some(ServicePrice::Rates(r)) => r.clone(),
        other => panic!("{tier:?}: {other:?}"),
    };
    let priority = rates(gpt[1], ServiceTier::Priority);
    assert_eq!((priority.input, priority.output), (d("3.5"), d("14")));
    assert_eq!(priority.cached_input, Some(d("0.875")));
    assert!(!gpt[1].rates.service_tiers.contains_key(&ServiceTier::Batch));
    // The batch variant states no cached-input price: the standard one, not a scaled one.
    let batch = rates(gpt[2], ServiceTier::Batch);
    assert_eq!((batch.input, batch.output), (d("1"), d("4")));
    assert_eq!(batch.cached_input, Some(d("0.5")));
    let flex = rates(entries(&import, "openai", "gpt-5.4")[1], ServiceTier::Flex);
    assert_eq!(flex.cached_input, Some(d("0.13")));
}

#[test]
fn a_model_priced_by_time_of_day_is_left_to_the_other_sources_and_reported() {
    let import = sample();
    // Importing its other prices would bill every hour at them.
    for model in ["deepseek-chat", "deepseek-v4-flash"] {
        assert!(
            import.entries.iter().all(|e| e.model != model),
            "{model} is not imported"
        );
    }
    assert_eq!(
        import.unmapped.get("prices.constraint.start_time"),
        Some(&3)
    );
}

#[test]
fn a_model_genai_prices_lists_as_free_is_imported_at_zero() {
    let import = sample();
    let moderation = &entries(&import, "openai", "moderation")[0].rates;
    assert_eq!(moderation, &Rates::default());
    assert_eq!(
        import.skipped, 2,
        "only the two models priced by time of day"
    );
}

#[test]
fn the_import_reports_exactly_what_it_could_not_map() {
    let import = sample();
    let unmapped: Vec<(&str, usize)> = import
        .unmapped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        unmapped,
        [
            // Unit prices of a batch variant (whisper, OCR pages): a service tier has token
            // rates only.
            ("price_variants.prices.audio_hours", 1),
            ("price_variants.prices.cache_audio_read_mtok", 1),
            ("price_variants.prices.cache_image_read_mtok", 1),
            // gpt-5.4's flex, batch and priority cached reads, and its flat priority input
            // and output, are not its long-context prices scaled as the base ones are.
            ("price_variants.prices.cache_read_mtok.tiers", 3),
            ("price_variants.prices.input_annotated_document_kpages", 1),
            ("price_variants.prices.input_audio_hours", 1),
            ("price_variants.prices.input_document_kpages", 1),
            ("price_variants.prices.input_mtok.tiers", 1),
            ("price_variants.prices.output_mtok.tiers", 1),
            ("price_variants.when.route=mistral/eu", 2),
            ("price_variants.when.search_type=fast", 1),
            ("price_variants.when.service_tier=fast", 4),
            ("price_variants.when.service_tier=ultrafast", 2),
            ("price_variants.when.speed=fast", 1),
            // Cached audio and image reads: Tollgate bills every cached read at one rate.
            ("prices.cache_audio_read_mtok", 3),
            ("prices.cache_image_read_mtok", 2),
            // The prices of the models priced by time of day, not imported.
            ("prices.cache_read_mtok", 7),
            ("prices.constraint.start_time", 3),
            ("prices.input_mtok", 7),
            ("prices.output_citation_mtok", 1),
            ("prices.output_mtok", 7),
            ("prices.output_video_mtok", 1),
        ]
    );
}

#[test]
fn imported_entries_survive_the_price_file_round_trip() {
    let import = sample();
    let refs: Vec<&PriceEntry> = import.entries.iter().collect();
    let again = parse_price_file(&to_price_file(&refs), PriceSource::Database, None)
        .expect("the price file reads what it wrote");
    assert_eq!(again, import.entries);
}

#[test]
fn a_tenant_import_carries_its_tenant() {
    let import = parse_genai_prices(SAMPLE, PriceSource::Tenant, Some("t1")).expect("parses");
    assert!(import
        .entries
        .iter()
        .all(|e| e.source == PriceSource::Tenant && e.tenant_id.as_deref() == Some("t1")));
}

#[test]
fn a_variant_or_constraint_it_cannot_map_is_reported_once_per_object() {
    let text = r#"[{"id": "openai", "models": [
        {"id": "m", "match": {"equals": "m"},
         "prices": [
            {"prices": {"input_mtok": 1, "output_mtok": 2, "output_video_mtok": 3}},
            {"constraint": {"start_date": "2026-01-01"},
             "prices": {"input_mtok": 2, "output_mtok": 4, "output_video_mtok": 5}}],
         "price_variants": [
            {"when": {"service_tier": "fast"}, "prices": {"input_mtok": 5}},
            {"when": {"service_tier": "default"}, "prices": {}},
            {"when": {"processing": "batch"}, "prices": {"input_mtok": 0.5, "web_searches_kcount": 5},
             "constraint": {"start_date": "2026-06-01"}}]},
        {"id": "timed", "match": {"equals": "timed"},
         "prices": [
            {"prices": {"input_mtok": 1, "output_mtok": 2}},
            {"constraint": {"start_time": "01:00:00Z", "end_time": "02:00:00Z"},
             "prices": {"input_mtok": 9, "output_mtok": 9}}]}]}]"#;
    let import = parse_genai_prices(text, PriceSource::Database, None).expect("valid");
    assert!(import.entries.iter().all(|e| e.model == "m"));
    assert_eq!(
        labels(&import.entries.iter().collect::<Vec<_>>()),
        ["2000-01-01", "2026-01-01", "2026-06-01"]
    );
    let unmapped: Vec<(&str, usize)> = import
        .unmapped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        unmapped,
        [
            ("price_variants.prices.web_searches_kcount", 1),
            ("price_variants.when.service_tier=fast", 1),
            // The timed model: none of its prices is imported.
            ("prices.constraint.start_time", 1),
            ("prices.input_mtok", 2),
            ("prices.output_mtok", 2),
            ("prices.output_video_mtok", 2),
        ]
    );
}

#[test]
fn a_model_whose_prices_tollgate_cannot_use_is_skipped_and_reported() {
    let text = r#"[{"id": "google", "models": [
        {"id": "video", "match": {"equals": "video"}, "prices": {"output_video_mtok": 10}},
        {"id": "nothing", "match": {"equals": "nothing"}},
        {"id": "Video", "match": {"equals": "video"}, "prices": {"input_mtok": 1}}]}]"#;
    let import = parse_genai_prices(text, PriceSource::Database, None).expect("valid");
    assert!(import.entries.is_empty(), "{:?}", import.entries);
    assert_eq!(import.skipped, 3);
    let unmapped: Vec<(&str, usize)> = import
        .unmapped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        unmapped,
        [("models.id (repeated)", 1), ("prices.output_video_mtok", 1)]
    );
}

#[test]
fn malformed_genai_prices_files_are_refused_naming_the_model() {
    for text in [
        "{}",
        "[",
        r#"[{"models": []}]"#,
        r#"[{"id": "x", "models": {}}]"#,
    ] {
        let err = parse_genai_prices(text, PriceSource::Database, None).expect_err(text);
        assert!(matches!(err, PriceFileError::Syntax(_)), "{text}: {err}");
    }
    for (prices, says) in [
        (
            r#"{"input_mtok": -1}"#,
            "prices.input_mtok must be a non-negative number",
        ),
        (
            r#"{"input_mtok": "1"}"#,
            "prices.input_mtok must be a number or {base, tiers}",
        ),
        (
            r#"{"input_mtok": {"base": 1, "tiers": [{"start": 1.5, "price": 2}]}}"#,
            "start must be a whole number",
        ),
        (
            r#"[{"constraint": {"start_date": "someday"}, "prices": {}}]"#,
            "prices[0].constraint.start_date",
        ),
        ("7", "prices must be an object or a list"),
    ] {
        let text = format!(
            r#"[{{"id": "openai", "models": [{{"id": "ok", "prices": {{}}}}, {{"id": "bad", "prices": {prices}}}]}}]"#
        );
        let err = parse_genai_prices(&text, PriceSource::Database, None).expect_err(prices);
        let message = err.to_string();
        assert!(message.contains("price entry 1 (openai/bad)"), "{message}");
        assert!(message.contains(says), "{message}");
    }
}

/// Bills each usage of an oracle file (`genai_tool.py oracle`) with the entries imported from
/// `data`, and returns how many costs it compared and the `provider|model|tier` of those that
/// differ from genai-prices' own, each checked to be a model whose import reports what it
/// could not map.
fn compare_with_genai_prices(data: &str, oracle: &str) -> (usize, BTreeSet<String>) {
    let import = parse_genai_prices(data, PriceSource::Database, None).expect("parses");
    let oracle: Value = serde_json::from_str(oracle).expect("oracle JSON");
    let usages = oracle["usages"].as_object().expect("usages");
    let raw: Value = serde_json::from_str(data).expect("data JSON");
    let mut compared = 0;
    let mut differing = BTreeSet::new();
    for (key, totals) in oracle["costs"].as_object().expect("costs") {
        let [provider_id, model_id, at, tier] = key.split('|').collect::<Vec<_>>()[..] else {
            panic!("key {key}")
        };
        let at_us = parse_instant(at, DateEdge::Start).expect("instant");
        let provider = canonical_provider(provider_id);
        let model = model_id.to_ascii_lowercase();
        let Some(entry) = import
            .entries
            .iter()
            .filter(|e| e.provider == provider && e.model == model && e.effective_from_us <= at_us)
            .max_by_key(|e| e.effective_from_us)
        else {
            // Not imported (priced by time of day): checked below to be reported.
            differing.insert(format!("{provider_id}|{model_id}|{tier}"));
            continue;
        };
        for (usage, total) in totals.as_object().expect("totals") {
            let u = &usages[usage];
            let n = |k: &str| u["tokens"].get(k).and_then(Value::as_i64).unwrap_or(0);
            let tokens = TokenCounts {
                input: n("input"),
                output: n("output"),
                cached_input: n("cached_input"),
                cache_write: n("cache_write"),
                cache_write_1h: n("cache_write_1h"),
                reasoning: n("reasoning"),
                audio_input: n("audio_input"),
                image_input: n("image_input"),
                video_input: n("video_input"),
                audio_output: n("audio_output"),
                image_output: n("image_output"),
            };
            let quantities: BTreeMap<String, i64> = u["quantities"]
                .as_object()
                .expect("quantities")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_i64().expect("count")))
                .collect();
            let call = Metered {
                tokens: &tokens,
                service_tier: ServiceTier::parse("tier", tier).expect("tier"),
                quantities: &quantities,
                units: None,
            };
            let ours = entry.rates.cost_split(&call).expect("fits").total;
            let theirs =
                Nanos::from_decimal_rounded(d(total.as_str().expect("total"))).expect("fits");
            compared += 1;
            if ours != theirs {
                differing.insert(format!("{provider_id}|{model_id}|{tier}"));
            }
        }
    }
    // A cost may differ only where the import said what it left out.
    for key in &differing {
        let [provider_id, model_id, _] = key.split('|').collect::<Vec<_>>()[..] else {
            panic!("key {key}")
        };
        let provider = raw
            .as_array()
            .expect("providers")
            .iter()
            .find(|p| p["id"] == provider_id)
            .expect("provider");
        let model = provider["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["id"] == model_id)
            .expect("model");
        let alone = serde_json::json!([{"id": provider_id, "models": [model]}]).to_string();
        let import = parse_genai_prices(&alone, PriceSource::Database, None).expect("parses");
        assert!(
            !import.unmapped.is_empty(),
            "{key} bills otherwise than genai-prices without a word"
        );
    }
    (compared, differing)
}

#[test]
fn the_imported_sample_bills_every_usage_as_genai_prices_does_but_what_it_reports() {
    let (compared, differing) = compare_with_genai_prices(SAMPLE, SAMPLE_COSTS);
    assert!(compared > 1_000, "{compared} costs compared");
    let differing: Vec<&str> = differing.iter().map(String::as_str).collect();
    assert_eq!(
        differing,
        [
            // Priced by time of day: not imported, left to the other sources.
            "deepseek|deepseek-chat|standard",
            "deepseek|deepseek-v4-flash|standard",
            // Batch prices per audio second and per page: billed at the standard ones.
            "groq|whisper-large-v3|batch",
            "mistral|mistral-ocr-2512|batch",
            // Above 272k tokens: the long-context rate scaled, not genai-prices' own.
            "openai|gpt-5.4|batch",
            "openai|gpt-5.4|flex",
            "openai|gpt-5.4|priority",
        ]
    );
}

/// The whole data file: `GENAI_PRICES_JSON` names it and `GENAI_PRICES_COSTS` genai-prices'
/// costs for it (see `testdata/genai_tool.py`).
#[test]
#[ignore = "needs the whole genai-prices data file: see testdata/genai_tool.py"]
fn the_whole_genai_prices_file_imports_and_bills_as_genai_prices_does_but_what_it_reports() {
    let read = |var: &str| {
        let path = std::env::var(var).unwrap_or_else(|_| panic!("set {var}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let data = read("GENAI_PRICES_JSON");
    let import = parse_genai_prices(&data, PriceSource::Database, None).expect("parses");
    println!(
        "{} entries, {} models skipped",
        import.entries.len(),
        import.skipped
    );
    for (path, n) in &import.unmapped {
        println!("unmapped {path}: {n}");
    }
    assert!(import.entries.len() > 2_000);
    let (compared, differing) = compare_with_genai_prices(&data, &read("GENAI_PRICES_COSTS"));
    println!("{compared} costs compared; differing where reported: {differing:?}");
    assert!(compared > 50_000);
}
