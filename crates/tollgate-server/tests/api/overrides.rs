//! Admin overrides over HTTP: an overdraft, a suspension and an exemption from limits change
//! what `authorize` decides, and each change is in the account's audit trail with who made it.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_server::keys;
use tollgate_store::Scope;

use crate::support::{assert_error, top_up, usage, TestApp};

async fn set(app: &TestApp, body: Value) -> Value {
    let r = app
        .request_as(
            Method::PUT,
            &app.key,
            "/api/v1/billing/overrides",
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body
}

async fn authorize(app: &TestApp, user: &str, cost: &str) -> (u16, Value) {
    let r = app
        .post(
            "/api/v1/authorize",
            &json!({"user_id": user, "estimated_cost": cost}),
        )
        .await;
    (r.status.as_u16(), r.body)
}

async fn audit(app: &TestApp, user: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/billing/audit?user_id={user}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["entries"].as_array().expect("entries").clone()
}

#[tokio::test]
async fn an_overdraft_lets_calls_through_until_the_balance_would_pass_it_and_is_audited() {
    for app in TestApp::all().await {
        top_up(&app, "olga", "1").await;
        assert_eq!(
            authorize(&app, "olga", "3").await.0,
            402,
            "{}",
            app.engine()
        );

        let o = set(
            &app,
            json!({"user_id": "olga", "overdraft": "5.00", "currency": "USD",
                   "reason": "invoice customer, pays monthly"}),
        )
        .await;
        assert_eq!(o["overdraft"]["USD"], "5.000000000");
        assert_eq!(o["suspended"], false);

        let (status, body) = authorize(&app, "olga", "3").await;
        assert_eq!(status, 200, "{}: {body}", app.engine());
        assert_eq!(body["balance"]["overdraft"], "5.000000000");
        // One plus five is six: six passes, a little more does not.
        assert_eq!(authorize(&app, "olga", "6").await.0, 200);
        let (status, body) = authorize(&app, "olga", "6.000000001").await;
        assert_eq!(status, 402, "{body}");
        assert_eq!(body["error"]["code"], "INSUFFICIENT_BALANCE");

        let entries = audit(&app, "olga").await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["action"], "overdraft");
        assert_eq!(entries[0]["detail"]["amount"], "5.000000000");
        assert_eq!(entries[0]["detail"]["currency"], "USD");
        assert!(entries[0]["set_by"]
            .as_str()
            .expect("set_by")
            .starts_with("key_"));
    }
}

#[tokio::test]
async fn a_suspended_account_is_refused_before_the_call_but_still_charged_for_what_happened() {
    for app in TestApp::all().await {
        top_up(&app, "sam", "10").await;
        let o = set(
            &app,
            json!({"user_id": "sam", "suspended": true, "reason": "chargeback under review"}),
        )
        .await;
        assert_eq!(o["suspended"], true);
        assert_eq!(o["suspended_reason"], "chargeback under review");

        let (status, body) = authorize(&app, "sam", "0.01").await;
        assert_eq!(status, 402, "{}: {body}", app.engine());
        assert_eq!(body["error"]["code"], "ACCOUNT_DISABLED");

        // A call that already happened is recorded and charged anyway.
        let mut call = usage("gpt-4o-mini", 1_000_000, 0);
        call["user_id"] = json!("sam");
        let r = app.post("/api/v1/log", &call).await;
        assert!(r.status.is_success(), "{}", r.body);
        let balance = app.get("/api/v1/billing/balance?user_id=sam").await;
        assert_ne!(
            balance.body["balance_usd"], "10.000000000",
            "{}",
            balance.body
        );

        let o = set(
            &app,
            json!({"user_id": "sam", "suspended": false, "reason": "resolved"}),
        )
        .await;
        assert_eq!(o["suspended"], false);
        assert_eq!(o["suspended_reason"], Value::Null);
        assert_eq!(authorize(&app, "sam", "0.01").await.0, 200);

        let entries = audit(&app, "sam").await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions, ["resume", "suspend"], "newest first");
        assert_eq!(entries[1]["detail"]["reason"], "chargeback under review");
        assert_eq!(entries[0]["detail"]["reason"], "resolved");
    }
}

