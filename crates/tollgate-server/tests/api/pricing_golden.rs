//! Worked examples from the providers' published prices, priced to the nano through
//! `POST /api/v1/log` on both engines. Each row says where its figures come from.

use serde_json::json;

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
                    "cached_input": "0.60", "cache_write": "7.50", "reasoning": null}])
        );
    }
}
