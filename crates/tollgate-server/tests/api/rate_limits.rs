//! Rate limits over HTTP: requests and tokens per minute per key, per user and per client
//! IP, set by the plan and overridden per key or user, refused with 429 and `Retry-After`,
//! and counted exactly across instances sharing PostgreSQL.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_server::keys;
use tollgate_store::Scope;

use crate::support::{assert_error, top_up, TestApp};

/// Puts the test tenant on a plan named `limited` with `rate_limits`.
async fn limit(app: &TestApp, rate_limits: Value) {
    let r = app
        .request_as(
            Method::PUT,
            &app.key,
            "/api/v1/plans/limited",
            Some(&json!({"monthly_requests": null, "rate_limits": rate_limits})),
        )
        .await;
    assert!(r.status.is_success(), "{}: {}", app.engine(), r.body);
    let r = app
        .post("/api/v1/billing/plan", &json!({"plan": "limited"}))
        .await;
    assert!(r.status.is_success(), "{}: {}", app.engine(), r.body);
}

/// A key of the test tenant with `scopes`: (id, secret).
async fn key_of(app: &TestApp, scopes: &[Scope]) -> (String, String) {
    let k = keys::generate(&app.tenant_id, scopes.to_vec(), None);
    let id = k.record.id.clone();
    app.db.store.create_key(k.record).await.expect("key");
    (id, k.secret)
}

/// Authorizes as `key` from the client address `forwarded` (when the server trusts its
/// proxy): status, body and the rate-limit headers.
async fn authorize(
    app: &TestApp,
    key: &str,
    body: &Value,
    forwarded: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .http
        .post(format!("{}/api/v1/authorize", app.base))
        .header("X-API-Key", key)
        .json(body);
    if let Some(ip) = forwarded {
        req = req.header("X-Forwarded-For", ip);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.expect("json"), headers)
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    h.get(name)
        .map(|v| v.to_str().expect("ascii").parse().expect("a number"))
}

#[tokio::test]
async fn a_users_requests_per_minute_are_counted_and_the_next_call_is_refused_with_retry_after() {
    for app in TestApp::all().await {
        limit(&app, json!({"user": {"requests_per_minute": 3}})).await;
        top_up(&app, "alice", "1").await;
        top_up(&app, "bob", "1").await;
        let call = json!({"user_id": "alice", "estimated_cost": "0"});
        for remaining in [2, 1, 0] {
            let (status, body, h) = authorize(&app, &app.key, &call, None).await;
            assert_eq!(status, 200, "{}: {body}", app.engine());
            assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some(3));
            assert_eq!(
                header(&h, "x-ratelimit-remaining-requests"),
                Some(remaining)
            );
            let state = &body["rate_limits"][0];
            assert_eq!(state["scope"], "user");
            assert_eq!(state["subject"], "alice");
            assert_eq!(state["requests_remaining"], remaining);
        }
        let (status, body, h) = authorize(&app, &app.key, &call, None).await;
        assert_eq!(status, 429, "{}: {body}", app.engine());
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
        let state = &body["error"]["rate_limits"][0];
        assert_eq!(state["exceeded"], "requests");
        let retry = header(&h, "retry-after").expect("Retry-After");
        assert!((1..=120).contains(&retry), "{retry}");
        assert_eq!(state["retry_after_seconds"], retry);
        // The refused call counted nothing: the quota saw three calls' holds at most.
        assert_eq!(body["error"]["allowed"], false);

        // Another user has a window of their own.
        let (status, _, _) = authorize(
            &app,
            &app.key,
            &json!({"user_id": "bob", "estimated_cost": "0"}),
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", app.engine());
    }
}

#[tokio::test]
async fn a_keys_own_limit_replaces_the_plans_and_removing_it_restores_the_plans() {
    for app in TestApp::all().await {
        limit(&app, json!({"key": {"requests_per_minute": 100}})).await;
        let (id, secret) = key_of(&app, &[Scope::Ingest]).await;
        let (_, other) = key_of(&app, &[Scope::Ingest]).await;
        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                &format!("/api/v1/rate-limits/keys/{id}"),
                Some(&json!({"requests_per_minute": 2})),
            )
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["requests_per_minute"], 2);
        assert_eq!(r.body["tokens_per_minute"], Value::Null);
        assert!(r.body["set_by"]
            .as_str()
            .expect("set_by")
            .starts_with("key_"));

        let call = json!({"estimated_cost": "0"});
        for _ in 0..2 {
            assert_eq!(authorize(&app, &secret, &call, None).await.0, 200);
        }
        let (status, body, _) = authorize(&app, &secret, &call, None).await;
        assert_eq!(status, 429, "{}: {body}", app.engine());
        assert_eq!(body["error"]["rate_limits"][0]["scope"], "key");
        assert_eq!(body["error"]["rate_limits"][0]["subject"], id.as_str());
        // The other key still has the plan's 100.
        let (status, _, h) = authorize(&app, &other, &call, None).await;
        assert_eq!(status, 200);
        assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some(100));

        let listed = app.get("/api/v1/rate-limits").await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.body["plan"], "limited");
        assert_eq!(
            listed.body["plan_limits"]["key"]["requests_per_minute"],
            100
        );
        assert_eq!(listed.body["overrides"][0]["subject"], id.as_str());

        let r = app
            .request_as(
                Method::DELETE,
                &app.key,
                &format!("/api/v1/rate-limits/keys/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
        let (status, _, h) = authorize(&app, &secret, &call, None).await;
        assert_eq!(status, 200, "{}", app.engine());
        assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some(100));
    }
}

