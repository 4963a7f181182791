//! Worked examples from the providers' published prices, priced to the nano through
//! `POST /api/v1/log` on both engines. Each row says where its figures come from.

use serde_json::{json, Value};

use crate::support::TestApp;

/// One call and the cost the provider's price page gives for it.
struct Case {
    /// Where the rates come from.
    source: &'static str,
    provider: &'static str,
    model: &'static str,
    /// Every prompt token, cached ones included.
    input: i64,
    cached: i64,
    output: i64,
    cost: &'static str,
}

const CASES: &[Case] = &[
    // Anthropic pricing page, Claude Sonnet 4.5: prompts ≤ 200K tokens $3 / $15 per MTok,
    // cache reads $0.30; prompts > 200K tokens $6 / $22.50, cache reads $0.60, and the whole
    // request is billed at the long-context rates.
    Case {
        source: "anthropic sonnet 4.5, 150K in (base): 150,000 × $3 + 2,000 × $15",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        input: 150_000,
        cached: 0,
        output: 2_000,
        cost: "0.480000000",
    },
    Case {
        source: "anthropic sonnet 4.5, exactly 200K in (still base): 200,000 × $3 + 2,000 × $15",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        input: 200_000,
        cached: 0,
        output: 2_000,
        cost: "0.630000000",
    },
    Case {
        source: "anthropic sonnet 4.5, 250K in (long context, whole request): 250,000 × $6 + 2,000 × $22.50",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        input: 250_000,
        cached: 0,
        output: 2_000,
        cost: "1.545000000",
    },
    Case {
        source: "anthropic sonnet 4, 250K in of which 100K cache reads: 150,000 × $6 + 100,000 × $0.60 + 2,000 × $22.50",
        provider: "anthropic",
        model: "claude-sonnet-4",
        input: 250_000,
        cached: 100_000,
        output: 2_000,
        cost: "1.005000000",
    },
    // Gemini API pricing page, Gemini 2.5 Pro: prompts ≤ 200K tokens $1.25 / $10 per MTok;
    // prompts > 200K tokens $2.50 / $15.
    Case {
        source: "google gemini 2.5 pro, 100K in (base): 100,000 × $1.25 + 1,000 × $10",
        provider: "google",
        model: "gemini-2.5-pro",
        input: 100_000,
        cached: 0,
        output: 1_000,
        cost: "0.135000000",
    },
    Case {
        source: "google gemini 2.5 pro, 250K in (long context): 250,000 × $2.50 + 1,000 × $15",
        provider: "google",
        model: "gemini-2.5-pro",
        input: 250_000,
        cached: 0,
        output: 1_000,
        cost: "0.640000000",
    },
];

