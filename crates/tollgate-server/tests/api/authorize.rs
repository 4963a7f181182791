use std::sync::Arc;

use serde_json::{json, Value};
use tollgate_core::Nanos;

use crate::support::{assert_error, top_up, TestApp};

async fn held(app: &TestApp, user: &str) -> (Nanos, Nanos) {
    let a = app
        .db
        .store
        .account(&app.tenant_id, user)
        .await
        .expect("account")
        .expect("exists");
    let b = &a.balances[0];
    (b.balance, b.held)
}

#[tokio::test]
async fn concurrent_holds_never_take_more_than_the_balance() {
    for app in TestApp::all().await {
        top_up(&app, "u", "1").await;
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for _ in 0..60 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                app.post(
                    "/api/v1/authorize",
                    &json!({"user_id": "u", "estimated_cost": "0.05", "hold": true}),
                )
                .await
            }));
        }
        let mut allowed = 0;
        for t in tasks {
            let r = t.await.expect("task");
            match r.status.as_u16() {
                200 => {
                    assert_eq!(r.body["allowed"], true);
                    assert!(r.body["hold_id"].as_str().is_some());
                    allowed += 1;
                }
                402 => assert_eq!(
                    r.body["error"]["code"], "INSUFFICIENT_BALANCE",
                    "{}",
                    r.body
                ),
                other => panic!("{}: {other}: {}", app.engine(), r.body),
            }
        }
        assert_eq!(
            allowed,
            20,
            "{}: $1.00 holds exactly twenty $0.05 calls",
            app.engine()
        );
        assert_eq!(
            held(&app, "u").await,
            (
                Nanos::parse_exact("1").expect("n"),
                Nanos::parse_exact("1").expect("n")
            )
        );
        let audit = app.db.store.audit().await.expect("audit");
        assert!(audit.findings.is_empty(), "{:?}", audit.findings);
    }
}

#[tokio::test]
async fn a_refusal_is_a_402_with_its_code_a_message_and_the_numbers() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "broke", "estimated_cost": "0.01"}),
            )
            .await;
        assert_error(&r, 402, "INSUFFICIENT_BALANCE");
        let e = &r.body["error"];
        assert_eq!(e["allowed"], false);
        assert_eq!(e["balance"]["available"], "0.000000000");
        assert_eq!(e["quota"]["plan"], "starter");
        assert_eq!(e["quota"]["limit"], 500);
        assert_eq!(e["limits"]["daily"], "10.000000000");

        top_up(&app, "rich", "50").await;
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "rich", "estimated_cost": "10.5"}),
            )
            .await;
        assert_error(&r, 402, "DAILY_LIMIT_EXCEEDED");
        // A price-book estimate: gpt-4o, 1M input tokens = $2.50.
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "rich", "provider": "openai", "model": "gpt-4o",
                        "estimated_input_tokens": 1_000_000}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["estimate"]["amount"], "2.500000000");
        assert_eq!(r.body["hold_id"], Value::Null, "no hold unless asked");
        // A bare model name is priced as /api/v1/log prices it: by the one provider that
        // prices it.
        for model in ["gpt-4o", "gpt-4o-2024-08-06", "openai:gpt-4o"] {
            let r = app
                .post(
                    "/api/v1/authorize",
                    &json!({"user_id": "rich", "model": model,
                            "estimated_input_tokens": 1_000_000}),
                )
                .await;
            assert_eq!(r.status, 200, "{model}: {}", r.body);
            assert_eq!(r.body["estimate"]["amount"], "2.500000000", "{model}");
        }
        // The estimate is priced at the service tier the call will be served at: GPT-5
        // priority is $2.50 per million input tokens, batch half of $1.25.
        for (tier, amount) in [("priority", "2.500000000"), ("batch", "0.625000000")] {
            let r = app
                .post(
                    "/api/v1/authorize",
                    &json!({"user_id": "rich", "model": "gpt-5", "service_tier": tier,
                            "estimated_input_tokens": 1_000_000}),
                )
                .await;
            assert_eq!(r.status, 200, "{tier}: {}", r.body);
            assert_eq!(r.body["estimate"]["amount"], amount, "{tier}");
        }
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "rich", "estimated_cost": "0.01", "service_tier": "turbo"}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "service_tier");
    }
}

