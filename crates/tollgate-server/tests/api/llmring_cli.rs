//! The reads llmring's CLI makes of a server: `GET /api/v1/logs` as 1.4.0's `server logs`
//! calls it (every filter sent, unset ones empty; the answer a bare array with `cost` a number;
//! the page in headers), and `GET /` and `/health` as `server status` and `server init` read them.

use serde_json::{json, Value};

use crate::support::TestApp;

/// What llmring 1.4.0 sends with no flags but `--limit` and `--offset`.
fn as_llmring_sends(limit: i64, offset: i64) -> String {
    format!(
        "/api/v1/logs?limit={limit}&offset={offset}&alias=&model=&origin=&start_date=&end_date="
    )
}

async fn log(app: &TestApp, model: &str) {
    let r = app
        .post(
            "/api/v1/log",
            &json!({"provider": "openai", "model": model, "input_tokens": 1000, "output_tokens": 500}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn get(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("X-API-Key", &app.key)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "{path}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.expect("json"))
}

#[tokio::test]
async fn empty_filters_filter_nothing_and_the_answer_is_a_bare_array_with_numeric_costs() {
    for app in TestApp::all().await {
        log(&app, "gpt-4o").await;
        log(&app, "gpt-4o-mini").await;
        let (headers, body) = get(&app, &as_llmring_sends(50, 0)).await;
        let logs = body.as_array().expect("a bare array");
        assert_eq!(logs.len(), 2, "{}: {body}", app.engine());
        for l in logs {
            assert!(l["cost"].is_number(), "cost is a JSON number: {l}");
            for key in [
                "logged_at",
                "provider",
                "model",
                "input_tokens",
                "output_tokens",
            ] {
                assert!(l.get(key).is_some(), "{key} is present: {l}");
            }
        }
        assert_eq!(headers["x-page-limit"], "50");
        assert_eq!(headers["x-page-offset"], "0");
        assert!(headers.get("link").is_none(), "a short page has no next");
    }
}

#[tokio::test]
async fn a_full_page_links_to_the_next_with_the_same_filters_until_the_calls_run_out() {
    for app in TestApp::all().await {
        for _ in 0..3 {
            log(&app, "gpt-4o").await;
        }
        log(&app, "gpt-4o-mini").await;
        let mut path = "/api/v1/logs?model=gpt-4o&limit=2&alias=".to_string();
        let mut seen = Vec::new();
        loop {
            let (headers, body) = get(&app, &path).await;
            for l in body.as_array().expect("a bare array") {
                assert_eq!(l["model"], "gpt-4o");
                seen.push(l["id"].as_str().expect("an id").to_string());
            }
            assert!(
                headers.get("x-range-start").is_some(),
                "a model filter searches a range"
            );
            let Some(link) = headers.get("link") else {
                break;
            };
            let link = link.to_str().expect("text");
            let next = link
                .strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(p, _)| p.to_string())
                .unwrap_or_else(|| panic!("a next link: {link}"));
            assert!(next.contains("model=gpt-4o"), "{next}");
            path = next;
        }
        seen.dedup();
        assert_eq!(seen.len(), 3, "{}: every gpt-4o call once", app.engine());
    }
}

#[tokio::test]
async fn an_empty_value_is_no_filter_on_the_other_llmring_reads_too() {
    for app in TestApp::all().await {
        log(&app, "gpt-4o").await;
        let r = app
            .get("/api/v1/stats?start_date=&end_date=&group_by=")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.get("/api/v1/conversations/?limit=&offset=").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn the_root_and_health_answer_what_llmrings_server_commands_print_without_a_key() {
    for app in TestApp::all().await {
        let root: Value = app
            .http
            .get(format!("{}/", app.base))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(root["name"], "Tollgate");
        assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(root["docs"], "/docs");
        // `llmring server status` and `server init` print status, database and version|name.
        let health = app
            .http
            .get(format!("{}/health", app.base))
            .header("X-API-Key", &app.key)
            .send()
            .await
            .expect("send");
        assert_eq!(health.status(), 200);
        let health: Value = health.json().await.expect("json");
        for key in ["status", "database", "version", "name"] {
            assert!(health[key].is_string(), "{key}: {health}");
        }
        assert_eq!(health["name"], "Tollgate");
    }
}