#[tokio::test]
async fn long_context_requests_are_priced_whole_at_the_tier_the_provider_publishes() {
    for app in TestApp::all().await {
        for c in CASES {
            let r = app
                .post(
                    "/api/v1/log",
                    &json!({"provider": c.provider, "model": c.model, "input_tokens": c.input,
                            "cached_input_tokens": c.cached, "output_tokens": c.output}),
                )
                .await;
            assert_eq!(r.status, 200, "{}: {}", c.source, r.body);
            assert_eq!(
                r.body["cost_exact"],
                c.cost,
                "{} ({})",
                c.source,
                app.engine()
            );
        }
        let prices = app.get("/api/v1/pricing").await.body;
        let sonnet = prices["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|p| p["model"] == "claude-sonnet-4-5")
            .cloned()
            .expect("listed");
        assert_eq!(
            sonnet["tiers"],
            json!([{"above_input_tokens": 200000, "input": "6.00", "output": "22.50",
                    "cached_input": "0.60", "cache_write": "7.50", "cache_write_1h": "12.00",
                    "reasoning": null, "audio_input": null, "image_input": null,
                    "video_input": null, "audio_output": null, "image_output": null}])
        );
        assert_eq!(
            sonnet["service_tiers"],
            json!({"batch": {"factor": "0.5", "rates": null}})
        );
        assert_eq!(sonnet["unit_prices"], json!({"web_search": "0.01"}));
    }
}

/// A call as a client logs it (often with the provider's own usage object) and the cost the
/// provider's price page gives for it.
struct Billed {
    /// Where the figures come from, and the sum.
    source: &'static str,
    body: fn() -> Value,
    cost: &'static str,
}

const BILLED: &[Billed] = &[
    // Anthropic pricing page, Claude Sonnet 4.5: base input $3, output $15; 1-hour cache
    // writes 2x base input ($6); the usage object splits cache writes by duration.
    Billed {
        source: "anthropic sonnet 4.5, 1-hour cache write: 100 × $3 + 10,000 × $6 + 500 × $15",
        body: || {
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": {
                "input_tokens": 100, "output_tokens": 500,
                "cache_creation_input_tokens": 10000, "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10000}}})
        },
        cost: "0.067800000",
    },
    Billed {
        source: "anthropic sonnet 4.5, 5-minute and 1-hour writes: 2,000 × $3.75 + 1,000 × $6 + 100 × $15",
        body: || {
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": {
                "input_tokens": 0, "output_tokens": 100,
                "cache_creation_input_tokens": 3000,
                "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000}}})
        },
        cost: "0.015000000",
    },
    // Anthropic: Message Batches at 50% of standard prices; the usage object names the tier.
    Billed {
        source: "anthropic sonnet 4.5, batch: (10,000 × $3 + 1,000 × $15) × 0.5",
        body: || {
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": {
                "input_tokens": 10000, "output_tokens": 1000, "service_tier": "batch"}})
        },
        cost: "0.022500000",
    },
    // Anthropic: web search $10 per 1,000 searches, plus the tokens.
    Billed {
        source: "anthropic sonnet 4.5, 2 web searches: 1,000 × $3 + 200 × $15 + 2 × $0.01",
        body: || {
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": {
                "input_tokens": 1000, "output_tokens": 200,
                "server_tool_use": {"web_search_requests": 2}}})
        },
        cost: "0.026000000",
    },
    // OpenAI pricing page, GPT-5: $1.25 / $10; Batch API 50%; Priority $2.50 / $20.
    Billed {
        source: "openai gpt-5, batch: (10,000 × $1.25 + 2,000 × $10) × 0.5",
        body: || {
            json!({"provider": "openai", "model": "gpt-5", "service_tier": "batch",
                   "input_tokens": 10000, "output_tokens": 2000})
        },
        cost: "0.016250000",
    },
    Billed {
        source: "openai gpt-5, priority: 10,000 × $2.50 + 2,000 × $20",
        body: || {
            json!({"provider": "openai", "model": "gpt-5", "service_tier": "priority",
                   "input_tokens": 10000, "output_tokens": 2000})
        },
        cost: "0.065000000",
    },
    // OpenAI pricing page, gpt-image-1: text input $5, image input $10, image output $40;
    // a 1024x1024 high-quality image is 4,160 output tokens (OpenAI's image cost table:
    // about $0.167).
    Billed {
        source: "openai gpt-image-1, one 1024x1024 high image: 40 × $5 + 10 × $10 + 4,160 × $40",
        body: || {
            json!({"provider": "openai", "model": "gpt-image-1", "usage": {
                "total_tokens": 4210, "input_tokens": 50, "output_tokens": 4160,
                "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}}})
        },
        cost: "0.166700000",
    },
    // OpenAI pricing page, DALL-E 3: HD 1024x1024 $0.080 per image.
    Billed {
        source: "openai dall-e-3, two HD 1024x1024 images: 2 × $0.080",
        body: || {
            json!({"provider": "openai", "model": "dall-e-3", "input_tokens": 0,
                   "output_tokens": 0, "quantities": {"image:1024x1024:hd": 2}})
        },
        cost: "0.160000000",
    },
    // OpenAI pricing page, gpt-realtime: text $4 / $16, audio $32 / $64.
    Billed {
        source: "openai gpt-realtime, audio call: 200 × $4 + 1,000 × $32 + 100 × $16 + 500 × $64",
        body: || {
            json!({"provider": "openai", "model": "gpt-realtime", "usage": {
                "total_tokens": 1800, "input_tokens": 1200, "output_tokens": 600,
                "input_token_details": {"text_tokens": 200, "audio_tokens": 1000, "cached_tokens": 0},
                "output_token_details": {"text_tokens": 100, "audio_tokens": 500}}})
        },
        cost: "0.066400000",
    },
    // OpenAI pricing page, Whisper: $0.006 a minute.
    Billed {
        source: "openai whisper-1, 90 seconds of audio: 90 × $0.0001",
        body: || {
            json!({"provider": "openai", "model": "whisper-1", "input_tokens": 0,
                   "output_tokens": 0, "quantities": {"audio_second": 90}})
        },
        cost: "0.009000000",
    },
    // Gemini API pricing page, Gemini 2.5 Flash: text/image/video input $0.30, audio input
    // $1.00, output $2.50; the usage metadata splits the prompt by modality.
    Billed {
        source: "google gemini 2.5 flash, audio prompt: 500 × $0.30 + 1,500 × $1.00 + 300 × $2.50",
        body: || {
            json!({"provider": "google", "model": "gemini-2.5-flash", "usage": {
                "promptTokenCount": 2000, "candidatesTokenCount": 300, "totalTokenCount": 2300,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 500},
                                        {"modality": "AUDIO", "tokenCount": 1500}]}})
        },
        cost: "0.002400000",
    },
    // Gemini API pricing page, Gemini 2.5 Pro: prompts > 200K $2.50 / $15; Batch Mode 50%.
    Billed {
        source: "google gemini 2.5 pro, long-context batch: (250,000 × $2.50 + 1,000 × $15) × 0.5",
        body: || {
            json!({"provider": "google", "model": "gemini-2.5-pro", "service_tier": "batch",
                   "input_tokens": 250000, "output_tokens": 1000})
        },
        cost: "0.320000000",
    },
    // Mistral pricing page, Mistral Large 3 (mistral-large-2512): $0.50 / $1.50.
    Billed {
        source: "mistral large 2512: 10,000 × $0.50 + 2,000 × $1.50",
        body: || {
            json!({"provider": "mistral", "model": "mistral-large-2512",
                   "input_tokens": 10000, "output_tokens": 2000})
        },
        cost: "0.008000000",
    },
    // DeepSeek pricing page: from 2025-09-29 (V3.2) cache miss $0.28, cache hit $0.028,
    // output $0.42; before 2025-09-05 deepseek-chat was $0.27 / $0.07 hit / $1.10.
    Billed {
        source: "deepseek chat, 6,000 of 10,000 prompt tokens cache hits: 4,000 × $0.28 + 6,000 × $0.028 + 1,000 × $0.42",
        body: || {
            json!({"provider": "deepseek", "model": "deepseek-chat", "usage": {
                "prompt_tokens": 10000, "completion_tokens": 1000,
                "prompt_tokens_details": {"cached_tokens": 6000}}})
        },
        cost: "0.001708000",
    },
    Billed {
        source: "deepseek chat in March 2025, the same call: 4,000 × $0.27 + 6,000 × $0.07 + 1,000 × $1.10",
        body: || {
            json!({"provider": "deepseek", "model": "deepseek-chat",
                   "timestamp": "2025-03-01T12:00:00Z", "usage": {
                "prompt_tokens": 10000, "completion_tokens": 1000,
                "prompt_tokens_details": {"cached_tokens": 6000}}})
        },
        cost: "0.002600000",
    },
    // xAI models page, Grok 4: $3 / $15, and $6 / $30 for the whole request above 128K.
    Billed {
        source: "xai grok-4, 100K in (base): 100,000 × $3 + 1,000 × $15",
        body: || {
            json!({"provider": "xai", "model": "grok-4", "input_tokens": 100000,
                   "output_tokens": 1000})
        },
        cost: "0.315000000",
    },
    Billed {
        source: "xai grok-4, 150K in (long context): 150,000 × $6 + 1,000 × $30",
        body: || {
            json!({"provider": "xai", "model": "grok-4", "input_tokens": 150000,
                   "output_tokens": 1000})
        },
        cost: "0.930000000",
    },
    // Cohere pricing page, Command R (command-r-08-2024): $0.15 / $0.60.
    Billed {
        source: "cohere command-r-08-2024: 10,000 × $0.15 + 1,000 × $0.60",
        body: || {
            json!({"provider": "cohere", "model": "command-r-08-2024",
                   "input_tokens": 10000, "output_tokens": 1000})
        },
        cost: "0.002100000",
    },
    // Groq pricing page, Llama 3.3 70B Versatile: $0.59 / $0.79.
    Billed {
        source: "meta llama 3.3 70b on groq: 10,000 × $0.59 + 1,000 × $0.79",
        body: || {
            json!({"provider": "groq", "model": "llama-3.3-70b-versatile",
                   "input_tokens": 10000, "output_tokens": 1000})
        },
        cost: "0.006690000",
    },
    // OpenAI's GPT-4 launch price (2023-03-14), a model the source documents name:
    // $0.03 / $0.06 per 1K tokens.
    Billed {
        source: "openai gpt-4 in June 2023: 1,000 × $30 + 500 × $60 per million",
        body: || {
            json!({"provider": "openai", "model": "gpt-4", "timestamp": "2023-06-01T00:00:00Z",
                   "input_tokens": 1000, "output_tokens": 500})
        },
        cost: "0.060000000",
    },
    // Gemini API pricing from 2024-10-01, Gemini 1.5 Pro: $1.25 / $5 up to 128K prompt tokens,
    // $2.50 / $10 for the whole request above; Gemini 1.0 Pro $0.50 / $1.50 (the source
    // documents' gemini-pro).
    Billed {
        source: "google gemini 1.5 pro in 2025, 200K in (long context): 200,000 × $2.50 + 1,000 × $10",
        body: || {
            json!({"provider": "google", "model": "gemini-1.5-pro",
                   "timestamp": "2025-01-15T00:00:00Z", "input_tokens": 200000,
                   "output_tokens": 1000})
        },
        cost: "0.510000000",
    },
    Billed {
        source: "google gemini pro (1.0) in 2024: 10,000 × $0.50 + 1,000 × $1.50",
        body: || {
            json!({"provider": "gemini", "model": "gemini-pro",
                   "timestamp": "2024-07-01T00:00:00Z", "input_tokens": 10000,
                   "output_tokens": 1000})
        },
        cost: "0.006500000",
    },
];

