//! Webhooks never reach the server's own networks unless `webhooks.allow_private_networks` is
//! set: internal IPs and `localhost` are refused when an endpoint is created, and checked again,
//! as resolved, when a delivery is sent. The delivery log shows generic errors only.

use serde_json::json;
use tollgate_server::Settings;

use crate::support::{assert_error, TestApp};
use crate::webhooks::{eventually, fast, generate_receipt, subscribe, Receiver};

const REFUSED: &str =
    "the endpoint resolves to a private address; set webhooks.allow_private_networks to allow it";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_internal_addresses_are_refused_by_default_naming_the_setting() {
    for app in TestApp::all().await {
        for url in [
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/",
            "http://10.0.0.7/hooks",
            "http://[::1]:9/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://localhost:9/x",
        ] {
            let r = app.post("/api/v1/webhooks", &json!({"url": url})).await;
            assert_error(&r, 400, "INVALID_URL");
            let message = r.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("webhooks.allow_private_networks"),
                "{url}: {message}"
            );
        }
        assert_eq!(
            app.get("/api/v1/webhooks").await.body["webhooks"],
            json!([])
        );
        let r = app
            .post(
                "/api/v1/webhooks",
                &json!({"url": "https://hooks.example.com/x"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}: {}", app.engine(), r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_an_internal_address_fails_at_once_once_private_networks_are_disallowed() {
    let disallowed = |s: &mut Settings| {
        fast(s);
        s.webhooks.allow_private_networks = false;
    };
    for mut app in TestApp::all_with(fast).await {
        let receiver = Receiver::start(0).await;
        let port = receiver.url.rsplit(':').next().expect("a port");
        // Registered while allowed: by name (resolved at send time) and by IP literal.
        let by_name = format!("http://localhost:{port}");
        let (named, _) = subscribe(&app, &by_name, &["receipt.generated"]).await;
        let (literal, _) = subscribe(&app, &receiver.url, &["receipt.generated"]).await;
        app.restart(disallowed).await;
        generate_receipt(&app).await;
        for id in [&named, &literal] {
            let path = format!("/api/v1/webhooks/{id}/deliveries");
            eventually("the refused delivery", || async {
                app.get(&path).await.body["deliveries"][0]["status"] == "failed"
            })
            .await;
            let d = &app.get(&path).await.body["deliveries"][0];
            assert_eq!(d["attempts"], 1, "{}: not retried: {d}", app.engine());
            assert_eq!(d["last_error"], REFUSED);
            assert_eq!(d["next_attempt_at"], json!(null));
        }
        assert!(receiver.received().is_empty(), "{}", app.engine());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_says_connection_failed_without_the_clients_error_text() {
    for app in TestApp::all_with(fast).await {
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/x", closed.local_addr().expect("addr"));
        drop(closed);
        let (id, _) = subscribe(&app, &url, &["receipt.generated"]).await;
        generate_receipt(&app).await;
        let path = format!("/api/v1/webhooks/{id}/deliveries");
        eventually("a failed attempt", || async {
            app.get(&path).await.body["deliveries"][0]["attempts"]
                .as_i64()
                .is_some_and(|n| n > 0)
        })
        .await;
        let d = &app.get(&path).await.body["deliveries"][0];
        assert_eq!(
            d["last_error"],
            "connection failed",
            "{}: {d}",
            app.engine()
        );
        assert_eq!(d["status"], "pending", "a connection failure is retried");
    }
}