#[tokio::test]
async fn tokens_per_minute_weigh_the_expected_tokens_and_a_call_larger_than_the_limit_never_fits() {
    for app in TestApp::all().await {
        limit(&app, json!({"user": {"tokens_per_minute": 1000}})).await;
        top_up(&app, "carol", "1").await;
        let call = |tokens: i64| {
            json!({"user_id": "carol", "estimated_cost": "0",
                   "estimated_input_tokens": tokens, "estimated_output_tokens": 0})
        };
        let (status, body, h) = authorize(&app, &app.key, &call(600), None).await;
        assert_eq!(status, 200, "{}: {body}", app.engine());
        assert_eq!(header(&h, "x-ratelimit-remaining-tokens"), Some(400));
        assert_eq!(body["rate_limits"][0]["tokens_used"], 600);

        let (status, body, h) = authorize(&app, &app.key, &call(600), None).await;
        assert_eq!(status, 429, "{}: {body}", app.engine());
        assert_eq!(body["error"]["rate_limits"][0]["exceeded"], "tokens");
        assert!(header(&h, "retry-after").is_some());

        let (status, body, h) = authorize(&app, &app.key, &call(1001), None).await;
        assert_eq!(status, 429, "{}: {body}", app.engine());
        assert_eq!(
            body["error"]["rate_limits"][0]["retry_after_seconds"],
            Value::Null
        );
        assert_eq!(header(&h, "retry-after"), None, "it will never fit");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_ip_has_its_own_window() {
    let trust = |s: &mut tollgate_server::Settings| {
        s.http.trusted_proxies = vec!["127.0.0.1".into()];
    };
    for app in TestApp::all_with(trust).await {
        limit(&app, json!({"ip": {"requests_per_minute": 1}})).await;
        let call = json!({"estimated_cost": "0"});
        let first = authorize(&app, &app.key, &call, Some("198.51.100.1")).await;
        assert_eq!(first.0, 200, "{}: {}", app.engine(), first.1);
        assert_eq!(first.1["rate_limits"][0]["subject"], "198.51.100.1");
        // A forged entry to the left of what the proxy appended is not believed.
        let again = authorize(&app, &app.key, &call, Some("203.0.113.5, 198.51.100.1")).await;
        assert_eq!(again.0, 429, "{}: {}", app.engine(), again.1);
        let other = authorize(&app, &app.key, &call, Some("198.51.100.2")).await;
        assert_eq!(other.0, 200, "{}", app.engine());
    }
}

#[tokio::test]
async fn two_instances_on_one_postgresql_admit_exactly_the_limit_between_them() {
    for app in TestApp::all().await {
        if app.engine() != "postgres" {
            continue;
        }
        let other = app.beside(|_| {}).await;
        limit(&app, json!({"user": {"requests_per_minute": 5}})).await;
        top_up(&app, "dave", "1").await;
        let call = json!({"user_id": "dave", "estimated_cost": "0"});
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (base, key, http, call) = (
                if i % 2 == 0 { &app.base } else { &other.base }.clone(),
                app.key.clone(),
                app.http.clone(),
                call.clone(),
            );
            tasks.push(tokio::spawn(async move {
                http.post(format!("{base}/api/v1/authorize"))
                    .header("X-API-Key", key)
                    .json(&call)
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            }));
        }
        let mut allowed = 0;
        let mut limited = 0;
        for t in tasks {
            match t.await.expect("task") {
                200 => allowed += 1,
                429 => limited += 1,
                s => panic!("unexpected status {s}"),
            }
        }
        assert_eq!((allowed, limited), (5, 7));
    }
}

#[tokio::test]
async fn rate_limits_are_an_admins_and_bad_limits_or_another_tenants_key_are_refused_by_name() {
    for app in TestApp::all().await {
        let (_, ingest_only) = key_of(&app, &[Scope::Ingest]).await;
        let r = app.get_as(&ingest_only, "/api/v1/rate-limits").await;
        assert_error(&r, 403, "FORBIDDEN");

        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                "/api/v1/rate-limits/users/erin",
                Some(&json!({"requests_per_minute": -1})),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "body.requests_per_minute");

        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                "/api/v1/rate-limits/users/erin",
                Some(&json!({"requests_per_minute": 5, "burst": 2})),
            )
            .await;
        assert_eq!(r.status, 422, "an unknown member: {}", r.body);

        let (other_tenant, _) = app.tenant_key("elsewhere", &[Scope::Admin]).await;
        let foreign = keys::generate(&other_tenant, vec![Scope::Ingest], None);
        let foreign_id = foreign.record.id.clone();
        app.db.store.create_key(foreign.record).await.expect("key");
        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                &format!("/api/v1/rate-limits/keys/{foreign_id}"),
                Some(&json!({"requests_per_minute": 5})),
            )
            .await;
        assert_error(&r, 404, "NOT_FOUND");

        let r = app
            .request_as(
                Method::DELETE,
                &app.key,
                "/api/v1/rate-limits/users/nobody",
                None,
            )
            .await;
        assert_error(&r, 404, "NOT_FOUND");

        let r = app
            .request_as(
                Method::PUT,
                &app.key,
                "/api/v1/plans/limited",
                Some(&json!({"rate_limits": {"ip": {"tokens_per_minute": -5}}})),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "rate_limits.ip.tokens_per_minute");
    }
}
