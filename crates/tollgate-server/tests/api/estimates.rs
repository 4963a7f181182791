//! Calls logged without token counts: estimated from their text or its length, flagged
//! `estimated`, the method recorded, priced like any other call.

use serde_json::{json, Value};

use crate::support::{assert_error, usage, TestApp};

const PROMPT: &str = "Hello there, how are you today? Tell me about Rust.";

/// The newest call of `/api/v1/logs`.
async fn newest(app: &TestApp) -> Value {
    app.get("/api/v1/logs").await.body[0].clone()
}

#[tokio::test]
async fn a_call_sent_with_its_text_is_recorded_with_the_model_tokenizers_counts_and_priced() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "prompt": PROMPT, "completion": "hello"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        // o200k_base: 13 prompt tokens × $2.50/M + 1 completion token × $10/M
        assert_eq!(r.body["cost_exact"], "0.000042500", "{}", app.engine());
        let log = newest(&app).await;
        assert_eq!(log["input_tokens"], 13, "{log}");
        assert_eq!(log["output_tokens"], 1, "{log}");
        assert_eq!(log["flags"], json!(["estimated"]), "{log}");
        assert_eq!(log["estimate_method"], "o200k_base", "{log}");
        assert_eq!(log["price_version"], "builtin:openai/gpt-4o@2024-08-06");
    }
}

#[tokio::test]
async fn a_call_sent_with_character_counts_is_estimated_at_four_characters_a_token() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "prompt_chars": 4000, "completion_chars": 1999}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        // 1000 × $2.50/M + 500 × $10/M
        assert_eq!(r.body["cost_exact"], "0.007500000", "{}", app.engine());
        let log = newest(&app).await;
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(1000), Some(500))
        );
        assert_eq!(log["flags"], json!(["estimated"]), "{log}");
        assert_eq!(log["estimate_method"], "chars/4", "{log}");
    }
}

#[tokio::test]
async fn a_reported_side_is_kept_and_only_the_missing_one_is_estimated() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "completion": "hello"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let log = newest(&app).await;
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(1000), Some(1))
        );
        assert_eq!(log["estimate_method"], "o200k_base", "{log}");
    }
}

#[tokio::test]
async fn a_call_with_reported_counts_has_no_estimate_method() {
    for app in TestApp::all().await {
        let r = app.post("/api/v1/log", &usage("gpt-4o", 10, 5)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let log = newest(&app).await;
        assert_eq!(log["estimate_method"], Value::Null, "{log}");
        assert_eq!(log["flags"], json!([]), "{log}");
    }
}

#[tokio::test]
async fn a_side_with_neither_count_nor_text_is_refused_naming_the_field_and_what_to_send() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "prompt": PROMPT}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "output_tokens", "{}", r.body);
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("completion") && message.contains("completion_chars"),
            "{message}"
        );

        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "output_tokens": 3}),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "input_tokens", "{}", r.body);

        let both = json!({"provider": "openai", "model": "gpt-4o", "prompt": "hi", "prompt_chars": 2, "output_tokens": 1});
        let r = app.post("/api/v1/log", &both).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "prompt_chars", "{}", r.body);

        let negative = json!({"provider": "openai", "model": "gpt-4o", "prompt_chars": -4, "output_tokens": 1});
        let r = app.post("/api/v1/log", &negative).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "prompt_chars", "{}", r.body);

        let r = app
            .post("/api/v1/log", &json!({"provider": "openai", "model": "gpt-4o", "prompt_chars": 1.5, "output_tokens": 1}))
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(
            app.get("/api/v1/logs").await.body,
            json!([]),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn a_batch_estimates_the_calls_sent_with_text_and_rejects_those_without_counts() {
    for app in TestApp::all().await {
        let events = json!({"events": [
            {"provider": "openai", "model": "gpt-4", "prompt": PROMPT, "completion": "hello"},
            {"provider": "openai", "model": "gpt-4o", "prompt": PROMPT},
        ]});
        let r = app.post("/api/v1/log/batch", &events).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["results"][0]["status"], "recorded", "{}", r.body);
        assert_eq!(r.body["results"][1]["status"], "rejected", "{}", r.body);
        assert_eq!(
            r.body["results"][1]["error"]["field"], "events[1].output_tokens",
            "{}",
            r.body
        );
        let log = newest(&app).await;
        assert_eq!(log["estimate_method"], "cl100k_base", "{log}");
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(13), Some(1))
        );
    }
}

#[tokio::test]
async fn a_model_without_a_tokenizer_here_is_estimated_from_its_text_at_four_characters_a_token() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "anthropic", "model": "claude-sonnet-4", "prompt": "x".repeat(40), "completion": "abcde"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let log = newest(&app).await;
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(10), Some(2))
        );
        assert_eq!(log["estimate_method"], "chars/4", "{log}");
    }
}

#[tokio::test]
async fn the_csv_export_carries_the_estimate_method_in_its_own_column() {
    for app in TestApp::all().await {
        let mut reported = usage("gpt-4o", 10, 5);
        reported["timestamp"] = json!("2026-03-01T10:00:00Z");
        let estimated = json!({"provider": "openai", "model": "gpt-4o", "prompt_chars": 40, "completion_chars": 4,
            "timestamp": "2026-03-01T11:00:00Z"});
        for body in [&reported, &estimated] {
            let r = app.post("/api/v1/log", body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let text = app
            .get_text("/api/v1/export/usage?start=2026-03-01&end=2026-03-02&format=csv")
            .await;
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .expect("header")
                .ends_with(",adjusts,estimate_method,dimensions"),
            "{text}"
        );
        assert!(lines.next().expect("reported").ends_with(",,"), "{text}");
        assert!(
            lines.next().expect("estimated").ends_with(",chars/4,"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_conversation_estimated_from_its_messages_records_chars_over_four() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/conversations/log",
                &json!({"messages": [{"role": "user", "content": "x".repeat(40)}],
                        "response": {"content": "abcd"},
                        "metadata": {"provider": "openai", "model": "gpt-4o"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let log = newest(&app).await;
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(10), Some(1))
        );
        assert_eq!(log["flags"], json!(["estimated"]), "{log}");
        assert_eq!(log["estimate_method"], "chars/4", "{log}");
    }
}

#[tokio::test]
async fn text_to_estimate_from_beside_a_count_a_usage_object_or_a_cached_response_is_refused() {
    for app in TestApp::all().await {
        for (body, field) in [
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 5,
                       "prompt": "hello", "output_tokens": 1}),
                "prompt",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 5,
                       "output_tokens": 1, "completion_chars": 40}),
                "completion_chars",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "prompt": "hello",
                       "usage": {"prompt_tokens": 5, "completion_tokens": 1}}),
                "prompt",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "cached_response": true,
                       "completion": "hi"}),
                "completion",
            ),
        ] {
            let r = app.post("/api/v1/log", &body).await;
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert_eq!(r.body["error"]["field"], field, "{}", r.body);
        }
    }
}
