//! llmring's conversation routes besides the log (llmring-wire §5, llmring-mcp §5.1–5.2),
//! sent as llmring sends them: `X-API-Key` and `Authorization: Bearer` with the same key,
//! JSON bodies, and the exact bodies of `LLMRingSession` and `MCPHttpClient`.

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_core::time::{now_us, DAY_US};
use tollgate_store::{NewMessage, Scope};
use uuid::Uuid;

use crate::support::{assert_error, Reply, TestApp};

/// A request as llmring's HTTP client makes it; redirects are not followed, so a 307 would
/// show.
async fn llmring(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = http
        .request(method, format!("{}{path}", app.base))
        .header("X-API-Key", key)
        .bearer_auth(key)
        .header("Content-Type", "application/json");
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn post(app: &TestApp, path: &str, body: &Value) -> Reply {
    llmring(app, &app.key, Method::POST, path, Some(body)).await
}

async fn get(app: &TestApp, path: &str) -> Reply {
    llmring(app, &app.key, Method::GET, path, None).await
}

/// `LLMRingSession.create_conversation`'s body (no trailing slash).
fn session_conversation() -> Value {
    json!({"title": "Trip planning", "system_prompt": "You plan trips.", "model_alias": "default",
           "temperature": 0.7, "max_tokens": null})
}

/// Opens a conversation as `LLMRingSession` does; its id.
async fn opened(app: &TestApp) -> String {
    let r = post(app, "/api/v1/conversations", &session_conversation()).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body["id"].as_str().expect("id").to_string()
}

/// What `LLMRingSession.chat_with_conversation` posts after a call (llmring-mcp §5.1).
fn session_batch(id: &str, level: &str) -> Value {
    json!({"conversation_id": id, "logging_level": level, "messages": [
        {"role": "system", "content": "You plan trips.",
         "metadata": {"model_requested": "default", "temperature": 0.7}},
        {"role": "user", "content": "Three days in Lisbon?",
         "metadata": {"model_requested": "default", "temperature": 0.7}},
        {"role": "assistant", "content": "Day one: Alfama.", "input_tokens": 21, "output_tokens": 6,
         "metadata": {"model_used": "openai:gpt-4o-mini", "finish_reason": "stop", "tool_calls": null}}
    ]})
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[track_caller]
fn assert_field(r: &Reply, field: &str) {
    assert_error(r, 422, "INVALID_FIELD");
    assert_eq!(r.body["error"]["field"], field, "{}", r.body);
}

#[tokio::test]
async fn a_conversation_opened_at_either_path_is_served_directly_and_reads_back() {
    for app in TestApp::all().await {
        let session = post(&app, "/api/v1/conversations", &session_conversation()).await;
        assert_eq!(session.status, 200, "{}: {}", app.engine(), session.body);
        // MCPHttpClient.create_conversation, with the slash the peer redirects to.
        let mcp = post(
            &app,
            "/api/v1/conversations/",
            &json!({"title": "MCP chat", "system_prompt": null, "model_alias": "mcp_agent", "project_id": null}),
        )
        .await;
        assert_eq!(mcp.status, 200, "{}", mcp.body);

        let c = &session.body;
        assert_eq!(
            (
                &c["title"],
                &c["system_prompt"],
                &c["model_alias"],
                &c["temperature"],
                &c["max_tokens"]
            ),
            (
                &json!("Trip planning"),
                &json!("You plan trips."),
                &json!("default"),
                &json!(0.7),
                &Value::Null
            )
        );
        assert_eq!(
            (
                &c["message_count"],
                &c["total_input_tokens"],
                &c["total_cost"],
                &c["last_message_at"]
            ),
            (&json!(0), &json!(0), &json!(0.0), &Value::Null)
        );
        assert_eq!(c["api_key_id"], app.tenant_id.as_str());
        assert_eq!(
            (&mcp.body["model_alias"], &mcp.body["temperature"]),
            (&json!("mcp_agent"), &json!(0.7))
        );
        let _typed: tollgate_api::conversations::Conversation =
            serde_json::from_value(c.clone()).expect("the Conversation shape");

        let id = c["id"].as_str().expect("id");
        let read = get(&app, &format!("/api/v1/conversations/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body["messages"], json!([]));
        let mut without = read.body.clone();
        without.as_object_mut().expect("object").remove("messages");
        assert_eq!(&without, c, "read back as created: {}", app.engine());
        let list = get(&app, "/api/v1/conversations?limit=20&offset=0").await;
        assert_eq!(list.body.as_array().map(Vec::len), Some(2), "{}", list.body);
    }
}

#[tokio::test]
async fn opening_a_conversation_refuses_what_llmrings_server_refuses_and_writes_nothing() {
    for app in TestApp::all().await {
        let with = |member: &str, value: Value| {
            let mut body = session_conversation();
            body[member] = value;
            body
        };
        for (body, field) in [
            (with("model_alias", Value::Null), "model_alias"),
            (with("model_alias", json!("a".repeat(256))), "model_alias"),
            (with("temperature", json!(3)), "temperature"),
            (with("temperature", json!(-0.1)), "temperature"),
            (with("temperature", Value::Null), "temperature"),
            (with("max_tokens", json!(0)), "max_tokens"),
            (with("title", json!("t".repeat(501))), "title"),
            (with("titel", json!("typo")), "titel"),
        ] {
            let r = post(&app, "/api/v1/conversations/", &body).await;
            assert_field(&r, field);
        }
        // Temperature 2 and a 500-character title are within the bounds; 2 reads as a number.
        let edge = post(
            &app,
            "/api/v1/conversations/",
            &json!({"title": "t".repeat(500), "temperature": 2}),
        )
        .await;
        assert_eq!(edge.status, 200, "{}", edge.body);
        assert_eq!(
            (&edge.body["temperature"], &edge.body["model_alias"]),
            (&json!(2.0), &json!("default"))
        );
        let list = get(&app, "/api/v1/conversations/").await;
        assert_eq!(
            list.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            app.engine()
        );

        let (_, reader) = app.tenant_key("reader", &[Scope::Read]).await;
        let r = llmring(
            &app,
            &reader,
            Method::POST,
            "/api/v1/conversations",
            Some(&session_conversation()),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn a_patch_sets_what_it_names_clears_with_null_and_refuses_bad_values() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        let path = format!("/api/v1/conversations/{id}");
        let patch = |body: Value| {
            let path = path.clone();
            let app = &app;
            async move { llmring(app, &app.key, Method::PATCH, &path, Some(&body)).await }
        };
        let before = get(&app, &path).await.body;
        let same = patch(json!({})).await;
        assert_eq!(same.status, 200, "{}", same.body);
        assert_eq!(
            same.body["updated_at"], before["updated_at"],
            "{{}} changes nothing"
        );
        assert_eq!(same.body["title"], "Trip planning");

        let changed = patch(json!({"title": "Lisbon", "temperature": 1.2, "max_tokens": 512, "model_alias": "fast"})).await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(
            (
                &changed.body["title"],
                &changed.body["temperature"],
                &changed.body["max_tokens"],
                &changed.body["model_alias"]
            ),
            (&json!("Lisbon"), &json!(1.2), &json!(512), &json!("fast"))
        );
        assert_eq!(
            changed.body["system_prompt"], "You plan trips.",
            "untouched"
        );
        let cleared = patch(json!({"system_prompt": null, "max_tokens": null})).await;
        assert_eq!(
            (&cleared.body["system_prompt"], &cleared.body["max_tokens"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(cleared.body["title"], "Lisbon");

        for (body, field) in [
            (json!({"temperature": 3}), "temperature"),
            (json!({"temperature": null}), "temperature"),
            (json!({"model_alias": null}), "model_alias"),
            (json!({"max_tokens": -1}), "max_tokens"),
            (json!({"title": "t".repeat(501)}), "title"),
        ] {
            assert_field(&patch(body).await, field);
        }
        let read = get(&app, &path).await.body;
        assert_eq!(
            (&read["title"], &read["temperature"]),
            (&json!("Lisbon"), &json!(1.2)),
            "{}",
            app.engine()
        );

        let missing = format!("/api/v1/conversations/{}", Uuid::now_v7());
        let r = llmring(
            &app,
            &app.key,
            Method::PATCH,
            &missing,
            Some(&json!({"title": "x"})),
        )
        .await;
        assert_error(&r, 404, "NOT_FOUND");
        assert_eq!(r.body["detail"], "Conversation not found");
    }
}

#[tokio::test]
async fn llmring_sessions_message_batch_is_stored_and_read_back_in_order() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        let r = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &session_batch(&id, "full"),
        )
        .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let stored = r.body.as_array().expect("messages");
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[1]["content"], "Three days in Lisbon?");
        assert_eq!(stored[1]["content_hash"], sha256("Three days in Lisbon?"));
        assert_eq!(
            stored[1]["metadata"],
            json!({"model_requested": "default", "temperature": 0.7})
        );
        assert_eq!(
            (&stored[2]["input_tokens"], &stored[2]["output_tokens"]),
            (&json!(21), &json!(6))
        );
        assert_eq!(stored[2]["receipt_id"], Value::Null);
        for m in stored {
            assert_eq!(m["conversation_id"], id.as_str());
            let _typed: tollgate_api::conversations::Message =
                serde_json::from_value(m.clone()).expect("the Message shape");
        }

        let listed = get(
            &app,
            &format!("/api/v1/conversations/{id}/messages?limit=100"),
        )
        .await;
        assert_eq!(
            &listed.body,
            &r.body,
            "the GET reads what was written: {}",
            app.engine()
        );
        let c = get(&app, &format!("/api/v1/conversations/{id}")).await.body;
        assert_eq!(c["messages"], r.body);
        assert_eq!(
            (
                &c["message_count"],
                &c["total_input_tokens"],
                &c["total_output_tokens"]
            ),
            (&json!(3), &json!(21), &json!(6))
        );
        assert_eq!(c["last_message_at"], stored[2]["timestamp"]);

        // A second turn, with a multimodal message (the peer refused it), follows the first.
        let turn = json!({"conversation_id": id, "logging_level": "full", "create_receipt": true, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "And this?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
             "receipt_id": null},
            {"role": "tool", "content": "42", "tool_results": [{"id": "t1", "output": "42"}]}
        ]});
        let r = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &turn,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let all = get(&app, &format!("/api/v1/conversations/{id}/messages"))
            .await
            .body;
        let roles: Vec<&str> = all
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "tool"]);
        assert_eq!(all[3]["content"][1]["type"], "image_url");
        let c = get(
            &app,
            &format!("/api/v1/conversations/{id}?include_messages=false"),
        )
        .await
        .body;
        assert_eq!(c["message_count"], 5, "{}", app.engine());
    }
}