#[tokio::test]
async fn cache_durations_service_tiers_media_and_unit_prices_are_billed_as_published() {
    for app in TestApp::all().await {
        for b in BILLED {
            let r = app.post("/api/v1/log", &(b.body)()).await;
            assert_eq!(r.status, 200, "{}: {}", b.source, r.body);
            assert_eq!(
                r.body["cost_exact"],
                b.cost,
                "{} ({})",
                b.source,
                app.engine()
            );
            assert_eq!(r.body["flags"], json!([]), "{}", b.source);
        }
        // What was priced is in the log: the classes, the tier and the quantities.
        let logs = app.get("/api/v1/logs?limit=100").await.body;
        let find = |model: &str| {
            logs.as_array()
                .expect("array")
                .iter()
                .find(|l| l["model"] == model)
                .cloned()
                .expect(model)
        };
        let realtime = find("gpt-realtime");
        assert_eq!(
            (
                &realtime["audio_input_tokens"],
                &realtime["audio_output_tokens"]
            ),
            (&json!(1000), &json!(500))
        );
        assert_eq!(find("gemini-2.5-pro")["service_tier"], "batch");
        assert_eq!(
            find("dall-e-3")["quantities"],
            json!({"image:1024x1024:hd": 2})
        );
    }
}

#[tokio::test]
async fn a_quantity_without_a_unit_price_is_flagged_unpriced_not_billed_at_nothing() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "dall-e-3", "input_tokens": 0,
                        "output_tokens": 0, "quantities": {"image:256x256": 1}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["flags"], json!(["unpriced"]));
        for (body, field) in [
            (
                json!({"provider": "openai", "model": "gpt-5", "input_tokens": 1,
                    "output_tokens": 1, "service_tier": "scale"}),
                "service_tier",
            ),
            (
                json!({"provider": "openai", "model": "gpt-5", "input_tokens": 1,
                    "output_tokens": 1, "quantities": {"Web Search": 1}}),
                "quantities",
            ),
            (
                json!({"provider": "openai", "model": "gpt-5", "input_tokens": 1,
                    "output_tokens": 1, "quantities": {"web_search": -1}}),
                "quantities.web_search",
            ),
            (
                json!({"provider": "openai", "model": "gpt-5", "input_tokens": 10,
                    "output_tokens": 1, "audio_input_tokens": 11}),
                "audio_input_tokens",
            ),
            (
                json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "service_tier": "priority",
                    "usage": {"input_tokens": 1, "output_tokens": 1, "service_tier": "batch"}}),
                "service_tier",
            ),
        ] {
            let r = app.post("/api/v1/log", &body).await;
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert_eq!(r.body["error"]["field"], field, "{}", r.body);
        }
    }
}

