//! Billing routes: plans and limits, balances, the ledger, idempotent credits, settings and
//! usage reports, each at its canonical and its seed path.
//!
//! These run on a multi-threaded runtime, as the server does in production: on a current-thread
//! runtime a SQLite append waits for the write lock inline, blocking the very thread that would
//! let a background task's open write transaction (the hold expirer's first tick) commit, so
//! the first `/api/v1/log` after start could wait out the 10 s busy timeout and answer 503.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tollgate_core::time::{month_of, month_string, now_us};
use tollgate_store::Scope;

use crate::support::{assert_error, Reply, TestApp};

/// A request with any method, key and extra headers; the reply and its headers.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (Reply, HeaderMap) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("X-API-Key", key);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Reply { status, body }, headers)
}

async fn put(app: &TestApp, path: &str, body: &Value) -> Reply {
    send(app, Method::PUT, path, &app.key, &[], Some(body))
        .await
        .0
}

/// A top-up that must succeed; the transaction.
async fn topup(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/billing/topup", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body["transaction"].clone()
}

async fn keyed(app: &TestApp, path: &str, key: &str, body: Value) -> (Reply, HeaderMap) {
    let headers = [("Idempotency-Key", key)];
    send(app, Method::POST, path, &app.key, &headers, Some(&body)).await
}