#[tokio::test]
async fn a_batch_at_metadata_keeps_hashes_and_at_none_stores_nothing() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        let batch = format!("/api/v1/conversations/{id}/messages/batch");
        let r = post(&app, &batch, &session_batch(&id, "metadata")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for m in r.body.as_array().expect("messages") {
            assert_eq!(m["content"], Value::Null, "{m}");
        }
        assert_eq!(r.body[2]["content_hash"], sha256("Day one: Alfama."));

        let none = post(&app, &batch, &session_batch(&id, "none")).await;
        assert_eq!((none.status.as_u16(), &none.body), (200, &json!([])));
        let c = get(&app, &format!("/api/v1/conversations/{id}")).await.body;
        assert_eq!(
            c["message_count"],
            3,
            "none stores nothing: {}",
            app.engine()
        );
        assert_eq!(c["messages"], r.body);
    }
}

#[tokio::test]
async fn a_bad_batch_is_refused_naming_its_field_and_writes_nothing() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        let batch = format!("/api/v1/conversations/{id}/messages/batch");
        let mut developer = session_batch(&id, "full");
        developer["messages"][1]["role"] = json!("developer");
        let mut object_content = session_batch(&id, "full");
        object_content["messages"][0]["content"] = json!({"text": "hi"});
        let mut negative = session_batch(&id, "full");
        negative["messages"][2]["output_tokens"] = json!(-6);
        let mut no_id = session_batch(&id, "full");
        no_id
            .as_object_mut()
            .expect("object")
            .remove("conversation_id");
        let mut bad_id = session_batch(&id, "full");
        bad_id["conversation_id"] = json!("not-a-uuid");
        for (body, field) in [
            (session_batch(&id, "verbose"), "logging_level"),
            (session_batch(&id, "FULL"), "logging_level"),
            (developer, "messages[1].role"),
            (object_content, "messages[0].content"),
            (negative, "messages[2].output_tokens"),
            (no_id, "conversation_id"),
            (bad_id, "conversation_id"),
            (json!({"conversation_id": id}), "messages"),
        ] {
            let r = post(&app, &batch, &body).await;
            assert_field(&r, field);
        }
        let messages = get(&app, &format!("/api/v1/conversations/{id}/messages")).await;
        assert_eq!(messages.body, json!([]), "{}", app.engine());
    }
}