/// A trimmed copy of genai-prices' real data, every field shape it uses.
const GENAI_SAMPLE: &str =
    include_str!("../../../tollgate-core/src/pricing/testdata/genai_prices_sample.json");

#[tokio::test]
async fn genai_prices_data_imports_over_http_and_says_what_it_could_not_map() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "genai_prices", "content": GENAI_SAMPLE, "for_tenant": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body["added"].as_u64().is_some_and(|n| n > 10),
            "{}",
            r.body
        );
        assert!(
            r.body["unmapped"]["prices.constraint.start_time"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "time-of-day prices are reported: {}",
            r.body
        );
        // The tenant's imported Sonnet 4.5 prices a long-context call whole at its tier.
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "anthropic", "model": "claude-sonnet-4-5",
                        "input_tokens": 250_000, "output_tokens": 2_000}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["cost_exact"], "1.545000000");
        assert!(
            r.body["price_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("tenant:anthropic/claude-sonnet-4-5@")),
            "{}",
            r.body
        );
        let r = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "genai_prices", "content": GENAI_SAMPLE,
                        "effective_from": "2026-01-01", "for_tenant": true}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "effective_from");
    }
}

/// A trimmed copy of LiteLLM's price file: every price field it sets, at least once.
const LITELLM_SAMPLE: &str =
    include_str!("../../../tollgate-core/src/pricing/testdata/litellm_sample.json");

