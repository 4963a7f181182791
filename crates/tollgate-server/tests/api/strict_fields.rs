//! No request-body member is silently dropped: an unknown one is 422 `INVALID_FIELD` naming
//! its JSON path (`error.field`) and, when one is near, the field it probably meant
//! (`error.suggestion`), and the request writes nothing. Every route with a JSON body is
//! covered, found from the OpenAPI document so that a new route is covered too.
//!
//! The fields llmring 1.3.0 and 1.4.0 send are accepted: `llmring_fields.rs`.
//!
//! Multi-threaded, as the server runs: see `billing.rs` for why a SQLite append needs it.

use serde_json::{json, Value};

use crate::support::{assert_error, usage, Reply, TestApp};

/// Asserts a 422 naming `field`, suggesting `suggestion` (or nothing).
#[track_caller]
fn assert_unknown(r: &Reply, field: &str, suggestion: Option<&str>) {
    assert_error(r, 422, "INVALID_FIELD");
    assert_eq!(r.body["error"]["field"], field, "{}", r.body);
    assert_eq!(
        r.body["error"].get("suggestion").and_then(Value::as_str),
        suggestion,
        "{}",
        r.body
    );
    let message = r.body["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("unknown field '{field}'")),
        "{message}"
    );
}

async fn put(app: &TestApp, path: &str, body: &Value) -> Reply {
    let resp = app
        .http
        .put(format!("{}{path}", app.base))
        .header("X-API-Key", &app.key)
        .json(body)
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply { status, body }
}

async fn calls(app: &TestApp) -> Value {
    app.get("/api/v1/stats").await.body["summary"]["total_requests"].clone()
}