#[tokio::test]
async fn the_servers_logging_level_caps_what_a_batch_keeps() {
    let level = tollgate_server::settings::LoggingLevel::Metadata;
    for app in TestApp::all_with(|s| s.message_logging_level = level).await {
        let id = opened(&app).await;
        let r = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &session_batch(&id, "full"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body[1]["content"], Value::Null, "{}", app.engine());
        assert_eq!(r.body[1]["content_hash"], sha256("Three days in Lisbon?"));
    }
}

#[tokio::test]
async fn the_mcp_clients_add_message_stores_one_message_after_the_others() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &session_batch(&id, "full"),
        )
        .await;
        // MCPHttpClient.add_message.
        let r = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"role": "user", "content": "What about Porto?", "metadata": {"source": "mcp"}}),
        )
        .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(
            (&r.body["role"], &r.body["content"]),
            (&json!("user"), &json!("What about Porto?"))
        );
        assert_eq!(r.body["metadata"], json!({"source": "mcp"}));
        let all = get(
            &app,
            &format!("/api/v1/conversations/{id}/messages?limit=100"),
        )
        .await
        .body;
        assert_eq!(all.as_array().map(Vec::len), Some(4));
        assert_eq!(all[3], r.body);
        let r = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"role": "robot", "content": "x"}),
        )
        .await;
        assert_field(&r, "role");
    }
}

