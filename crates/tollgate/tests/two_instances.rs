//! Two Tollgate processes on one PostgreSQL: however concurrent authorizations interleave
//! across them, the holds admitted never exceed the account's balance; a plan changed through
//! one decides the next request on the other; and two started with different default plans
//! give the database's answer, the same on both.
//!
//! Runs when `TOLLGATE_TEST_DATABASE_URL` names a PostgreSQL server (CI sets it, and fails
//! without it); each run gets a database of its own.

mod instances;

use serde_json::{json, Value};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{LedgerFilter, LedgerKind};

use instances::Instance;

const KEY: &str = "tg_two_instances_test_key_0123456789";

fn start(database_url: &str) -> Instance {
    start_with(database_url, &[])
}

/// As [`start`], with extra environment variables (`TOLLGATE_*` settings).
fn start_with(database_url: &str, env: &[(&str, &str)]) -> Instance {
    instances::start(database_url, KEY, None, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_admitted_by_two_instances_never_exceed_the_balance() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    let http = reqwest::Client::new();
    let a = start(&db.url);
    let b = start(&db.url);

    let topup = http
        .post(format!("{}/api/v1/billing/topup", a.url))
        .header("X-API-Key", KEY)
        .json(&json!({"amount": "1.00", "user_id": "u"}))
        .send()
        .await
        .expect("topup");
    assert_eq!(
        topup.status(),
        200,
        "{}",
        topup.text().await.unwrap_or_default()
    );

    // 120 concurrent holds of $0.03 against $1.00, alternating between the two instances:
    // exactly 33 fit.
    let mut tasks = Vec::new();
    for i in 0..120 {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/api/v1/authorize"))
                .header("X-API-Key", KEY)
                .json(&json!({"user_id": "u", "estimated_cost": "0.03", "hold": true}))
                .send()
                .await
                .expect("authorize");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            (status, body)
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            200 => admitted += 1,
            402 => assert_eq!(body["error"]["code"], "INSUFFICIENT_BALANCE", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(
        admitted, 33,
        "the holds admitted must fit the balance exactly"
    );

    // The ledger agrees: 33 holds, $0.99 held, the balance untouched, nothing overshot.
    let account = db
        .store
        .account(&db_tenant(&db).await, "u")
        .await
        .expect("account")
        .expect("exists");
    let usd = account
        .balances
        .iter()
        .find(|b| b.currency == Currency::usd())
        .expect("usd");
    assert_eq!(usd.balance, Nanos::parse_exact("1").expect("n"));
    assert_eq!(usd.held, Nanos::parse_exact("0.99").expect("n"));
    let holds = db
        .store
        .ledger(
            &account.tenant_id,
            "u",
            &LedgerFilter {
                kind: Some(LedgerKind::Hold),
                ..Default::default()
            },
            500,
            0,
        )
        .await
        .expect("ledger");
    assert_eq!((holds.0.len(), holds.1), (33, 33));
    let audit = db.store.audit().await.expect("audit");
    assert!(audit.findings.is_empty(), "{:?}", audit.findings);
}

/// One request with the test key; the status and the JSON body (Null when there is none).
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{url}{path}"))
        .header("X-API-Key", KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_changed_through_one_instance_decides_the_next_request_on_the_other() {
    use reqwest::Method;
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    let http = reqwest::Client::new();
    let a = start(&db.url);
    let b = start(&db.url);

    let tiny = |n: i64| Some(json!({ "monthly_requests": n }));
    let (status, body) = call(&http, Method::PUT, &a.url, "/api/v1/plans/tiny", tiny(2)).await;
    assert_eq!(status, 201, "{body}");
    let (_, listed) = call(&http, Method::GET, &b.url, "/api/v1/plans", None).await;
    let seen: Vec<&Value> = listed["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .filter(|p| p["name"] == "tiny")
        .collect();
    assert_eq!(
        seen.len(),
        1,
        "the other instance lists the new plan: {listed}"
    );
    assert_eq!(seen[0]["monthly_requests"], 2);

    let (status, body) = call(
        &http,
        Method::POST,
        &b.url,
        "/api/v1/billing/plan",
        Some(json!({"plan": "tiny"})),
    )
    .await;
    assert_eq!((status, &body["limit"]), (200, &json!(2)), "{body}");
    let (_, limits) = call(&http, Method::GET, &a.url, "/api/v1/billing/limits", None).await;
    assert_eq!(
        (&limits["plan"], &limits["limit"]),
        (&json!("tiny"), &json!(2))
    );

    for _ in 0..2 {
        let usage = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1});
        let (status, body) = call(&http, Method::POST, &a.url, "/api/v1/log", Some(usage)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call(
        &http,
        Method::POST,
        &b.url,
        "/api/v1/authorize",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (402, &json!("QUOTA_EXCEEDED")),
        "{body}"
    );

    let (status, body) = call(&http, Method::PUT, &a.url, "/api/v1/plans/tiny", tiny(3)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &http,
        Method::POST,
        &b.url,
        "/api/v1/authorize",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        status, 200,
        "the other instance decides with the new quota at once: {body}"
    );
    assert_eq!(body["quota"]["limit"], 3, "{body}");

    let (status, body) = call(&http, Method::DELETE, &b.url, "/api/v1/plans/tiny", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("CONFLICT")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_configured_with_different_default_plans_answer_alike() {
    use reqwest::Method;
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    let http = reqwest::Client::new();
    let a = start_with(&db.url, &[("TOLLGATE_BILLING__DEFAULT_PLAN", "growth")]);
    let b = start_with(&db.url, &[("TOLLGATE_BILLING__DEFAULT_PLAN", "pro")]);
    let (_, on_a) = call(&http, Method::GET, &a.url, "/api/v1/billing/limits", None).await;
    let (_, on_b) = call(&http, Method::GET, &b.url, "/api/v1/billing/limits", None).await;
    assert_eq!(on_a["plan"], on_b["plan"], "{on_a} {on_b}");

    // An operator's choice through one is the next answer of both, and neither deletes it.
    let choose = Some(json!({"default": true}));
    let (status, body) = call(&http, Method::PUT, &b.url, "/api/v1/plans/starter", choose).await;
    assert_eq!(status, 200, "{body}");
    for url in [&a.url, &b.url] {
        let (_, limits) = call(&http, Method::GET, url, "/api/v1/billing/limits", None).await;
        assert_eq!(limits["plan"], "starter", "{limits}");
        let (status, body) = call(&http, Method::DELETE, url, "/api/v1/plans/starter", None).await;
        assert_eq!((status, &body["error"]["code"]), (409, &json!("CONFLICT")));
    }
}

async fn db_tenant(db: &TestDatabase) -> String {
    db.store
        .list_tenants()
        .await
        .expect("tenants")
        .first()
        .expect("the bootstrapped tenant")
        .id
        .clone()
}
