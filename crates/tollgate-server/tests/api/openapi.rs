//! The OpenAPI document: the committed copy matches the code, the check notices a route
//! changed without the document, the document is complete, and the server serves it.

use std::collections::BTreeSet;

use serde_json::Value;
use tollgate_server::openapi::{differences, to_json};
use tollgate_server::openapi_document as document;

use crate::support::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
const FIX: &str = "cargo run -- openapi -o docs/openapi.json";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn generated() -> Value {
    serde_json::to_value(document()).expect("the document is JSON")
}

/// Every `(METHOD, path, operation)` of a document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_ascii_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

#[test]
fn the_committed_document_matches_the_code() {
    let text = std::fs::read_to_string(COMMITTED)
        .unwrap_or_else(|e| panic!("{COMMITTED}: {e}; create it with `{FIX}`"));
    let committed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("docs/openapi.json is not JSON ({e}); regenerate it: `{FIX}`"));
    let found = differences(&committed, &generated());
    assert!(
        found.is_empty(),
        "docs/openapi.json differs from the API the code serves:\n  {}\nRegenerate it and commit it: `{FIX}`",
        found.join("\n  ")
    );
    assert!(
        text == to_json(&document()),
        "docs/openapi.json has the same content but another layout; regenerate it: `{FIX}`"
    );
}

#[test]
fn the_drift_check_reports_a_route_changed_without_the_document() {
    let committed = generated();
    assert_eq!(differences(&committed, &committed), Vec::<String>::new());

    let mut renamed = committed.clone();
    let paths = renamed["paths"].as_object_mut().expect("paths");
    let item = paths.remove("/api/v1/logs").expect("a documented route");
    paths.insert("/api/v1/calls".into(), item);
    assert_eq!(
        differences(&committed, &renamed),
        [
            "GET /api/v1/calls: in the code, not in the committed copy",
            "GET /api/v1/logs: in the committed copy, not in the code",
        ]
    );

    let mut dropped = committed.clone();
    dropped["paths"]["/api/v1/authorize/{hold_id}/release"]
        .as_object_mut()
        .expect("a path item")
        .remove("post");
    assert_eq!(
        differences(&committed, &dropped),
        ["POST /api/v1/authorize/{hold_id}/release: in the committed copy, not in the code"]
    );

    let mut changed = committed.clone();
    changed["paths"]["/api/v1/stats"]["get"]["parameters"][0]["name"] = "since".into();
    changed["components"]["schemas"]["PlanBody"]["properties"]["tier"] = Value::Null;
    assert_eq!(
        differences(&committed, &changed),
        ["GET /api/v1/stats: changed", "components: changed"]
    );
}

#[test]
fn every_operation_has_a_summary_a_tag_a_unique_id_and_its_path_parameters() {
    let doc = generated();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    let ops = operations(&doc);
    assert!(ops.len() >= 50, "only {} operations", ops.len());
    for (method, path, op) in ops {
        let name = format!("{method} {path}");
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(!summary.trim().is_empty(), "{name} has no summary");
        let tag = op["tags"][0].as_str().unwrap_or_default();
        assert!(
            tags.contains(tag),
            "{name} has the tag '{tag}', not one of {tags:?}"
        );
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{name} has no operationId");
        assert!(
            ids.insert(id.to_string()),
            "{name} repeats the operationId {id}"
        );
        assert!(
            op["responses"]["default"].is_object(),
            "{name} has no default (error) response"
        );
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, templated, "{name}: path parameters");
    }
}

/// The schema `schema` stands for, following a `$ref` into the components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a schema reference outside the components: {r}"));
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Why a JSON success body's schema promises nothing, if it does not.
fn vague(doc: &Value, schema: &Value) -> Option<String> {
    let schema = resolve(doc, schema);
    for combined in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema[combined].as_array() {
            return parts.iter().find_map(|p| vague(doc, p));
        }
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null")?,
        _ => return Some(format!("no type: {schema}")),
    };
    match kind {
        "object" => {
            let properties = schema["properties"].as_object();
            if properties.is_none_or(|p| p.is_empty()) {
                return Some("an object without properties".into());
            }
            if schema["required"].as_array().is_none_or(|r| r.is_empty()) {
                return Some("an object without required properties".into());
            }
            None
        }
        "array" => vague(doc, &schema["items"]).map(|why| format!("items: {why}")),
        _ => None,
    }
}

