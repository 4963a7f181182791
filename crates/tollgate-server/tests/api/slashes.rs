//! Trailing slashes as llmring's server answers them: 307 to the served path, method, body
//! and query kept; a path served neither way stays a 404.

use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::support::{assert_error, usage, TestApp};

/// A client that shows redirects instead of following them.
fn not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The raw answer to `method path` with the app's key and an optional JSON body.
async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = not_following()
        .request(method, format!("{}{path}", app.base))
        .header("X-API-Key", &app.key);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.expect("send")
}

#[tokio::test]
async fn a_path_served_with_its_slash_toggled_is_a_307_to_it_with_an_absolute_location() {
    for app in TestApp::all().await {
        for (sent, served) in [
            ("/health/", "/health"),
            ("/registry", "/registry/"),
            (
                "/api/v1/logs/?limit=1&model=gpt-4o",
                "/api/v1/logs?limit=1&model=gpt-4o",
            ),
            (
                "/registry/openai/models.json/",
                "/registry/openai/models.json",
            ),
        ] {
            let resp = raw(&app, reqwest::Method::GET, sent, None).await;
            assert_eq!(resp.status(), 307, "{} GET {sent}", app.engine());
            assert_eq!(
                resp.headers()[LOCATION].to_str().expect("ascii"),
                format!("{}{served}", app.base),
                "GET {sent}"
            );
        }
        let post = raw(
            &app,
            reqwest::Method::POST,
            "/api/v1/log/",
            Some(&usage("gpt-4o", 1, 1)),
        )
        .await;
        assert_eq!(post.status(), 307);
        assert_eq!(
            post.headers()[LOCATION].to_str().expect("ascii"),
            format!("{}/api/v1/log", app.base)
        );
    }
}

#[tokio::test]
async fn a_following_client_keeps_the_method_the_body_and_the_query_through_the_redirect() {
    for app in TestApp::all().await {
        let logged = app.post("/api/v1/log/", &usage("gpt-4o", 1000, 500)).await;
        assert_eq!(logged.status, 200, "{}: {}", app.engine(), logged.body);
        assert_eq!(logged.body["cost_exact"], "0.007500000", "the body arrived");
        let logs = app.get("/api/v1/logs/?limit=1").await;
        assert_eq!(logs.status, 200, "{}", logs.body);
        let page = logs.body.as_array().expect("a bare array");
        assert_eq!(page.len(), 1, "the query arrived: {}", logs.body);
        assert_eq!(page[0]["id"], logged.body["log_id"]);

        let health = app.get("/health/").await;
        assert_eq!(health.status, 200);
        assert_eq!(health.body["status"], "ok");
    }
}

#[tokio::test]
async fn a_path_served_neither_way_is_still_a_404() {
    for app in TestApp::all().await {
        for path in [
            "/nothing-here",
            "/nothing-here/",
            "/api/v1/receipts/x/nothing/",
        ] {
            let resp = raw(&app, reqwest::Method::GET, path, None).await;
            assert_eq!(resp.status(), 404, "{} {path}", app.engine());
            assert!(resp.headers().get(LOCATION).is_none());
            let r = app.get(path).await;
            assert_error(&r, 404, "NOT_FOUND");
        }
        // Served as sent, with another method: 405, never a redirect.
        let resp = raw(&app, reqwest::Method::DELETE, "/health", None).await;
        assert_eq!(resp.status(), 405);
        let put = app
            .request_as(
                reqwest::Method::PUT,
                &app.key.clone(),
                "/health/",
                Some(&json!({})),
            )
            .await;
        assert_eq!(put.status, 405, "redirected to /health, which takes no PUT");
    }
}
