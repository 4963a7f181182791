//! The prepaid-balance billing service's example requests (`../shared/reference/seeds/002_*`)
//! sent verbatim at its paths, answered in its shapes: a `success` wrapper, amounts as JSON
//! numbers with their exact digits.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::TestApp;

/// Sends `body` as it is written, byte for byte; the status, the raw answer and its JSON.
async fn send_raw(app: &TestApp, method: Method, path: &str, body: &str) -> (u16, String, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("X-API-Key", &app.key);
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, text, value)
}

/// The source document's top-up request, as written there.
const TOPUP: &str = r#"{
  "amount_usd": 10.00,
  "amount_uah": 0,
  "description": "Top up via Stripe",
  "payment_provider": "stripe",
  "payment_id": "pi_123456"
}"#;

/// The source document's settings request, as written there.
const SETTINGS: &str = r#"{
  "daily_limit_usd": 20.00,
  "monthly_limit_usd": 200.00
}"#;

#[tokio::test]
async fn the_source_documents_requests_pass_verbatim_and_answer_in_its_shapes() {
    for app in TestApp::all().await {
        let (status, text, r) = send_raw(&app, Method::POST, "/api/billing/topup", TOPUP).await;
        assert_eq!(status, 200, "{}: {text}", app.engine());
        assert_eq!(r["success"], true);
        assert_eq!(r["transaction"]["type"], "topup");
        assert_eq!(r["transaction"]["payment_id"], "pi_123456");
        assert!(
            text.contains(r#""amount_usd":10.000000000"#),
            "an exact JSON number: {text}"
        );
        assert!(
            text.contains(r#""balance_before_usd":0.000000000"#),
            "{text}"
        );
        assert!(
            text.contains(r#""balance_after_usd":10.000000000"#),
            "{text}"
        );
        assert_eq!(r["billing"]["balance_usd"], json!(10.0));

        // The same payment sent again is credited once.
        let (status, _, again) = send_raw(&app, Method::POST, "/api/billing/topup", TOPUP).await;
        assert_eq!(status, 200);
        assert_eq!(again["transaction"]["id"], r["transaction"]["id"]);
        assert_eq!(again["billing"]["balance_usd"], json!(10.0));

        let (status, text, s) =
            send_raw(&app, Method::PUT, "/api/billing/settings", SETTINGS).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(s["success"], true);
        assert!(
            text.contains(r#""limits":{"daily_usd":20.000000000,"monthly_usd":200.000000000}"#),
            "{text}"
        );

        let (status, text, b) = send_raw(&app, Method::GET, "/api/billing/balance", "").await;
        assert_eq!(status, 200, "{text}");
        let keys: Vec<&String> = b.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["billing", "success"], "the wrapper: {text}");
        for key in [
            "balance_usd",
            "balance_uah",
            "total_spent_usd",
            "total_requests",
            "limits",
            "usage",
            "last_request_at",
        ] {
            assert!(b["billing"].get(key).is_some(), "{key}: {text}");
        }
        assert_eq!(b["billing"]["usage"]["today_usd"], json!(0.0));

        let (status, text, h) =
            send_raw(&app, Method::GET, "/api/billing/history?limit=10", "").await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(h["success"], true);
        assert_eq!(
            h["pagination"],
            json!({"limit": 10, "offset": 0, "count": 1, "total": 1})
        );
        let t = &h["transactions"][0];
        for key in [
            "id",
            "user_id",
            "type",
            "amount_usd",
            "balance_before_usd",
            "balance_after_usd",
            "request_id",
            "description",
            "created_at",
        ] {
            assert!(t.get(key).is_some(), "{key}: {text}");
        }
        assert_eq!(t["description"], "Top up via Stripe");

        // The canonical route keeps exact decimal strings.
        let v1 = app.get("/api/v1/billing/balance").await;
        assert_eq!(v1.body["balance_usd"], "10.000000000");
    }
}

#[tokio::test]
async fn amounts_are_read_from_their_digits_and_refused_past_nine_decimals() {
    for app in TestApp::all().await {
        let (status, text, _) = send_raw(
            &app,
            Method::POST,
            "/api/billing/topup",
            r#"{"amount_usd": 0.1000000000000000055511151231257827}"#,
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(r#""field":"amount_usd""#), "{text}");
        // 0.1 + 0.2 in binary floats is 0.30000000000000004; read from its digits it is 0.3.
        for body in [r#"{"amount_usd": 0.1}"#, r#"{"amount_usd": 0.2}"#] {
            let (status, text, _) = send_raw(&app, Method::POST, "/api/billing/topup", body).await;
            assert_eq!(status, 200, "{text}");
        }
        let (_, text, _) = send_raw(
            &app,
            Method::POST,
            "/api/billing/topup",
            r#"{"amount_uah": 1e2}"#,
        )
        .await;
        assert!(
            text.contains(r#""amount_uah":100.000000000"#),
            "an exponent is exact: {text}"
        );
        let v1 = app.get("/api/v1/billing/balance").await;
        assert_eq!(v1.body["balance_usd"], "0.300000000");
        assert_eq!(v1.body["balance_uah"], "100.000000000");
        for (body, field) in [
            (r#"{"amount_usd": 1, "amount_uah": 1}"#, "amount_uah"),
            (r#"{"amount_usd": 0, "amount_uah": 0}"#, "amount_usd"),
            (r#"{"amount_usd": -5}"#, "amount_usd"),
            (r#"{"amount_usd": "ten"}"#, "amount_usd"),
        ] {
            let (status, text, r) = send_raw(&app, Method::POST, "/api/billing/topup", body).await;
            assert_eq!(status, 400, "{body}: {text}");
            assert_eq!(r["error"]["field"], field, "{body}: {text}");
        }
        let (status, text, r) = send_raw(
            &app,
            Method::PUT,
            "/api/billing/settings",
            r#"{"daily_limit_usd": 1.0000000001}"#,
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(r["error"]["field"], "daily_limit_usd");
        let v1 = app.get("/api/v1/billing/balance").await;
        assert_eq!(
            v1.body["balance_usd"], "0.300000000",
            "nothing more was posted"
        );
    }
}
