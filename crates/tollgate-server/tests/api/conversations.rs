use serde_json::json;

use crate::support::{assert_error, TestApp};

fn llmring_conversation() -> serde_json::Value {
    // What llmring's LoggingService posts (llmring-wire §8), with a multimodal message and a
    // developer role, both of which the peer answered with a 500.
    json!({
        "messages": [
            {"role": "developer", "content": "Be brief.", "name": null},
            {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
        ],
        "response": {"content": "A cat.", "model": "openai:gpt-4o-mini", "finish_reason": "stop",
                     "usage": {"prompt_tokens": 120, "completion_tokens": 4, "total_tokens": 124}},
        "metadata": {"provider": "openai", "model": "gpt-4o-mini", "alias": "vision", "profile": null, "origin": "llmring",
                     "cost": 0.0000204, "input_cost": 0.000018, "output_cost": 0.0000024,
                     "input_tokens": 120, "output_tokens": 4, "cached_tokens": 0}
    })
}

#[tokio::test]
async fn a_conversation_log_stores_messages_and_answers_without_a_receipt() {
    for app in TestApp::all().await {
        let r = app
            .post("/api/v1/conversations/log", &llmring_conversation())
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["receipt"], json!(null));
        let id = r.body["conversation_id"].as_str().expect("id").to_string();
        assert!(r.body["message_id"].is_string());
        // gpt-4o-mini: 120 × $0.15/M + 4 × $0.60/M
        assert_eq!(r.body["cost_exact"], "0.000020400");

        let c = app.get(&format!("/api/v1/conversations/{id}")).await;
        assert_eq!(c.status, 200);
        for field in [
            "id",
            "api_key_id",
            "title",
            "model_alias",
            "temperature",
            "message_count",
            "total_input_tokens",
            "total_output_tokens",
            "total_cost",
            "created_at",
            "updated_at",
            "last_message_at",
            "messages",
        ] {
            assert!(
                c.body.get(field).is_some(),
                "conversation lacks {field}: {}",
                c.body
            );
        }
        assert_eq!(c.body["model_alias"], "vision");
        assert_eq!(
            (
                c.body["message_count"].as_i64(),
                c.body["total_input_tokens"].as_i64()
            ),
            (Some(3), Some(120))
        );
        let roles: Vec<&str> = c.body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().expect("role"))
            .collect();
        assert_eq!(roles, vec!["developer", "user", "assistant"]);
        assert_eq!(
            c.body["messages"][1]["content"][1]["type"], "image_url",
            "multimodal content is kept"
        );
        assert_eq!(c.body["messages"][2]["output_tokens"], 4);

        let without = app
            .get(&format!(
                "/api/v1/conversations/{id}?include_messages=false"
            ))
            .await;
        assert_eq!(without.body["messages"], json!([]));
        let page = app
            .get(&format!(
                "/api/v1/conversations/{id}/messages?limit=1&offset=1"
            ))
            .await;
        assert_eq!(page.body.as_array().map(Vec::len), Some(1));
        assert_eq!(page.body[0]["role"], "user");
        let list = app.get("/api/v1/conversations/?limit=10").await;
        assert_eq!(
            list.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn a_call_posted_through_both_llmring_routes_is_counted_once() {
    for app in TestApp::all().await {
        let conv = app
            .post("/api/v1/conversations/log", &llmring_conversation())
            .await;
        let id = conv.body["conversation_id"]
            .as_str()
            .expect("id")
            .to_string();
        // llmring's _log_usage_only right after: id_at_origin and metadata.conversation_id.
        let usage = app
            .post(
                "/api/v1/log",
                &json!({"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 120, "output_tokens": 4,
                        "cached_input_tokens": 0, "origin": "llmring", "alias": "vision", "cost": 0.0000204,
                        "id_at_origin": id, "metadata": {"model_alias": "openai:gpt-4o-mini", "finish_reason": "stop", "conversation_id": id}}),
            )
            .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        assert_eq!(
            usage.body["log_id"],
            conv.body["log_id"],
            "{}",
            app.engine()
        );
        assert_eq!(usage.body["duplicate"], true);
        let stats = app.get("/api/v1/stats").await;
        assert_eq!(
            stats.body["summary"]["total_requests"],
            1,
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn the_servers_logging_level_decides_what_content_is_kept() {
    let levels = [
        (
            tollgate_server::settings::LoggingLevel::Metadata,
            false,
            true,
        ),
        (tollgate_server::settings::LoggingLevel::None, false, false),
    ];
    for (level, has_content, has_hash) in levels {
        for app in TestApp::all_with(|s| s.message_logging_level = level).await {
            let r = app
                .post("/api/v1/conversations/log", &llmring_conversation())
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let id = r.body["conversation_id"].as_str().expect("id");
            let messages = app
                .get(&format!("/api/v1/conversations/{id}/messages"))
                .await;
            for m in messages.body.as_array().expect("messages") {
                assert_eq!(!m["content"].is_null(), has_content, "{level:?} {m}");
                assert_eq!(!m["content_hash"].is_null(), has_hash, "{level:?} {m}");
            }
        }
    }
}

#[tokio::test]
async fn conversation_logs_without_token_counts_are_estimated_and_flagged() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/conversations/log",
                &json!({"messages": [{"content": "12345678"}], "response": {"content": "1234"},
                        "metadata": {"provider": "openai", "model": "gpt-4o"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let logs = app.get("/api/v1/logs").await;
        let log = &logs.body[0];
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(2), Some(1))
        );
        assert_eq!(log["flags"], json!(["estimated"]));
    }
}

#[tokio::test]
async fn malformed_conversation_logs_are_refused_without_writing() {
    for app in TestApp::all().await {
        assert_error(
            &app.post("/api/v1/conversations/log", &json!({"messages": []}))
                .await,
            422,
            "INVALID_FIELD",
        );
        let mut bad = llmring_conversation();
        bad["metadata"]["input_tokens"] = json!(-4);
        assert_error(
            &app.post("/api/v1/conversations/log", &bad).await,
            422,
            "INVALID_FIELD",
        );
        let mut bad = llmring_conversation();
        bad["messages"][0]["role"] = json!("r".repeat(40));
        assert_error(
            &app.post("/api/v1/conversations/log", &bad).await,
            422,
            "INVALID_FIELD",
        );
        assert_error(
            &app.get("/api/v1/conversations/not-a-uuid").await,
            422,
            "INVALID_FIELD",
        );
        assert_eq!(
            app.get("/api/v1/conversations/").await.body,
            json!([]),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn anthropic_prompt_cache_tokens_reported_by_llmring_are_billed() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/conversations/log",
                &json!({
                    "messages": [{"role": "user", "content": "hi"}],
                    "response": {"content": "hello", "model": "anthropic:claude-sonnet-4", "finish_reason": "end_turn",
                                 "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                                           "cache_read_input_tokens": 100000, "cache_creation_input_tokens": 5000}},
                    "metadata": {"provider": "anthropic", "model": "claude-sonnet-4", "input_tokens": 100, "output_tokens": 20,
                                 "cost": 0.5, "input_cost": 0.0003, "output_cost": 0.0003}
                }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // 100 × $3 + 100,000 × $0.30 + 5,000 × $3.75 + 20 × $15, per million tokens
        assert_eq!(
            r.body["cost_exact"],
            "0.049350000",
            "{}: {}",
            app.engine(),
            r.body
        );
    }
}

#[tokio::test]
async fn a_different_call_naming_a_logged_conversation_is_recorded() {
    for app in TestApp::all().await {
        let conv = app
            .post("/api/v1/conversations/log", &llmring_conversation())
            .await;
        let id = conv.body["conversation_id"]
            .as_str()
            .expect("id")
            .to_string();
        let post = |model: &str, output: i64| {
            json!({"model": model, "provider": "openai", "input_tokens": 120, "output_tokens": output, "origin": "llmring",
                   "id_at_origin": id, "metadata": {"conversation_id": id}})
        };
        let companion = app.post("/api/v1/log", &post("gpt-4o-mini", 4)).await;
        assert_eq!(companion.body["duplicate"], true, "{}", app.engine());
        // The id stays set in the client: the next call names the same conversation.
        let next = app.post("/api/v1/log", &post("gpt-4o-mini", 4)).await;
        assert_eq!(next.body["duplicate"], false, "{}", app.engine());
        let other = app.post("/api/v1/log", &post("gpt-4o", 50)).await;
        assert_eq!(other.body["duplicate"], false);
        assert_eq!(
            app.get("/api/v1/stats").await.body["summary"]["total_requests"],
            3,
            "{}",
            app.engine()
        );
    }
}