#[tokio::test]
async fn a_hold_is_settled_by_the_usage_event_that_names_it() {
    for app in TestApp::all().await {
        top_up(&app, "u", "5").await;
        let a = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "1", "hold": true, "hold_ttl_seconds": 60}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let hold = a.body["hold_id"].as_str().expect("hold").to_string();
        assert!(hold.starts_with("hold_"));
        let call = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1000,
                          "output_tokens": 100, "user_id": "u", "hold_id": hold,
                          "request_id": "call-1"});
        let r = app.post("/api/v1/log", &call).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let again = app.post("/api/v1/log", &call).await;
        assert_eq!(again.body["duplicate"], true);
        // 1000 × $2.50 + 100 × $10 per million = $0.0035.
        assert_eq!(
            held(&app, "u").await,
            (Nanos::parse_exact("4.9965").expect("n"), Nanos::ZERO),
            "{}",
            app.engine()
        );
        let released = app
            .post(&format!("/api/v1/authorize/{hold}/release"), &json!({}))
            .await;
        assert_error(&released, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn an_unused_hold_can_be_released_by_its_tenant_only() {
    for app in TestApp::all().await {
        top_up(&app, "u", "5").await;
        let a = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "2", "hold": true}),
            )
            .await;
        let hold = a.body["hold_id"].as_str().expect("hold").to_string();
        let (_, other) = app
            .tenant_key("other", &tollgate_store::Scope::ALL[..2])
            .await;
        let theirs = app
            .post_as(
                &other,
                &format!("/api/v1/authorize/{hold}/release"),
                &json!({}),
            )
            .await;
        assert_error(&theirs, 404, "NOT_FOUND");
        let ours = app
            .post(&format!("/api/v1/authorize/{hold}/release"), &json!({}))
            .await;
        assert_eq!(ours.status, 200, "{}", ours.body);
        assert_eq!(held(&app, "u").await.1, Nanos::ZERO);
    }
}

#[tokio::test]
async fn bad_authorize_input_is_refused_with_the_field_named() {
    let app = TestApp::all().await.remove(0);
    for (body, field) in [
        (json!({"estimated_cost": "-1"}), "estimated_cost"),
        (json!({"estimated_cost": "abc"}), "estimated_cost"),
        (
            json!({"hold": true, "hold_ttl_seconds": 0}),
            "hold_ttl_seconds",
        ),
        (json!({"currency": "dollars"}), "currency"),
        (
            json!({"model": "no-such-model", "estimated_input_tokens": 10}),
            "model",
        ),
    ] {
        let r = app.post("/api/v1/authorize", &body).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let r = app
        .post("/api/v1/authorize", &json!({"colour": "red"}))
        .await;
    assert_error(&r, 422, "INVALID_FIELD");
}

/// Posts `body` as it is written, so a JSON number keeps its digits.
async fn post_text(app: &TestApp, path: &str, body: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .header("X-API-Key", &app.key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_estimated_cost_sent_as_a_number_is_read_from_its_digits_not_through_a_float() {
    let app = TestApp::all().await.remove(0);
    // Floats this large are 2^-29 apart: through one, this would be 12345678.000000002.
    let (status, body) = post_text(
        &app,
        "/api/v1/authorize",
        r#"{"estimated_cost": 12345678.000000001}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["estimate"]["amount"], "12345678.000000001");
    let (status, body) = post_text(&app, "/api/v1/authorize", r#"{"estimated_cost": 25e-3}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["estimate"]["amount"], "0.025000000");
    for refused in ["0.0000000001", "-1", "true"] {
        let (status, body) = post_text(
            &app,
            "/api/v1/authorize",
            &format!(r#"{{"estimated_cost": {refused}}}"#),
        )
        .await;
        assert_eq!(status, 422, "{refused}: {body}");
        assert_eq!(
            body["error"]["field"], "estimated_cost",
            "{refused}: {body}"
        );
    }
}

async fn metrics_text(app: &TestApp) -> String {
    app.http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_decisions_by_outcome_and_the_holds_the_expiry_job_releases() {
    for app in TestApp::all_with(|s| s.billing.expire_holds_seconds = 1).await {
        top_up(&app, "u", "1").await;
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "0.5", "hold": true, "hold_ttl_seconds": 1}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "0.75"}),
            )
            .await;
        assert_error(&r, 402, "INSUFFICIENT_BALANCE");
        let text = metrics_text(&app).await;
        assert!(text.contains("tollgate_authorize_decisions_total{outcome=\"allowed\"} 1"));
        assert!(
            text.contains("tollgate_authorize_decisions_total{outcome=\"INSUFFICIENT_BALANCE\"} 1")
        );

        let mut released = false;
        for _ in 0..50 {
            let text = metrics_text(&app).await;
            if text.contains("tollgate_holds_expired_total 1")
                && text.contains("tollgate_holds_open 0")
            {
                released = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(released, "{}", metrics_text(&app).await);
        assert_eq!(
            held(&app, "u").await,
            (Nanos::parse_exact("1").expect("n"), Nanos::ZERO)
        );
    }
}
