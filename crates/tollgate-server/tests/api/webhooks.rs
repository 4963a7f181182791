//! Webhook endpoints: CRUD, isolation and bad input; signed deliveries that are retried,
//! logged and survive a restart. A tiny axum server in the test is the receiver.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tollgate_server::Settings;
use tollgate_store::Scope;

use crate::support::{assert_error, usage, TestApp};

/// One request the receiver got: its webhook headers and body.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A receiver that answers 500 to its first `fail_first` requests, then 200.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Requests still to fail.
    pub failing: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicUsize::new(fail_first));
        let (g, f) = (got.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (g, f) = (g.clone(), f.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    g.lock().expect("lock").push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    let fail = f
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if fail {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got, failing }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

/// Settings that make the worker poll and retry quickly, and let it reach the receivers the
/// tests run on 127.0.0.1.
pub fn fast(s: &mut Settings) {
    s.webhooks.allow_private_networks = true;
    s.webhooks.poll_ms = 20;
    s.webhooks.retry_base_ms = 100;
    s.webhooks.retry_max_ms = 400;
    s.webhooks.quota_scan_seconds = 0;
}

/// Waits up to 15 s for `check` to hold.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Registers an endpoint for `types`; returns (id, secret).
pub async fn subscribe(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let r = app
        .post(
            "/api/v1/webhooks",
            &json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(r.status, 201, "{}: {}", app.engine(), r.body);
    (
        r.body["id"].as_str().expect("id").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    )
}

/// Recomputes the Standard Webhooks signature of a received request.
fn expected_signature(secret: &str, r: &Received) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("prefix"))
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

async fn delete(app: &TestApp, key: &str, path: &str) -> StatusCode {
    app.http
        .delete(format!("{}{path}", app.base))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("send")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_created_listed_and_removed_by_their_own_tenant_only() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/tollgate", "description": "ops"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {}", app.engine(), r.body);
        let id = r.body["id"].as_str().expect("id").to_string();
        assert!(id.starts_with("whk_"));
        assert!(r.body["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")));
        assert_eq!(r.body["event_types"].as_array().map(Vec::len), Some(5));

        let list = app.get("/api/v1/webhooks").await;
        assert_eq!(list.body["webhooks"][0]["id"], id.as_str());
        assert!(list.body["webhooks"][0].get("secret").is_none());
        let one = app.get(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(one.body["url"], "https://hooks.example.com/tollgate");
        assert!(one.body.get("secret").is_none());

        let (_, other) = app.tenant_key("other", &[Scope::Admin]).await;
        assert_error(
            &app.get_as(&other, &format!("/api/v1/webhooks/{id}")).await,
            404,
            "NOT_FOUND",
        );
        let path = format!("/api/v1/webhooks/{id}/deliveries");
        assert_error(&app.get_as(&other, &path).await, 404, "NOT_FOUND");
        assert_eq!(
            delete(&app, &other, &format!("/api/v1/webhooks/{id}")).await,
            404
        );
        assert_eq!(
            app.get_as(&other, "/api/v1/webhooks").await.body["webhooks"],
            json!([])
        );
        let (_, reader) = app.tenant_key("reader", &[Scope::Read]).await;
        assert_error(
            &app.get_as(&reader, "/api/v1/webhooks").await,
            403,
            "FORBIDDEN",
        );

        assert_eq!(
            delete(&app, &app.key, &format!("/api/v1/webhooks/{id}")).await,
            204
        );
        assert_error(
            &app.get(&format!("/api/v1/webhooks/{id}")).await,
            404,
            "NOT_FOUND",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_event_types_and_secrets_are_refused_and_nothing_is_stored() {
    for app in TestApp::all().await {
        for url in [json!("ftp://example.com/x"), json!("not a url"), json!("")] {
            let r = app.post("/api/v1/webhooks", &json!({"url": url})).await;
            assert_error(&r, 400, "INVALID_URL");
        }
        let r = app
            .post("/api/v1/webhooks", &json!({"event_types": ["x"]}))
            .await;
        assert_error(&r, 400, "INVALID_URL");
        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/h", "event_types": ["usage.spike"]}),
            )
            .await;
        assert_error(&r, 400, "INVALID_EVENT_TYPE");
        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/h", "secret": "whsec_tooshort"}),
            )
            .await;
        assert_error(&r, 400, "INVALID_SECRET");
        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/h", "colour": "red"}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(
            app.get("/api/v1/webhooks").await.body["webhooks"],
            json!([])
        );
    }
}

