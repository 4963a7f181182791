//! Every 4xx names the field at fault or says there is none: `error.field` is always present,
//! a non-empty path or parameter name, or null. Never an empty string.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{assert_error, Reply, TestApp};

/// The `field` of an error body, asserting it is present and null or a non-empty string.
#[track_caller]
fn field(r: &Reply, what: &str) -> Option<String> {
    let error = r.body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {} has no error object: {}", r.status, r.body));
    match error.get("field") {
        Some(Value::Null) => None,
        Some(Value::String(f)) if !f.is_empty() => Some(f.clone()),
        other => panic!(
            "{what}: {}: field is {other:?}, not a name or null: {}",
            r.status, r.body
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_says_no_field_is_at_fault() {
    let app = TestApp::sqlite_with(|_| {}).await;
    let r = app.post_raw("/api/v1/log", b"{\"model\": ".to_vec()).await;
    assert_error(&r, 400, "INVALID_JSON");
    assert_eq!(field(&r, "syntax error"), None);
    assert!(r.body["error"]
        .as_object()
        .expect("error")
        .contains_key("field"));

    let r = app.post_raw("/api/v1/log", b"[1, 2]".to_vec()).await;
    assert_error(&r, 422, "INVALID_FIELD");
    assert_eq!(field(&r, "an array body"), None);

    let r = app.post_raw("/api/v1/log", b"\"gpt-4o\"".to_vec()).await;
    assert_error(&r, 422, "INVALID_FIELD");
    assert_eq!(field(&r, "a string body"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_about_one_field_or_parameter_name_it() {
    let app = TestApp::sqlite_with(|_| {}).await;
    let r = app.get("/api/v1/receipts?limit=many").await;
    assert_error(&r, 400, "INVALID_QUERY");
    assert_eq!(field(&r, "a bad number").as_deref(), Some("limit"));

    let r = app.get("/api/v1/transparency/consistency?from=x").await;
    assert_error(&r, 400, "INVALID_QUERY");
    assert_eq!(field(&r, "a bad size").as_deref(), Some("from"));

    let r = app
        .post("/api/v1/log", &json!({"provider": "openai", "model": 5}))
        .await;
    assert_eq!(field(&r, "a number for a string").as_deref(), Some("model"));

    let r = app
        .post(
            "/api/v1/log/batch",
            &json!({"events": ["not an event", {"provider": "openai"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(results[0]["error"]["field"], "events[0]", "{}", r.body);
    assert_eq!(
        results[1]["error"]["field"], "events[1].model",
        "{}",
        r.body
    );
}

/// Every documented operation with its path parameters filled by `value`.
fn operations(value: &str) -> Vec<(Method, String)> {
    let doc = serde_json::to_value(tollgate_server::openapi_document()).expect("JSON");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let mut filled = String::new();
            for (i, segment) in path.split('/').enumerate() {
                if i > 0 {
                    filled.push('/');
                }
                if segment.starts_with('{') {
                    filled.push_str(value);
                } else {
                    filled.push_str(segment);
                }
            }
            ops.push((method, filled));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_4xx_of_every_route_names_a_field_or_says_there_is_none() {
    let app = TestApp::sqlite_with(|_| {}).await;
    let queries = [
        "limit=many&offset=-1",
        "start=yesterday&end=tomorrow",
        "start=2026-01-01&start_date=2026-01-01",
        "user_id=%00",
        "size=x&from=y&seq=z&month=13&year=x&date=x&format=x&currency=x",
    ];
    let bodies: [&[u8]; 5] = [
        b"{",
        b"[]",
        b"\"x\"",
        b"{\"zzz\": 1}",
        b"{\"amount\": \"x\"}",
    ];
    let mut seen = 0;
    for (method, path) in operations("not-an-id") {
        if path.ends_with("/stream") {
            continue; // an event stream answers 200 and stays open
        }
        let mut requests: Vec<(String, Option<&[u8]>)> = queries
            .iter()
            .map(|q| (format!("{path}?{q}"), None))
            .collect();
        if method != Method::GET {
            requests.extend(bodies.iter().map(|b| (path.clone(), Some(*b))));
        }
        for (url, body) in requests {
            let mut req = app
                .http
                .request(method.clone(), format!("{}{url}", app.base))
                .header("X-API-Key", &app.key);
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(b.to_vec());
            }
            let resp = req.send().await.expect("send");
            let status = resp.status();
            if !status.is_client_error() {
                continue;
            }
            let is_json = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let bytes = resp.bytes().await.expect("body");
            if !is_json {
                continue; // the console and the MCP transport answer in their own formats
            }
            let body: Value = serde_json::from_slice(&bytes).expect("a JSON error body");
            let reply = Reply { status, body };
            field(&reply, &format!("{method} {url}"));
            seen += 1;
        }
    }
    assert!(seen > 300, "only {seen} client errors seen");
}