/// A message written `days` ago, as only the store can date it.
fn dated(text: &str, days: i64) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        role: "user".into(),
        content: Some(json!(text)),
        content_hash: Some(sha256(text)),
        input_tokens: None,
        output_tokens: None,
        tool_calls: None,
        tool_results: None,
        metadata: Default::default(),
        ts_us: now_us() - days * DAY_US,
    }
}

#[tokio::test]
async fn old_messages_are_deleted_for_the_callers_tenant_and_their_conversations_stay() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        let uuid = Uuid::parse_str(&id).expect("uuid");
        let store = &app.db.store;
        store
            .add_messages(
                &app.tenant_id,
                uuid,
                &[dated("old", 45), dated("older", 60)],
            )
            .await
            .expect("add")
            .expect("found");
        post(
            &app,
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({"role": "user", "content": "new"}),
        )
        .await;
        let (other_tenant, other) = app.tenant_key("other", &Scope::ALL).await;
        let theirs = opened_as(&app, &other).await;
        store
            .add_messages(&other_tenant, theirs, &[dated("theirs", 90)])
            .await
            .expect("add")
            .expect("found");

        let path = "/api/v1/conversations/old-messages?retention_days=30";
        let r = llmring(&app, &app.key, Method::DELETE, path, None).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body, json!({"deleted_count": 2, "retention_days": 30}));
        let c = get(&app, &format!("/api/v1/conversations/{id}")).await.body;
        assert_eq!(c["message_count"], 1, "{}", app.engine());
        assert_eq!(c["messages"][0]["content"], "new");
        let kept = llmring(
            &app,
            &other,
            Method::GET,
            &format!("/api/v1/conversations/{theirs}/messages"),
            None,
        )
        .await;
        assert_eq!(
            kept.body.as_array().map(Vec::len),
            Some(1),
            "another tenant's stay"
        );

        for bad in [
            "",
            "?retention_days=",
            "?retention_days=0",
            "?retention_days=abc",
            "?retention_days=1.5",
        ] {
            let r = llmring(
                &app,
                &app.key,
                Method::DELETE,
                &format!("/api/v1/conversations/old-messages{bad}"),
                None,
            )
            .await;
            assert_field(&r, "retention_days");
        }
        let (_, writer) = app
            .tenant_key("writer", &[Scope::Ingest, Scope::Read])
            .await;
        let r = llmring(&app, &writer, Method::DELETE, path, None).await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