#[tokio::test]
async fn an_exemption_lifts_spending_and_rate_limits_until_it_ends() {
    for app in TestApp::all().await {
        top_up(&app, "eve", "50").await;
        // The test accounts' daily limit is 10.
        let (status, body) = authorize(&app, "eve", "12").await;
        assert_eq!(status, 402, "{body}");
        assert_eq!(body["error"]["code"], "DAILY_LIMIT_EXCEEDED");
        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                "/api/v1/plans/limited",
                Some(&json!({"monthly_requests": null,
                             "rate_limits": {"user": {"requests_per_minute": 1}}})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        let r = app
            .post("/api/v1/billing/plan", &json!({"plan": "limited"}))
            .await;
        assert!(r.status.is_success(), "{}", r.body);

        let o = set(
            &app,
            json!({"user_id": "eve", "exempt_until": "2099-01-01T00:00:00Z",
                   "reason": "launch day"}),
        )
        .await;
        assert_eq!(o["exempt_until"], "2099-01-01T00:00:00.000000Z");
        for _ in 0..2 {
            let (status, body) = authorize(&app, "eve", "12").await;
            assert_eq!(status, 200, "{}: {body}", app.engine());
            assert_eq!(body["rate_limits"], json!([]), "the user's limit is lifted");
        }

        let o = set(&app, json!({"user_id": "eve", "exempt_until": null})).await;
        assert_eq!(o["exempt_until"], Value::Null);
        // Calls made while exempt did not count against the user's rate limit; the daily
        // limit is back.
        let (status, body) = authorize(&app, "eve", "12").await;
        assert_eq!(status, 402, "{body}");
        assert_eq!(body["error"]["code"], "DAILY_LIMIT_EXCEEDED");
        assert_eq!(body["error"]["rate_limits"][0]["requests_used"], 0);

        let entries = audit(&app, "eve").await;
        assert_eq!(entries[0]["detail"]["until"], Value::Null);
        assert_eq!(entries[1]["detail"]["until"], "2099-01-01T00:00:00.000000Z");
        assert_eq!(entries[1]["detail"]["reason"], "launch day");
    }
}

#[tokio::test]
async fn overrides_are_an_admins_and_bad_ones_are_refused_by_name() {
    for app in TestApp::all().await {
        let k = keys::generate(&app.tenant_id, vec![Scope::Billing], None);
        let billing_only = k.secret.clone();
        app.db.store.create_key(k.record).await.expect("key");
        let r = app
            .request_as(
                Method::PUT,
                &billing_only,
                "/api/v1/billing/overrides",
                Some(&json!({"user_id": "x", "suspended": true})),
            )
            .await;
        assert_error(&r, 403, "FORBIDDEN");

        let bad = |body: Value| {
            let app = &app;
            async move {
                app.request_as(
                    Method::PUT,
                    &app.key,
                    "/api/v1/billing/overrides",
                    Some(&body),
                )
                .await
            }
        };
        let r = bad(json!({"user_id": "x", "exempt_until": "2001-01-01T00:00:00Z"})).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "exempt_until");
        let r = bad(json!({"user_id": "x", "exempt_until": "soon"})).await;
        assert_eq!(r.body["error"]["field"], "exempt_until");
        let r = bad(json!({"user_id": "x", "overdraft": "-5"})).await;
        assert_error(&r, 400, "INVALID_AMOUNT");
        assert_eq!(r.body["error"]["field"], "overdraft");
        let r = bad(json!({"user_id": "x", "currency": "USD"})).await;
        assert_eq!(r.body["error"]["field"], "currency");
        let r = bad(json!({"user_id": "x"})).await;
        assert_error(&r, 422, "INVALID_FIELD");
        // Nothing above wrote anything.
        let r = app.get("/api/v1/billing/overrides?user_id=x").await;
        assert_error(&r, 404, "NOT_FOUND");
        assert!(audit(&app, "x").await.is_empty());
    }
}