async fn log_usage(app: &TestApp, body: Value) -> String {
    let r = app.post("/api/v1/log", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["log_id"].as_str().expect("log_id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_billing_route_answers_at_its_canonical_and_its_seed_path() {
    for app in TestApp::all().await {
        // The prepaid service's own paths answer in its shapes: see prepaid_shapes.rs.
        for (canonical, seed) in [
            ("/api/v1/billing/limits", "/billing/limits"),
            ("/api/v1/billing/usage", "/billing/usage"),
            ("/api/v1/billing/cost-report", "/billing/cost-report"),
        ] {
            let a = app.get(canonical).await;
            let b = app.get(seed).await;
            assert_eq!(a.status, 200, "{canonical}: {}", a.body);
            assert_eq!(a.body, b.body, "{seed} answers as {canonical}");
        }
        for (path, body) in [
            ("/api/v1/billing/topup", json!({"amount": "1"})),
            ("/api/billing/topup", json!({"amount_usd": 1})),
        ] {
            let r = app.post(path, &body).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        let r = app.get("/api/v1/billing/balance").await;
        assert_eq!(r.body["balance_usd"], "2.000000000", "{}", app.engine());
        for (path, plan) in [("/api/v1/billing/plan", "growth"), ("/billing/plan", "pro")] {
            let r = app.post(path, &json!({ "plan": plan })).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.body["plan"], plan);
        }
        let r = put(
            &app,
            "/api/v1/billing/settings",
            &json!({ "daily_limit": "20" }),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["limits"]["daily_usd"], "20.000000000");
        let r = put(
            &app,
            "/api/billing/settings",
            &json!({ "daily_limit_usd": 30 }),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["billing"]["limits"]["daily_usd"], json!(30.0));
        let r = app
            .post("/api/v1/billing/refund", &json!({"amount": "1"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post("/api/v1/billing/adjustment", &json!({"amount": "1"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["balance"]["balance_usd"], "4.000000000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_plan_needs_an_operator_key_and_a_known_plan() {
    for app in TestApp::all().await {
        let (_, admin) = app
            .tenant_key("acme", &[Scope::Ingest, Scope::Read, Scope::Admin])
            .await;
        let r = app
            .post_as(&admin, "/api/v1/billing/plan", &json!({"plan": "pro"}))
            .await;
        assert_error(&r, 403, "FORBIDDEN");

        let r = app
            .post("/api/v1/billing/plan", &json!({"plan": "platinum"}))
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        let known = r.body["error"]["known"].as_array().expect("known plans");
        assert!(known.contains(&json!("growth")), "{}", r.body);
        assert!(r.body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("starter"));
        let r = app.post("/api/v1/billing/plan", &json!({})).await;
        assert_error(&r, 422, "INVALID_FIELD");

        let r = app
            .post("/api/v1/billing/plan", &json!({"plan": "growth"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["limit"], 5000, "{}", app.engine());
        assert_eq!(
            app.get("/api/v1/billing/limits").await.body["plan"],
            "growth"
        );

        let r = app.post("/billing/plan", &json!({"plan": null})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["plan"], "starter",
            "null returns to the default plan"
        );
        assert_eq!(r.body["limit"], 500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_names_another_tenant_with_x_tenant_id() {
    for app in TestApp::all().await {
        let (tenant, reader) = app.tenant_key("acme", &[Scope::Read]).await;
        let (r, _) = send(
            &app,
            Method::POST,
            "/api/v1/billing/plan",
            &app.key,
            &[("X-Tenant-Id", &tenant)],
            Some(&json!({"plan": "pro"})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let theirs = app.get_as(&reader, "/api/v1/billing/limits").await;
        assert_eq!(theirs.body["plan"], "pro", "{}", app.engine());
        assert_eq!(theirs.body["limit"], Value::Null);
        assert_eq!(theirs.body["remaining"], Value::Null);
        let ours = app.get("/api/v1/billing/limits").await;
        assert_eq!(
            ours.body["plan"], "starter",
            "the operator's own tenant is unchanged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_view_counts_this_months_requests() {
    for app in TestApp::all().await {
        for _ in 0..3 {
            log_usage(&app, json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1})).await;
        }
        let r = app.get("/api/v1/billing/limits").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let month = month_of(now_us());
        let next = if month % 100 == 12 {
            month + 89
        } else {
            month + 1
        };
        assert_eq!(
            r.body,
            json!({
                "plan": "starter", "limit": 500, "used": 3, "reserved": 0, "remaining": 497,
                "resets_at": format!("{}-01T00:00:00Z", month_string(next)),
                "month": month_string(month),
            }),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_shows_in_the_balance_exactly() {
    for app in TestApp::all().await {
        let t = topup(
            &app,
            json!({"amount": "10", "user_id": "alice", "payment_provider": "stripe",
                   "payment_id": "pi_1", "description": "card", "metadata": {"order": 7}}),
        )
        .await;
        assert!(t["id"].as_str().expect("id").starts_with("txn_"));
        assert_eq!(t["type"], "topup");
        assert_eq!(t["amount"], "10.000000000");
        assert_eq!(t["currency"], "USD");
        assert_eq!(t["balance_before"], "0.000000000");
        assert_eq!(t["balance_after"], "10.000000000");
        assert_eq!(t["payment_provider"], "stripe");
        assert_eq!(t["payment_id"], "pi_1");
        assert_eq!(t["metadata"], json!({"order": 7}));
        assert_eq!(t["flags"], json!([]));
        let t = topup(&app, json!({"amount": "0.000000001", "user_id": "alice"})).await;
        assert_eq!(t["balance_after"], "10.000000001");

        let b = app.get("/api/v1/billing/balance?user_id=alice").await;
        assert_eq!(b.status, 200, "{}", b.body);
        assert_eq!(b.body["user_id"], "alice");
        assert_eq!(b.body["balance_usd"], "10.000000001", "{}", app.engine());
        assert_eq!(b.body["balance_uah"], "0.000000000");
        assert_eq!(
            b.body["balances"],
            json!({"USD": {"balance": "10.000000001", "held": "0.000000000",
                           "available": "10.000000001", "spent": "0.000000000"}})
        );
        assert_eq!(b.body["total_spent_usd"], "0.000000000");
        assert!(b.body["created_at"].is_string());
        let own = app.get("/api/v1/billing/balance").await;
        assert_eq!(
            own.body["balance_usd"], "0.000000000",
            "the tenant's own account is another account"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_never_used_shows_the_defaults_without_being_created() {
    for app in TestApp::all().await {
        let r = app.get("/api/v1/billing/balance?user_id=ghost").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["is_active"], true);
        assert_eq!(r.body["billing_enabled"], true);
        assert_eq!(r.body["limit_currency"], "USD");
        assert_eq!(
            r.body["limits"],
            json!({"currency": "USD", "daily": "10.000000000", "monthly": "100.000000000",
                   "daily_usd": "10.000000000", "monthly_usd": "100.000000000"})
        );
        assert_eq!(r.body["usage"]["today_usd"], "0.000000000");
        assert_eq!(r.body["usage"]["month_usd"], "0.000000000");
        assert_eq!(r.body["total_requests"], 0);
        assert_eq!(r.body["last_request_at"], Value::Null);
        assert_eq!(r.body["created_at"], Value::Null);
        assert_eq!(r.body["balances"], json!({}));
        let stored = app
            .db
            .store
            .account(&app.tenant_id, "ghost")
            .await
            .expect("read");
        assert!(
            stored.is_none(),
            "{}: reading must not create",
            app.engine()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_top_up_with_the_same_idempotency_key_is_posted_once() {
    for app in TestApp::all().await {
        let body = json!({"amount": "10", "user_id": "bob"});
        let post = |path: &'static str, body: Value| keyed(&app, path, "order-42", body);
        let (first, h1) = post("/api/v1/billing/topup", body.clone()).await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert!(h1.get("idempotent-replayed").is_none());
        let (second, h2) = post("/api/v1/billing/topup", body.clone()).await;
        assert_eq!(second.status, 200, "{}", second.body);
        assert_eq!(
            h2.get("idempotent-replayed").map(|v| v.as_bytes()),
            Some(&b"true"[..]),
            "{}",
            app.engine()
        );
        assert_eq!(second.body["transaction"], first.body["transaction"]);
        assert_eq!(second.body["balance"]["balance_usd"], "10.000000000");
        let h = app.get("/api/v1/billing/history?user_id=bob").await;
        assert_eq!(h.body["pagination"]["count"], 1, "{}", h.body);

        let (other, _) = post(
            "/api/v1/billing/topup",
            json!({"amount": "11", "user_id": "bob"}),
        )
        .await;
        assert_error(&other, 409, "CONFLICT");
        let (other_route, _) = post("/api/v1/billing/refund", body.clone()).await;
        assert_error(&other_route, 409, "CONFLICT");
        let b = app.get("/api/v1/billing/balance?user_id=bob").await;
        assert_eq!(b.body["balance_usd"], "10.000000000");

        let long = "k".repeat(256);
        let (r, _) = send(
            &app,
            Method::POST,
            "/api/v1/billing/topup",
            &app.key,
            &[("Idempotency-Key", &long)],
            Some(&body),
        )
        .await;
        assert_error(&r, 400, "INVALID_IDEMPOTENCY_KEY");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_amounts_and_currencies_are_refused_with_400() {
    for app in TestApp::all().await {
        for amount in [
            json!(5),
            json!("-1"),
            json!("0"),
            json!("abc"),
            json!("1.0000000001"),
            json!(""),
            json!("1e3"),
            json!("99999999999"),
            json!(null),
        ] {
            for path in ["/api/v1/billing/topup", "/api/v1/billing/adjustment"] {
                let r = app.post(path, &json!({ "amount": amount })).await;
                assert_error(&r, 400, "INVALID_AMOUNT");
                assert_eq!(r.body["error"]["field"], "amount", "{amount}");
            }
        }
        let r = app.post("/api/v1/billing/topup", &json!({})).await;
        assert_error(&r, 400, "INVALID_AMOUNT");
        for currency in [json!("usd1"), json!("X"), json!(840)] {
            let r = app
                .post(
                    "/api/v1/billing/topup",
                    &json!({"amount": "1", "currency": currency}),
                )
                .await;
            assert_error(&r, 400, "INVALID_CURRENCY");
        }
        let h = app.get("/api/v1/billing/history").await;
        assert_eq!(h.body["pagination"]["count"], 0, "nothing was posted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first_and_filters_by_type_and_time() {
    for app in TestApp::all().await {
        for amount in ["1", "2", "3"] {
            topup(&app, json!({"amount": amount, "user_id": "carol"})).await;
        }
        let r = app
            .post(
                "/api/v1/billing/refund",
                &json!({"amount": "4", "user_id": "carol"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let all = app.get("/api/v1/billing/history?user_id=carol").await;
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(
            all.body["pagination"],
            json!({"limit": 50, "offset": 0, "count": 4, "total": 4, "has_more": false})
        );
        let page1 = app
            .get("/api/v1/billing/history?user_id=carol&limit=3")
            .await;
        let page2 = app
            .get("/api/v1/billing/history?user_id=carol&limit=3&offset=3")
            .await;
        assert_eq!(page1.body["pagination"]["count"], 3, "{}", app.engine());
        assert_eq!(page1.body["pagination"]["total"], 4);
        assert_eq!(page1.body["pagination"]["has_more"], true);
        assert_eq!(page2.body["pagination"]["count"], 1);
        assert_eq!(page2.body["pagination"]["total"], 4);
        assert_eq!(page2.body["pagination"]["has_more"], false);
        let mut ids: Vec<Value> = page1.body["transactions"]
            .as_array()
            .expect("page 1")
            .iter()
            .chain(page2.body["transactions"].as_array().expect("page 2"))
            .map(|t| t["id"].clone())
            .collect();
        ids.sort_by_key(|v| v.to_string());
        ids.dedup();
        assert_eq!(ids.len(), 4, "pages do not overlap");

        let refunds = app
            .get("/api/v1/billing/history?user_id=carol&type=refund")
            .await;
        let list = refunds.body["transactions"].as_array().expect("list");
        assert_eq!(list.len(), 1, "{}", refunds.body);
        assert_eq!(list[0]["type"], "refund");
        assert_eq!(list[0]["balance_before"], "6.000000000");
        assert_eq!(list[0]["balance_after"], "10.000000000");

        let later = app
            .get("/api/v1/billing/history?user_id=carol&start=2999-01-01")
            .await;
        assert_eq!(later.body["pagination"]["count"], 0);
        let earlier = app
            .get("/api/v1/billing/history?user_id=carol&end=2000-01-01T00:00:00Z")
            .await;
        assert_eq!(earlier.body["pagination"]["count"], 0);
        let within = app
            .get("/api/v1/billing/history?user_id=carol&start=2000-01-01&end=2999-12-31")
            .await;
        assert_eq!(within.body["pagination"]["count"], 4);

        for bad in [
            "type=gift",
            "limit=0",
            "limit=501",
            "offset=-1",
            "start=yesterday",
            "start=2026-02-01&end=2026-01-01",
        ] {
            let r = app.get(&format!("/api/v1/billing/history?{bad}")).await;
            assert_error(&r, 400, "INVALID_QUERY");
        }
        for (bad, field) in [("type=gift", "type"), ("start=yesterday", "start")] {
            let r = app.get(&format!("/api/v1/billing/history?{bad}")).await;
            assert_eq!(r.body["error"]["field"], field, "{bad}: {}", r.body);
        }
        let long = "u".repeat(256);
        let r = app
            .get(&format!("/api/v1/billing/balance?user_id={long}"))
            .await;
        assert_error(&r, 400, "INVALID_QUERY");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_change_limits_and_null_removes_one() {
    for app in TestApp::all().await {
        let r = put(
            &app,
            "/api/v1/billing/settings",
            &json!({"user_id": "dave", "daily_limit": "25.5"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["limits"]["daily_usd"], "25.500000000");
        assert_eq!(
            r.body["limits"]["monthly_usd"], "100.000000000",
            "an absent limit is unchanged"
        );
        let r = put(
            &app,
            "/api/v1/billing/settings",
            &json!({"user_id": "dave", "monthly_limit": null, "is_active": false,
                    "billing_enabled": false}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["limits"]["monthly_usd"],
            Value::Null,
            "{}",
            app.engine()
        );
        assert_eq!(r.body["limits"]["daily_usd"], "25.500000000");
        assert_eq!(r.body["is_active"], false);
        assert_eq!(r.body["billing_enabled"], false);
        let b = app.get("/api/v1/billing/balance?user_id=dave").await;
        assert_eq!(b.body["limits"], r.body["limits"], "the change is stored");

        let r = put(
            &app,
            "/api/v1/billing/settings",
            &json!({"user_id": "dave", "daily_limit": "0"}),
        )
        .await;
        assert_eq!(r.body["limits"]["daily_usd"], "0.000000000", "{}", r.body);
        for bad in [json!("-1"), json!(5), json!("ten"), json!("0.0000000001")] {
            let r = put(
                &app,
                "/api/v1/billing/settings",
                &json!({"user_id": "dave", "daily_limit": bad}),
            )
            .await;
            assert_error(&r, 400, "INVALID_AMOUNT");
        }

        let (_, reader) = app.tenant_key("acme", &[Scope::Read]).await;
        let (r, _) = send(
            &app,
            Method::PUT,
            "/api/v1/billing/settings",
            &reader,
            &[],
            Some(&json!({"daily_limit": "1"})),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_debit_adjustments_move_the_balance_and_record_before_and_after() {
    for app in TestApp::all().await {
        topup(&app, json!({"amount": "10", "user_id": "erin"})).await;
        let log_id = log_usage(
            &app,
            json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1}),
        )
        .await;
        let r = app
            .post(
                "/api/v1/billing/refund",
                &json!({"amount": "2", "user_id": "erin", "log_id": log_id}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let t = &r.body["transaction"];
        assert_eq!(t["type"], "refund");
        assert_eq!(t["log_id"], json!(log_id));
        assert_eq!(t["balance_before"], "10.000000000");
        assert_eq!(t["balance_after"], "12.000000000");

        let r = app
            .post(
                "/api/v1/billing/adjustment",
                &json!({"amount": "3.5", "user_id": "erin", "direction": "debit",
                        "description": "goodwill reversal"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let t = &r.body["transaction"];
        assert_eq!(t["type"], "adjustment");
        assert_eq!(t["amount"], "3.500000000");
        assert_eq!(t["delta"], "-3.500000000");
        assert_eq!(t["balance_before"], "12.000000000");
        assert_eq!(t["balance_after"], "8.500000000", "{}", app.engine());
        assert_eq!(r.body["balance"]["balance_usd"], "8.500000000");

        let h = app.get("/api/v1/billing/history?user_id=erin").await;
        assert_eq!(h.body["pagination"]["count"], 3);

        let unknown = "00000000-0000-4000-8000-000000000000";
        let r = app
            .post(
                "/api/v1/billing/refund",
                &json!({"amount": "1", "log_id": unknown}),
            )
            .await;
        assert_error(&r, 404, "NOT_FOUND");
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "1", "log_id": log_id}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        let r = app
            .post(
                "/api/v1/billing/adjustment",
                &json!({"amount": "1", "direction": "sideways"}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_in_hryvnias_shows_as_balance_uah() {
    for app in TestApp::all().await {
        let t = topup(
            &app,
            json!({"amount": "100.25", "currency": "uah", "user_id": "olena"}),
        )
        .await;
        assert_eq!(t["currency"], "UAH");
        let b = app.get("/api/v1/billing/balance?user_id=olena").await;
        assert_eq!(b.body["balance_uah"], "100.250000000", "{}", app.engine());
        assert_eq!(b.body["balance_usd"], "0.000000000");
        let currencies: Vec<&String> = b.body["balances"]
            .as_object()
            .expect("balances")
            .keys()
            .collect();
        assert_eq!(currencies, ["UAH"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_key_cannot_move_money_or_change_the_plan() {
    for app in TestApp::all().await {
        let (_, reader) = app.tenant_key("acme", &[Scope::Read]).await;
        for path in [
            "/api/v1/billing/topup",
            "/api/billing/topup",
            "/api/v1/billing/refund",
            "/api/v1/billing/adjustment",
        ] {
            let r = app.post_as(&reader, path, &json!({"amount": "1"})).await;
            assert_error(&r, 403, "FORBIDDEN");
        }
        let r = app
            .post_as(&reader, "/billing/plan", &json!({"plan": "pro"}))
            .await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = app.get_as(&reader, "/api/v1/billing/balance").await;
        assert_eq!(r.status, 200, "reading is allowed: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_never_sees_this_tenants_accounts() {
    for app in TestApp::all().await {
        topup(&app, json!({"amount": "10", "user_id": "alice"})).await;
        let (_, other) = app.tenant_key("acme", &[Scope::Read]).await;
        let b = app
            .get_as(&other, "/api/v1/billing/balance?user_id=alice")
            .await;
        assert_eq!(b.status, 200, "{}", b.body);
        assert_eq!(b.body["balance_usd"], "0.000000000", "{}", app.engine());
        assert_eq!(b.body["created_at"], Value::Null);
        assert_eq!(b.body["balances"], json!({}));
        let h = app
            .get_as(&other, "/api/v1/billing/history?user_id=alice")
            .await;
        assert_eq!(h.body["transactions"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_the_cost_report_total_this_tenants_calls() {
    for app in TestApp::all().await {
        for _ in 0..2 {
            log_usage(
                &app,
                json!({"provider": "openai", "model": "gpt-4o", "user_id": "u1",
                                   "input_tokens": 1000, "output_tokens": 100}),
            )
            .await;
        }
        log_usage(
            &app,
            json!({"provider": "anthropic", "model": "claude-sonnet-4-6", "user_id": "u2",
                               "input_tokens": 1000, "output_tokens": 100}),
        )
        .await;
        log_usage(
            &app,
            json!({"provider": "openai", "model": "gpt-4o", "timestamp": "2025-01-15T12:00:00Z",
                               "input_tokens": 1000, "output_tokens": 100}),
        )
        .await;
        let (_, other) = app.tenant_key("acme", &[Scope::Ingest, Scope::Read]).await;
        let r = app
            .post_as(&other, "/api/v1/log", &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 5, "output_tokens": 5}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        for period in ["day", "month"] {
            let u = app
                .get(&format!("/api/v1/billing/usage?period={period}"))
                .await;
            assert_eq!(u.status, 200, "{}", u.body);
            assert_eq!(
                u.body["requests"],
                3,
                "{period} on {}: {}",
                app.engine(),
                u.body
            );
            assert_eq!(
                u.body["tokens"]["total"], 3300,
                "{period}: another tenant's call is not counted"
            );
            assert_eq!(u.body["cost"], json!({"USD": "0.011500000"}));
            assert_eq!(u.body["by_provider"]["openai"]["requests"], 2);
            assert_eq!(
                u.body["by_provider"]["anthropic"]["cost"],
                json!({"USD": "0.004500000"})
            );
        }
        let u = app.get("/billing/usage?period=month&user_id=u1").await;
        assert_eq!(u.body["requests"], 2, "{}", u.body);
        assert_eq!(u.body["cost"], json!({"USD": "0.007000000"}));
        let r = app.get("/api/v1/billing/usage?period=week").await;
        assert_error(&r, 400, "INVALID_QUERY");

        let month = app.get("/api/v1/billing/cost-report?range=month").await;
        assert_eq!(month.status, 200, "{}", month.body);
        assert_eq!(month.body["totals"]["requests"], 3);
        assert_eq!(month.body["by_model"]["gpt-4o"]["requests"], 2);
        assert_eq!(month.body["by_model"]["claude-sonnet-4-6"]["requests"], 1);
        let all = app.get("/billing/cost-report?range=all").await;
        assert_eq!(all.body["totals"]["requests"], 4, "{}", all.body);
        assert_eq!(
            all.body["by_provider"]["openai"]["cost"],
            json!({"USD": "0.010500000"})
        );
        assert_eq!(all.body["totals"]["cost"], json!({"USD": "0.015000000"}));
        let r = app.get("/api/v1/billing/cost-report?range=year").await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "range");
    }
}