async fn opened_as(app: &TestApp, key: &str) -> Uuid {
    let r = llmring(
        app,
        key,
        Method::POST,
        "/api/v1/conversations/",
        Some(&session_conversation()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    Uuid::parse_str(r.body["id"].as_str().expect("id")).expect("uuid")
}

#[tokio::test]
async fn another_tenants_conversation_is_not_found_on_every_route_exactly_as_a_missing_one() {
    for app in TestApp::all().await {
        let id = opened(&app).await;
        post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &session_batch(&id, "full"),
        )
        .await;
        let (_, other) = app.tenant_key("other", &Scope::ALL).await;
        let missing = Uuid::now_v7().to_string();
        let routes = |c: &str| {
            vec![
                (Method::GET, format!("/api/v1/conversations/{c}"), None),
                (
                    Method::GET,
                    format!("/api/v1/conversations/{c}/messages"),
                    None,
                ),
                (
                    Method::PATCH,
                    format!("/api/v1/conversations/{c}"),
                    Some(json!({"title": "mine now"})),
                ),
                (
                    Method::POST,
                    format!("/api/v1/conversations/{c}/messages/batch"),
                    Some(session_batch(c, "full")),
                ),
                (
                    Method::POST,
                    format!("/api/v1/conversations/{c}/messages"),
                    Some(json!({"role": "user", "content": "hi"})),
                ),
            ]
        };
        for ((method, theirs, body), (_, absent, _)) in
            routes(&id).into_iter().zip(routes(&missing))
        {
            let r = llmring(&app, &other, method.clone(), &theirs, body.as_ref()).await;
            assert_error(&r, 404, "NOT_FOUND");
            assert_eq!(
                r.body["detail"], "Conversation not found",
                "{method} {theirs}"
            );
            let m = llmring(&app, &other, method.clone(), &absent, body.as_ref()).await;
            assert_eq!(
                (m.status, &m.body),
                (r.status, &r.body),
                "{method}: {}",
                app.engine()
            );
        }
        let r = llmring(
            &app,
            &other,
            Method::DELETE,
            "/api/v1/conversations/old-messages?retention_days=1",
            None,
        )
        .await;
        assert_eq!(r.body["deleted_count"], 0);
        let c = get(&app, &format!("/api/v1/conversations/{id}")).await.body;
        assert_eq!(
            (&c["title"], &c["message_count"]),
            (&json!("Trip planning"), &json!(3)),
            "untouched"
        );
    }
}

#[tokio::test]
async fn messages_added_to_a_logged_conversation_leave_the_double_post_counted_once() {
    for app in TestApp::all().await {
        let log = json!({
            "messages": [{"role": "user", "content": "Hi"}],
            "response": {"content": "Hello.", "model": "openai:gpt-4o-mini", "finish_reason": "stop",
                         "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
            "metadata": {"provider": "openai", "model": "gpt-4o-mini", "alias": "chat", "origin": "llmring",
                         "input_tokens": 12, "output_tokens": 3}
        });
        let conv = post(&app, "/api/v1/conversations/log", &log).await;
        assert_eq!(conv.status, 200, "{}", conv.body);
        let id = conv.body["conversation_id"]
            .as_str()
            .expect("id")
            .to_string();
        let added = post(
            &app,
            &format!("/api/v1/conversations/{id}/messages/batch"),
            &session_batch(&id, "full"),
        )
        .await;
        assert_eq!(added.status, 200, "{}", added.body);
        // llmring's second post of the logged call.
        let usage = post(
            &app,
            "/api/v1/log",
            &json!({"model": "gpt-4o-mini", "provider": "openai", "input_tokens": 12, "output_tokens": 3,
                    "cached_input_tokens": 0, "origin": "llmring", "alias": "chat", "id_at_origin": id,
                    "metadata": {"model_alias": "openai:gpt-4o-mini", "finish_reason": "stop", "conversation_id": id}}),
        )
        .await;
        assert_eq!(usage.status, 200, "{}", usage.body);
        assert_eq!(usage.body["duplicate"], true, "{}", app.engine());
        assert_eq!(usage.body["log_id"], conv.body["log_id"]);
        let stats = get(&app, "/api/v1/stats").await;
        assert_eq!(stats.body["summary"]["total_requests"], 1);
        let c = get(&app, &format!("/api/v1/conversations/{id}")).await.body;
        assert_eq!(
            (
                &c["message_count"],
                &c["total_input_tokens"],
                &c["total_output_tokens"]
            ),
            (&json!(5), &json!(33), &json!(9)),
            "the log's two messages and the batch's three; the call's tokens and the batch's"
        );
        let roles: Vec<&str> = c["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(roles, ["user", "assistant", "system", "user", "assistant"]);
    }
}