async fn balance(app: &TestApp, user: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/billing/balance?user_id={user}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["balance_usd"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_a_json_body_refuses_an_unknown_field() {
    let app = TestApp::all().await.remove(0);
    let doc = app.get("/openapi.json").await.body;
    let mut checked = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            // A bare receipt is checked whole: every member is signed, so an added one makes
            // it invalid instead (see the verify test below). A prompt's rendering takes any
            // object as its arguments (llmring-mcp §1.3, M17). A payment provider's event is
            // the provider's shape, which grows: it is signed, and read for what it pays.
            if op.get("requestBody").is_none()
                || path == "/api/v1/receipts/verify"
                || path == "/api/v1/mcp/prompts/{id}/render"
                || path.starts_with("/api/v1/payments/")
            {
                continue;
            }
            // Path parameters get a value of their own; a new one must be added here.
            let url = path
                .replace("{name}", "zzz-plan")
                .replace("{key_id}", "key_zzz")
                .replace("{user_id}", "zzz-user")
                .replace("{id}", "00000000-0000-0000-0000-000000000000");
            assert!(!url.contains('{'), "{path}: fill in its path parameters");
            let req = match method.as_str() {
                "post" => app.http.post(format!("{}{url}", app.base)),
                "put" => app.http.put(format!("{}{url}", app.base)),
                "patch" => app.http.patch(format!("{}{url}", app.base)),
                other => panic!("{other} {path}: a method this test does not send"),
            };
            let resp = req
                .header("X-API-Key", &app.key)
                .json(&json!({"zzz_not_a_field": 1}))
                .send()
                .await
                .expect("send");
            let r = Reply {
                status: resp.status(),
                body: resp.json().await.unwrap_or(Value::Null),
            };
            assert_unknown(&r, "zzz_not_a_field", None);
            // An array is never read as an object, member by member.
            let req = app.http.request(
                method.to_uppercase().parse().expect("method"),
                format!("{}{url}", app.base),
            );
            let resp = req
                .header("X-API-Key", &app.key)
                .json(&json!([]))
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 422, "{method} {path} took an array");
            checked.push(format!("{method} {path}"));
        }
    }
    // The routes the issue lists, aliases included: the document must not lose any.
    for route in [
        "post /api/v1/log",
        "post /api/v1/log/batch",
        "post /api/v1/conversations/log",
        "post /api/v1/conversations/",
        "post /api/v1/conversations",
        "patch /api/v1/conversations/{id}",
        "post /api/v1/conversations/{id}/messages",
        "post /api/v1/conversations/{id}/messages/batch",
        "post /api/v1/receipts/generate",
        "post /api/v1/receipts/preview",
        "post /api/v1/authorize",
        "post /api/v1/billing/plan",
        "post /billing/plan",
        "post /api/v1/billing/topup",
        "post /api/billing/topup",
        "post /api/v1/billing/refund",
        "post /api/v1/billing/adjustment",
        "put /api/v1/billing/settings",
        "put /api/billing/settings",
        "post /api/v1/webhooks",
        "put /api/v1/alerts/email",
        "put /api/v1/plans/{name}",
        "post /api/v1/mcp/servers",
        "patch /api/v1/mcp/servers/{id}",
        "put /api/v1/mcp/servers/{id}",
        "post /api/v1/mcp/servers/{id}/refresh",
        "post /api/v1/mcp/tools",
        "patch /api/v1/mcp/tools/{id}",
        "post /api/v1/mcp/tools/{id}/execute",
    ] {
        assert!(checked.iter().any(|c| c == route), "{route}: {checked:?}");
    }
    assert_eq!(calls(&app).await, 0);
    let plans = app.get("/api/v1/plans").await.body;
    assert!(!plans.to_string().contains("zzz-plan"), "{plans}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_user_id_on_a_log_is_refused_with_did_you_mean_and_nothing_is_charged() {
    for app in TestApp::all().await {
        let mut body = usage("gpt-4o", 10, 5);
        body["userid"] = json!("dave");
        let r = app.post("/api/v1/log", &body).await;
        assert_unknown(&r, "userid", Some("user_id"));
        assert_eq!(
            r.body["error"]["message"],
            "unknown field 'userid'; did you mean 'user_id'?"
        );
        assert_eq!(calls(&app).await, 0, "{}", app.engine());
        assert_eq!(app.get("/api/v1/logs").await.body, json!([]));
        let dave = app.db.store.account(&app.tenant_id, "dave").await;
        assert!(dave.expect("account").is_none(), "{}", app.engine());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_event_with_an_unknown_field_is_rejected_by_its_index_alone() {
    for app in TestApp::all().await {
        let mut bad = usage("gpt-4o", 10, 5);
        bad["userid"] = json!("dave");
        let events = json!([
            usage("gpt-4o", 1, 1),
            usage("gpt-4o", 2, 2),
            usage("gpt-4o", 3, 3),
            bad
        ]);
        let r = app
            .post("/api/v1/log/batch", &json!({ "events": events }))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let item = &r.body["results"][3];
        assert_eq!(
            (&item["index"], &item["status"]),
            (&json!(3), &json!("rejected"))
        );
        assert_eq!(item["error"]["code"], "INVALID_FIELD");
        assert_eq!(item["error"]["field"], "events[3].userid", "{item}");
        assert_eq!(item["error"]["suggestion"], "user_id");
        assert_eq!(
            (&r.body["recorded"], &r.body["rejected"]),
            (&json!(3), &json!(1))
        );
        assert_eq!(calls(&app).await, 3, "{}", app.engine());

        // Beside `events`, an unknown member rejects the whole batch.
        let r = app
            .post(
                "/api/v1/log/batch",
                &json!({"events": [usage("gpt-4o", 1, 1)], "evnts": []}),
            )
            .await;
        assert_unknown(&r, "evnts", Some("events"));
        assert_eq!(calls(&app).await, 3, "{}", app.engine());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_anywhere_in_a_conversation_log_is_refused_by_its_path() {
    for app in TestApp::all().await {
        let good = json!({
            "messages": [{"role": "user", "content": "Hi"}],
            "response": {"content": "Hello", "model": "openai:gpt-4o-mini", "finish_reason": "stop",
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "any_provider_member": 0}},
            "metadata": {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 3, "output_tokens": 1}
        });
        for (pointer, key, field, suggestion) in [
            ("", "userid", "userid", Some("user_id")),
            ("/messages/0", "rol", "messages[0].rol", Some("role")),
            (
                "/response",
                "finish_reson",
                "response.finish_reson",
                Some("finish_reason"),
            ),
            (
                "/metadata",
                "input_token",
                "metadata.input_token",
                Some("input_tokens"),
            ),
        ] {
            let mut body = good.clone();
            body.pointer_mut(pointer).expect("object")[key] = json!(1);
            let r = app.post("/api/v1/conversations/log", &body).await;
            assert_unknown(&r, field, suggestion);
        }
        assert_eq!(app.get("/api/v1/conversations/").await.body, json!([]));
        assert_eq!(calls(&app).await, 0, "{}", app.engine());
        // The provider's usage object stays free-form.
        let r = app.post("/api/v1/conversations/log", &good).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_request_with_an_unknown_field_signs_nothing() {
    for app in TestApp::all().await {
        assert_eq!(
            app.post("/api/v1/log", &usage("gpt-4o", 1, 1)).await.status,
            200
        );
        let r = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true, "tag": ["q3"]}),
            )
            .await;
        assert_unknown(&r, "tag", Some("tags"));
        let r = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"since_last_reciept": true}),
            )
            .await;
        assert_unknown(&r, "since_last_reciept", Some("since_last_receipt"));
        assert_eq!(app.get("/api/v1/receipts").await.body["total"], 0);
        assert_eq!(
            app.get("/api/v1/receipts/uncertified").await.body["total"],
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_wrapper_takes_one_member_and_a_bare_receipt_is_checked_whole() {
    for app in TestApp::all().await {
        assert_eq!(
            app.post("/api/v1/log", &usage("gpt-4o", 1, 1)).await.status,
            200
        );
        let g = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(g.status, 200, "{}", g.body);
        let receipt = g.body["receipt"].clone();
        let id = receipt["receipt_id"].clone();

        let r = app
            .post("/api/v1/receipts/verify", &json!({"receipt": receipt}))
            .await;
        assert_eq!(r.body["valid"], true, "{}", r.body);
        let r = app
            .post(
                "/api/v1/receipts/verify",
                &json!({"receipt": receipt, "recipt_id": id}),
            )
            .await;
        assert_unknown(&r, "recipt_id", None);
        let r = app
            .post(
                "/api/v1/receipts/verify",
                &json!({"receipt_id": id, "reciept": {}}),
            )
            .await;
        assert_unknown(&r, "reciept", None);

        let mut added = receipt.clone();
        added["userid"] = json!("dave");
        let r = app.post("/api/v1/receipts/verify", &added).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["valid"], false, "an added member is not signed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_with_an_unknown_field_holds_nothing() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "1", "user_id": "u"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "0.5", "hold": true, "hold_ttl": 60}),
            )
            .await;
        assert_unknown(&r, "hold_ttl", Some("hold_ttl_seconds"));
        let u = app.db.store.account(&app.tenant_id, "u").await;
        let held = u.expect("account").expect("exists").balances[0].held;
        assert_eq!(held.0, 0, "{}", app.engine());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_with_an_unknown_field_leaves_every_balance_alone() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "5", "user_id": "u"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let log = app.post("/api/v1/log", &usage("gpt-4o", 1, 1)).await;
        let log_id = log.body["log_id"].clone();
        for (path, body, field, suggestion) in [
            // Without the check this would credit the tenant's own account, not u's.
            (
                "/api/v1/billing/topup",
                json!({"amount": "1", "userid": "u"}),
                "userid",
                "user_id",
            ),
            (
                "/api/billing/topup",
                json!({"amount_usd": 1, "user_id": "u", "descripton": "x"}),
                "descripton",
                "description",
            ),
            (
                "/api/v1/billing/refund",
                json!({"amount": "1", "user_id": "u", "logid": log_id}),
                "logid",
                "log_id",
            ),
            (
                "/api/v1/billing/adjustment",
                json!({"amount": "1", "user_id": "u", "directon": "debit"}),
                "directon",
                "direction",
            ),
        ] {
            let r = app.post(path, &body).await;
            assert_unknown(&r, field, Some(suggestion));
        }
        assert_eq!(balance(&app, "u").await, "5.000000000", "{}", app.engine());
        let own = app.get("/api/v1/billing/balance").await;
        assert_eq!(own.body["balance_usd"], "0.000000000", "{}", own.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_settings_and_webhooks_with_an_unknown_field_change_nothing() {
    for app in TestApp::all().await {
        let plan = app.get("/api/v1/billing/limits").await.body["plan"].clone();
        for path in ["/api/v1/billing/plan", "/billing/plan"] {
            let r = app.post(path, &json!({"plan_name": "growth"})).await;
            assert_unknown(&r, "plan_name", Some("plan"));
        }
        assert_eq!(app.get("/api/v1/billing/limits").await.body["plan"], plan);

        for (path, body, suggestion) in [
            (
                "/api/v1/billing/settings",
                json!({"user_id": "erin", "daily_limit": "1", "montly_limit": "2"}),
                "monthly_limit",
            ),
            (
                "/api/billing/settings",
                json!({"user_id": "erin", "daily_limit_usd": 1, "montly_limit": 2}),
                "monthly_limit_usd",
            ),
        ] {
            let r = put(&app, path, &body).await;
            assert_unknown(&r, "montly_limit", Some(suggestion));
        }
        let erin = app.db.store.account(&app.tenant_id, "erin").await;
        assert!(erin.expect("account").is_none(), "{}", app.engine());

        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/t", "event_type": ["balance.low"]}),
            )
            .await;
        assert_unknown(&r, "event_type", Some("event_types"));
        assert_eq!(
            app.get("/api/v1/webhooks").await.body["webhooks"],
            json!([])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_request_body_is_documented_as_closed() {
    let app = TestApp::all().await.remove(0);
    let doc = app.get("/openapi.json").await.body;
    let schemas = &doc["components"]["schemas"];
    let mut stack: Vec<String> = Vec::new();
    let mut bodies = 0;
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("operations").values() {
            if let Some(r) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                stack.push(r.to_string());
                bodies += 1;
            }
        }
    }
    assert!(bodies >= 14, "{bodies}");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(r) = stack.pop() {
        let name = r.rsplit('/').next().expect("name").to_string();
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = &schemas[&name];
        // Enumerations and one-of-several values (a role, a message's text or parts) are not
        // objects: nothing to close.
        if schema.get("enum").is_none() && schema.get("oneOf").is_none() {
            assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
        }
        // Nested request types are closed too (free-form members are inline objects).
        let text = schema.to_string();
        for piece in text.split("\"$ref\":\"").skip(1) {
            stack.push(piece.split('"').next().expect("ref").to_string());
        }
    }
    assert!(seen.contains("ConversationMessage"), "{seen:?}");
}
