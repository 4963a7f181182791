//! Bad bytes, credentials before bodies, and answers that tell a client when to come back.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_store::Scope;

use crate::support::{assert_error, usage, TestApp};

/// Every place a string from the wire reached a query, with a NUL byte in it.
const NUL_IN_QUERIES_AND_PATHS: [(&str, &str, &str); 12] = [
    ("GET", "/api/v1/logs?alias=a%00b", "alias"),
    ("GET", "/api/v1/logs?model=gpt%00", "model"),
    ("GET", "/api/v1/logs?provider=%00", "provider"),
    ("GET", "/api/v1/logs?origin=x%00", "origin"),
    ("GET", "/api/v1/logs?user_id=u%00", "user_id"),
    ("GET", "/api/v1/receipts?tag=t%00", "tag"),
    ("GET", "/api/v1/receipts/rcpt_%00", "id"),
    ("GET", "/api/v1/receipts/rcpt_%00/logs", "id"),
    ("GET", "/api/v1/webhooks/wh_%00", "id"),
    ("DELETE", "/api/v1/webhooks/wh_%00", "id"),
    ("POST", "/api/v1/authorize/hold_%00/release", "hold_id"),
    ("GET", "/api/v1/billing/balance?user_id=%00", "user_id"),
];

#[tokio::test]
async fn a_nul_byte_in_a_path_or_query_is_a_400_naming_it_on_every_engine() {
    for app in TestApp::all().await {
        for (method, path, field) in NUL_IN_QUERIES_AND_PATHS {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let r = app
                .http
                .request(method.clone(), format!("{}{path}", app.base))
                .header("X-API-Key", &app.key)
                .send()
                .await
                .expect("send");
            let status = r.status();
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(status, 400, "{method} {path} on {}: {body}", app.engine());
            assert_eq!(body["error"]["field"], field, "{method} {path}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("NUL")),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_in_a_path_or_query_are_a_400_not_a_lossy_match() {
    for app in TestApp::all().await {
        let r = app.get("/api/v1/logs?model=gpt%FF").await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "model");
        let r = app.get("/api/v1/receipts/rcpt_%C3%28").await;
        assert_error(&r, 400, "INVALID_PATH");
        assert_eq!(r.body["error"]["field"], "id");
    }
}

#[tokio::test]
async fn a_nul_character_in_a_json_string_is_a_400_naming_the_field_and_writes_nothing() {
    for app in TestApp::all().await {
        let mut bad = usage("gpt-4o", 10, 5);
        bad["user_id"] = json!("da\u{0}ve");
        let r = app.post("/api/v1/log", &bad).await;
        assert_error(&r, 400, "INVALID_CHARACTER");
        assert_eq!(r.body["error"]["field"], "user_id", "{}", app.engine());

        let conversation = json!({
            "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "a\u{0}b"}],
            "response": {"content": "ok", "model": "gpt-4o", "provider": "openai",
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
        });
        let r = app.post("/api/v1/conversations/log", &conversation).await;
        assert_error(&r, 400, "INVALID_CHARACTER");
        assert_eq!(r.body["error"]["field"], "messages[1].content");

        let r = app
            .post("/api/v1/receipts/verify", &json!({"receipt_id": "\u{0}"}))
            .await;
        assert_eq!(r.status, 400, "{}", r.body);

        let r = app
            .post(
                "/api/v1/log/batch",
                &json!({"events": [usage("gpt-4o", 1, 1), {"provider": "openai", "model": "x\u{0}"}]}),
            )
            .await;
        assert_error(&r, 400, "INVALID_CHARACTER");
        assert_eq!(r.body["error"]["field"], "events[1].model");

        let stats = app.get("/api/v1/stats").await;
        assert_eq!(stats.body["summary"]["total_requests"], 0, "{}", stats.body);
    }
}

#[tokio::test]
async fn an_escaped_backslash_before_u0000_is_text_not_a_nul() {
    for app in TestApp::all().await {
        let body = br#"{"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "alias": "a\\u0000"}"#;
        let r = app.post_raw("/api/v1/log", body.to_vec()).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_whatever_its_request_holds() {
    for app in TestApp::all().await {
        let (_, reader) = app.tenant_key("reader", &[Scope::Read]).await;
        let (_, writer) = app.tenant_key("writer", &[Scope::Ingest]).await;
        let send = |key: &str, path: &str, body: &'static [u8]| {
            app.http
                .post(format!("{}{path}", app.base))
                .header("X-API-Key", key)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
        };
        for body in [&b"{not json"[..], b"[]", b"{\"model\": 5}"] {
            let r = send(&reader, "/api/v1/log", body).await.expect("send");
            assert_eq!(r.status(), 403, "{}", app.engine());
            let r = send(&writer, "/api/v1/receipts/generate", body)
                .await
                .expect("send");
            assert_eq!(r.status(), 403);
            let r = send(&reader, "/api/v1/billing/topup", body)
                .await
                .expect("send");
            assert_eq!(r.status(), 403);
        }
        // Nor for an operator's route: a tenant key is refused before the name or body.
        let r = app
            .http
            .put(format!("{}/api/v1/plans/%20bad%20name", app.base))
            .header("X-API-Key", &reader)
            .body("{not json")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403, "{}", app.engine());
        // Query and path parameters are not read either.
        assert_error(
            &app.get_as(&writer, "/api/v1/logs?limit=many").await,
            403,
            "FORBIDDEN",
        );
        assert_error(
            &app.get_as(&writer, "/api/v1/receipts/not-an-id/proof?log_id=x")
                .await,
            403,
            "FORBIDDEN",
        );
    }
}

#[tokio::test]
async fn every_503_says_when_to_retry() {
    for app in TestApp::all().await {
        // A database that went away: the store's connections are closed under the server.
        app.db.store.close().await;
        let r = app
            .http
            .get(format!("{}/api/v1/stats", app.base))
            .header("X-API-Key", &app.key)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 503, "{}", app.engine());
        assert_eq!(
            r.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let r = app
            .http
            .get(format!("{}/health", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
    }
}

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_the_body_is_sent() {
    for app in TestApp::all_with(|s| s.max_body_bytes = 1024).await {
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut conn = TcpStream::connect(&addr).await.expect("connect");
        // Headers only: a server that waited for the body would never answer.
        let head = format!(
            "POST /api/v1/log HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n",
            app.key
        );
        conn.write_all(head.as_bytes()).await.expect("write");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut answer))
            .await
            .expect("an answer before the body")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("BODY_TOO_LARGE"), "{answer}");
    }
}

#[tokio::test]
async fn length_limits_count_bytes_so_the_longest_dimensions_allowed_are_stored_everywhere() {
    // Four-byte characters: 64 of them are 256 bytes, past every dimension's limit.
    let wide = |n: usize| "\u{1F600}".repeat(n);
    for app in TestApp::all().await {
        let mut too_long = usage("gpt-4o", 1, 1);
        too_long["alias"] = json!(wide(64));
        let r = app.post("/api/v1/log", &too_long).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "alias", "{}", r.body);

        // Every rollup key dimension at its limit, in four-byte characters: PostgreSQL's
        // index rows must hold them (a limit in characters let them past 2,704 bytes).
        let longest = json!({
            "provider": wide(16), "model": format!("{}abc", wide(63)),
            "alias": wide(32), "origin": format!("{}abc", wide(63)),
            "user_id": format!("{}abc", wide(63)), "input_tokens": 1, "output_tokens": 1,
        });
        let r = app.post("/api/v1/log", &longest).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let stats = app.get("/api/v1/stats").await;
        assert_eq!(stats.body["summary"]["total_requests"], 1, "{}", stats.body);
    }
}

#[tokio::test]
async fn a_header_value_that_is_not_ascii_is_a_400_naming_the_header() {
    for app in TestApp::all().await {
        let send = |name: &'static str, value: &'static [u8]| {
            app.http
                .post(format!("{}/api/v1/billing/topup", app.base))
                .header("X-API-Key", &app.key)
                .header(
                    name,
                    reqwest::header::HeaderValue::from_bytes(value).expect("obs-text"),
                )
                .json(&json!({"amount": "1", "user_id": "u"}))
                .send()
        };
        for (name, code) in [
            ("X-Tenant-Id", "INVALID_TENANT"),
            ("Idempotency-Key", "INVALID_IDEMPOTENCY_KEY"),
        ] {
            let r = send(name, b"caf\xe9").await.expect("send");
            assert_eq!(r.status(), 400, "{name} on {}", app.engine());
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert_eq!(body["error"]["field"], name, "{body}");
        }
        let b = app
            .db
            .store
            .account(&app.tenant_id, "u")
            .await
            .expect("read");
        assert!(b.is_none(), "nothing was credited");
    }
}
