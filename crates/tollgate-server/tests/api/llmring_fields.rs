//! Every member llmring 1.3.0 and 1.4.0 put in a request body is accepted, though unknown
//! members are refused (`strict_fields.rs`). The bodies are built as the clients build them
//! (the wheels' `services/logging_service.py`, `logging/decorators.py`, `server_client.py`,
//! `cli.py`), with every member they can send present at once; the README lists them.

use serde_json::{json, Value};

use crate::support::TestApp;

/// llmring's `Message.model_dump()`: all six members, unset ones null.
fn message(role: &str, content: Value, tool_calls: Value, tool_call_id: Value) -> Value {
    json!({"role": role, "content": content, "tool_calls": tool_calls,
           "tool_call_id": tool_call_id, "timestamp": null, "metadata": null})
}

#[track_caller]
fn ok(what: &str, r: &crate::support::Reply) {
    assert_eq!(r.status, 200, "{what}: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_llmrings_logging_service_sends_is_accepted() {
    for app in TestApp::all().await {
        // `_log_conversation`: a tool round trip, so `tool_calls` and `tool_call_id` are set.
        let call = json!([{"id": "call_1", "type": "function",
                           "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]);
        let mut user = message("user", json!("Weather in Paris?"), Value::Null, Value::Null);
        user["metadata"] = json!({"cache_control": {"type": "ephemeral"}});
        let conversation = json!({
            "messages": [
                message("system", json!("Be brief."), Value::Null, Value::Null),
                user,
                message("assistant", json!(""), call, Value::Null),
                message("tool", json!("18C"), Value::Null, json!("call_1")),
            ],
            "response": {"content": "18C in Paris.", "model": "gpt-4o-mini", "finish_reason": "stop",
                         "usage": {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46,
                                   "cached_tokens": 0}},
            "metadata": {"provider": "openai", "model": "gpt-4o-mini", "alias": "weather",
                         "profile": "default", "origin": "llmring", "cost": 0.0000096,
                         "input_cost": 0.000006, "output_cost": 0.0000036, "input_tokens": 40,
                         "output_tokens": 6, "cached_tokens": 0}
        });
        let r = app.post("/api/v1/conversations/log", &conversation).await;
        ok("conversations/log", &r);
        let conversation_id = r.body["conversation_id"].clone();
        let c = app
            .get(&format!(
                "/api/v1/conversations/{}",
                conversation_id.as_str().expect("id")
            ))
            .await;
        assert_eq!(c.body["message_count"], 5, "{}", c.body);

        // `_log_usage_only`, after the conversation (so `id_at_origin` and
        // `metadata.conversation_id` are set), and alone.
        let usage = json!({"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 40,
                           "output_tokens": 6, "cached_input_tokens": 0, "origin": "llmring",
                           "alias": "weather", "profile": "default", "cost": 0.0000096,
                           "id_at_origin": conversation_id,
                           "metadata": {"model_alias": "openai:gpt-4o-mini", "finish_reason": "stop",
                                        "conversation_id": conversation_id}});
        ok(
            "log after conversation",
            &app.post("/api/v1/log", &usage).await,
        );
        let mut alone = usage.clone();
        for k in ["id_at_origin", "alias"] {
            alone.as_object_mut().expect("object").remove(k);
        }
        alone["metadata"] = json!({"model_alias": "openai:gpt-4o-mini", "finish_reason": "stop"});
        ok("log alone", &app.post("/api/v1/log", &alone).await);
        let logs = app.get("/api/v1/logs").await;
        assert_eq!(logs.body.as_array().map(Vec::len), Some(2), "{}", logs.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_llmring_1_4_decorators_send_is_accepted() {
    for app in TestApp::all().await {
        // `log_llm_call(log_conversations=True)` around an OpenAI chat call: the caller's
        // messages go out as the caller wrote them, `name` included.
        let conversation = json!({
            "messages": [{"role": "system", "content": "Be brief.", "name": "ops"},
                         {"role": "user", "content": "Hi", "name": "dave"}],
            "response": {"content": "Hello.", "model": "gpt-4o-mini", "finish_reason": "stop",
                         "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
            "metadata": {"provider": "openai", "model": "gpt-4o-mini", "alias": null,
                         "origin": "llmring-decorator", "input_tokens": 9, "output_tokens": 2,
                         "cached_tokens": 0}
        });
        let r = app.post("/api/v1/conversations/log", &conversation).await;
        ok("decorator conversations/log", &r);
        // `log_llm_call(log_metadata=True)`.
        let usage = json!({"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 9,
                           "output_tokens": 2, "cached_input_tokens": 0,
                           "origin": "llmring-decorator",
                           "metadata": {"model_alias": "openai:gpt-4o-mini", "finish_reason": "stop"},
                           "alias": "chat"});
        ok("decorator log", &app.post("/api/v1/log", &usage).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_llmrings_receipt_calls_send_is_accepted() {
    for app in TestApp::all().await {
        let usage = crate::support::usage("gpt-4o", 10, 5);
        let r = app.post("/api/v1/log", &usage).await;
        ok("log", &r);
        let log_id = r.body["log_id"].clone();
        // `ServerClient.preview_receipt` and `generate_receipt` with every argument given
        // (dates from `datetime.isoformat()`); the first selection that applies wins.
        let preview = json!({"start_date": "2020-01-01T00:00:00", "end_date": "2099-12-31T00:00:00",
                             "log_ids": [log_id], "since_last_receipt": true});
        let r = app.post("/api/v1/receipts/preview", &preview).await;
        ok("preview", &r);
        let mut generate = preview.clone();
        generate["description"] = json!("October 2025 billing");
        generate["tags"] = json!(["billing", "monthly"]);
        let r = app.post("/api/v1/receipts/generate", &generate).await;
        ok("generate", &r);
        assert_eq!(r.body["receipt"]["tags"], json!(["billing", "monthly"]));
        // `llmring receipts verify FILE` posts the receipt bare.
        let signed = r.body["receipt"].clone();
        let v = app.post("/api/v1/receipts/verify", &signed).await;
        ok("verify", &v);
        assert_eq!(v.body["valid"], true, "{}", v.body);
    }
}