/// Whether `schema` is the Error body made more precise: `error` and `detail` required, and
/// `error` an object with a `code` and a `message` (authorize's 402 carries its numbers so).
fn error_shaped(doc: &Value, schema: &Value) -> bool {
    fn required(doc: &Value, s: &Value, name: &str) -> bool {
        let s = resolve(doc, s);
        s["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == name))
            || s["allOf"]
                .as_array()
                .is_some_and(|parts| parts.iter().any(|p| required(doc, p, name)))
    }
    let schema = resolve(doc, schema);
    let error = resolve(doc, &schema["properties"]["error"]);
    required(doc, schema, "error")
        && required(doc, schema, "detail")
        && required(doc, error, "code")
        && required(doc, error, "message")
}

#[test]
fn every_success_response_has_a_schema_and_every_error_the_error_body() {
    let doc = generated();
    let mut faults = Vec::new();
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        for (status, response) in op["responses"].as_object().expect("responses") {
            let content = response["content"].as_object();
            if status == "204" || status == "304" {
                assert!(content.is_none(), "{name}: a {status} with a body");
                continue;
            }
            if status.starts_with('2') {
                let Some(content) = content.filter(|c| !c.is_empty()) else {
                    faults.push(format!("{name} {status}: no content"));
                    continue;
                };
                for (media, body) in content {
                    let schema = &body["schema"];
                    let why = if media == "application/json" || media == "application/x-ndjson" {
                        vague(&doc, schema)
                    } else if resolve(&doc, schema)["type"].is_null() {
                        Some("no type".into())
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        faults.push(format!("{name} {status} {media}: {why}"));
                    }
                }
            } else if (name.as_str(), status.as_str()) == ("GET /health", "503") {
                // Health answers for monitors, with its own body, whatever the failure.
                let schema = &response["content"]["application/json"]["schema"];
                if let Some(why) = vague(&doc, schema) {
                    faults.push(format!("{name} {status}: {why}"));
                }
            } else if status != "default" {
                let schema = &response["content"]["application/json"]["schema"];
                if schema["$ref"] != "#/components/schemas/Error" && !error_shaped(&doc, schema) {
                    faults.push(format!("{name} {status}: not the Error body"));
                }
            }
        }
    }
    assert!(
        faults.is_empty(),
        "{} responses promise nothing:\n  {}",
        faults.len(),
        faults.join("\n  ")
    );
}

#[test]
fn public_routes_need_no_credentials_and_the_rest_need_a_key_or_a_token() {
    let doc = generated();
    assert_eq!(
        doc["security"],
        serde_json::json!([{"api_key": []}, {"bearer": []}])
    );
    let public: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(_, _, op)| {
            op["security"]
                .as_array()
                .is_some_and(|s| s.contains(&Value::Object(Default::default())))
        })
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    let expected: BTreeSet<String> = [
        "GET /",
        "GET /health",
        "GET /metrics",
        "GET /openapi.json",
        "GET /docs",
        "GET /receipts/public-key.pem",
        "GET /api/v1/receipts/public-key.pem",
        "GET /receipts/public-key.jwk",
        "GET /receipts/public-keys.json",
        "GET /api/v1/receipts/public-keys.json",
        "POST /api/v1/receipts/verify",
        // A payment provider signs its webhook instead.
        "POST /api/v1/payments/stripe",
        "POST /api/v1/payments/paddle",
        "POST /api/v1/payments/fondy",
        "GET /registry/",
        "GET /registry.json",
        "GET /registry/manifest.json",
        "GET /registry/v/{version}/registry.json",
        "GET /registry/{provider}/models.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(public, expected);
}

#[tokio::test]
async fn the_server_serves_its_document_and_a_page_that_reads_it() {
    for app in TestApp::all().await {
        let http = reqwest::Client::new();
        let resp = http
            .get(format!("{}/openapi.json", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "{}", app.engine());
        assert!(resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/json")));
        let doc: Value = resp.json().await.expect("JSON");
        assert!(doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        assert_eq!(doc, generated(), "the served document is the generated one");
        for (method, path) in [
            ("get", "/"),
            ("get", "/health"),
            ("post", "/api/v1/log"),
            ("post", "/api/v1/log/batch"),
            ("get", "/api/v1/conversations/{id}/messages"),
            ("post", "/api/v1/receipts/verify"),
            ("get", "/api/v1/transparency/proof"),
            ("post", "/api/v1/authorize"),
            ("put", "/api/v1/billing/settings"),
            ("put", "/api/billing/settings"),
            ("get", "/api/billing/balance"),
            ("get", "/api/v1/receipts/"),
            ("get", "/openapi.json"),
            ("get", "/docs"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
        let alias = &doc["paths"]["/billing/usage"]["get"];
        assert!(alias["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Alias of `GET /api/v1/billing/usage`")));

        let page = http
            .get(format!("{}/docs", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html")));
        let html = page.text().await.expect("text");
        assert!(
            html.contains("fetch(\"/openapi.json\")"),
            "the page reads the document"
        );
        assert!(
            !html.contains("<script src"),
            "the page loads no script from elsewhere"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let apps = TestApp::all().await;
    let app = apps.first().expect("SQLite always runs");
    let http = reqwest::Client::new();
    for (method, path, _) in operations(&generated()) {
        let url = format!(
            "{}{}",
            app.base,
            path.replace("{id}", "x").replace("{hold_id}", "x")
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let resp = http
            .request(method.clone(), &url)
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["error"]["message"] != "no such route",
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
}