#[tokio::test]
async fn litellms_file_imports_over_http_with_what_it_could_not_map_named() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "litellm", "content": LITELLM_SAMPLE,
                        "effective_from": "2025-01-01", "for_tenant": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body["added"].as_u64().is_some_and(|n| n > 50),
            "{}",
            r.body
        );
        let unmapped = r.body["unmapped"].as_object().expect("unmapped");
        for field in [
            "input_cost_per_pixel",
            "cache_creation_input_token_cost_above_12hr",
        ] {
            assert!(unmapped.contains_key(field), "{field}: {}", r.body);
        }
        // A mapped class prices a call: gpt-realtime's audio as LiteLLM states it.
        let prices = app.get("/api/v1/pricing?at=2026-01-01").await.body;
        let realtime = prices["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|p| p["model"] == "gpt-realtime" && p["source"] == "tenant")
            .cloned()
            .expect("imported");
        assert!(realtime["audio_input"].is_string(), "{realtime}");
    }
}

#[tokio::test]
async fn coverage_names_token_classes_billed_at_a_fallback_and_service_tiers_without_a_price() {
    for app in TestApp::all().await {
        for body in [
            // GPT-5 has no audio rate: its audio is billed at the text input rate.
            json!({"provider": "openai", "model": "gpt-5", "input_tokens": 1000,
                   "audio_input_tokens": 400, "output_tokens": 10}),
            // Claude has no priority price: billed at standard rates.
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5",
                   "service_tier": "priority", "input_tokens": 100, "output_tokens": 10}),
            // Batch is priced: not listed.
            json!({"provider": "anthropic", "model": "claude-sonnet-4-5",
                   "service_tier": "batch", "input_tokens": 100, "output_tokens": 10}),
        ] {
            let r = app.post("/api/v1/log", &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let c = app.get("/api/v1/pricing/coverage").await;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(
            c.body["fallback_classes"],
            json!([{"provider": "openai", "model": "gpt-5", "token_class": "audio_input",
                    "tokens": 400, "billed_at": "input"}]),
            "{}",
            c.body
        );
        assert_eq!(
            c.body["unpriced_service_tiers"],
            json!([{"provider": "anthropic", "model": "claude-sonnet-4-5",
                    "service_tier": "priority", "requests": 1}])
        );
    }
}