/// Logs a call and issues a receipt of everything uncertified: one `receipt.generated`.
pub async fn generate_receipt(app: &TestApp) -> String {
    let r = app.post("/api/v1/log", &usage("gpt-4o", 100, 50)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            "/api/v1/receipts/generate",
            &json!({"since_last_receipt": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body["receipt"]["receipt_id"]
        .as_str()
        .expect("receipt id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_until_it_accepts_and_every_attempt_is_signed() {
    for app in TestApp::all_with(fast).await {
        let receiver = Receiver::start(2).await;
        let (id, secret) = subscribe(&app, &receiver.url, &["receipt.generated"]).await;
        let receipt = generate_receipt(&app).await;
        let path = format!("/api/v1/webhooks/{id}/deliveries");
        eventually("the delivery", || async {
            app.get(&path).await.body["deliveries"][0]["status"] == "delivered"
        })
        .await;
        let log = app.get(&path).await.body;
        assert_eq!(log["deliveries"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            log["pagination"],
            json!({"limit": 100, "offset": 0, "count": 1, "total": 1, "has_more": false})
        );
        let d = &log["deliveries"][0];
        assert_eq!(d["attempts"], 3, "{}: {log}", app.engine());
        assert_eq!(d["last_status_code"], 200);
        assert_eq!(d["event_type"], "receipt.generated");

        let got = receiver.received();
        assert_eq!(got.len(), 3);
        for r in &got {
            assert_eq!(r.signature, expected_signature(&secret, r));
            assert_eq!(r.id, got[0].id, "a retry keeps the webhook-id");
            assert_eq!(r.id, d["event_id"].as_str().expect("event id"));
        }
        let body = got[2].json();
        assert_eq!(body["type"], "receipt.generated");
        assert_eq!(body["data"]["receipt_id"], receipt.as_str());
        assert!(body["timestamp"].as_str().is_some());

        let metrics = app.get_text("/metrics").await;
        assert!(metrics.contains("tollgate_webhook_deliveries_total{outcome=\"delivered\"} 1"));
        assert!(metrics.contains("tollgate_webhook_deliveries_total{outcome=\"retrying\"} 2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_a_restart_and_is_delivered_by_the_next_server() {
    let slow = |s: &mut Settings| {
        fast(s);
        s.webhooks.retry_base_ms = 1500;
    };
    for mut app in TestApp::all_with(slow).await {
        let receiver = Receiver::start(usize::MAX).await;
        let (id, _) = subscribe(&app, &receiver.url, &["receipt.generated"]).await;
        generate_receipt(&app).await;
        let path = format!("/api/v1/webhooks/{id}/deliveries");
        eventually("a failed first attempt", || async {
            app.get(&path).await.body["deliveries"][0]["attempts"] == 1
        })
        .await;
        let first = &app.get(&path).await.body["deliveries"][0];
        assert_eq!(first["last_error"], "HTTP 500", "{}: {first}", app.engine());
        assert_eq!(first["last_status_code"], 500);
        app.restart(slow).await;
        receiver.failing.store(0, Ordering::SeqCst);
        eventually("the delivery after the restart", || async {
            app.get(&path).await.body["deliveries"][0]["status"] == "delivered"
        })
        .await;
        let ids: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 2, "{}", app.engine());
        assert_eq!(ids[0], ids[1]);
    }
}

/// A receiver that counts the requests it gets and answers none of them until `open` is sent
/// true.
async fn gated_receiver() -> (String, Arc<AtomicUsize>, tokio::sync::watch::Sender<bool>) {
    let (open, gate) = tokio::sync::watch::channel(false);
    let arrived = Arc::new(AtomicUsize::new(0));
    let a = arrived.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (mut gate, a) = (gate.clone(), a.clone());
            async move {
                a.fetch_add(1, Ordering::SeqCst);
                let _ = gate.wait_for(|open| *open).await;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrived, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_does_not_answer_holds_up_no_delivery_to_the_others() {
    let patient = |s: &mut Settings| {
        fast(s);
        // Longer than `eventually` waits: the slow endpoint's attempts end when the test says.
        s.webhooks.timeout_ms = 60_000;
    };
    for app in TestApp::all_with(patient).await {
        let (slow_url, arrived, open) = gated_receiver().await;
        let other = Receiver::start(0).await;
        let (slow, _) = subscribe(&app, &slow_url, &["receipt.generated"]).await;
        subscribe(&app, &other.url, &["receipt.generated"]).await;
        generate_receipt(&app).await;
        eventually("the slow endpoint's first request", || async {
            arrived.load(Ordering::SeqCst) == 1
        })
        .await;
        generate_receipt(&app).await;
        eventually("both alerts at the other endpoint", || async {
            other.received().len() == 2
        })
        .await;
        let path = format!("/api/v1/webhooks/{slow}/deliveries");
        let log = app.get(&path).await.body;
        assert!(
            log["deliveries"]
                .as_array()
                .is_some_and(|d| d.iter().all(|d| d["status"] == "pending")),
            "{}: {log}",
            app.engine()
        );

        open.send(true).expect("the receiver runs");
        eventually("the slow endpoint's deliveries", || async {
            let log = app.get(&path).await.body;
            log["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["status"] == "delivered"))
        })
        .await;
    }
}
