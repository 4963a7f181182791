//! Payments in over HTTP: Stripe webhook events, signed as Stripe signs them, credit and
//! debit accounts once each, and nothing else moves money.

use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{assert_error, TestApp};

const SECRET: &str = "whsec_test_0123456789abcdef";

fn with_stripe(s: &mut tollgate_server::Settings) {
    s.payments.stripe.endpoint_secret = Some(SecretString::from(SECRET));
    s.payments.stripe.tenant = Some("default".into());
}

/// Posts `event` signed with `secret` at `t` (Unix seconds), as Stripe does.
async fn deliver(app: &TestApp, event: &Value, secret: &str, t: i64) -> (u16, Value) {
    let body = event.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let resp = app
        .http
        .post(format!("{}/api/v1/payments/stripe", app.base))
        .header("content-type", "application/json")
        .header("Stripe-Signature", format!("t={t},v1={signature}"))
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let value = resp.json().await.unwrap_or(Value::Null);
    (status, value)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}})
}

async fn balance(app: &TestApp, user: &str) -> (Value, Value) {
    let b = app
        .get(&format!("/api/v1/billing/balance?user_id={user}"))
        .await
        .body;
    (b["balance_usd"].clone(), b["balance_uah"].clone())
}

#[tokio::test]
async fn a_paid_stripe_checkout_credits_its_user_once_and_a_refund_debits_what_was_refunded() {
    for app in TestApp::all_with(with_stripe).await {
        let checkout = event(
            "evt_1",
            "checkout.session.completed",
            json!({"id": "cs_1", "object": "checkout.session", "amount_total": 2000,
                   "currency": "usd", "payment_status": "paid", "payment_intent": "pi_1",
                   "metadata": {"user_id": "alice"}}),
        );
        let (status, r) = deliver(&app, &checkout, SECRET, now()).await;
        assert_eq!(status, 200, "{}: {r}", app.engine());
        assert_eq!(r["outcome"], "posted");
        assert_eq!(balance(&app, "alice").await.0, "20.000000000");

        // The event again, and the same payment's other event: nothing new.
        for again in [
            checkout.clone(),
            event(
                "evt_2",
                "payment_intent.succeeded",
                json!({"id": "pi_1", "object": "payment_intent", "amount_received": 2000,
                       "currency": "usd", "metadata": {"user_id": "alice"}}),
            ),
        ] {
            let (status, r) = deliver(&app, &again, SECRET, now()).await;
            assert_eq!(status, 200, "{r}");
            assert_eq!(r["outcome"], "already_posted", "{r}");
        }
        assert_eq!(balance(&app, "alice").await.0, "20.000000000");

        // Two partial refunds: each debits what it added to the refunded total.
        let refund = |id: &str, total: i64, before: i64| {
            json!({"id": id, "object": "event", "type": "charge.refunded", "data": {
                "object": {"id": "ch_1", "object": "charge", "amount_refunded": total,
                           "currency": "usd", "payment_intent": "pi_1",
                           "metadata": {"user_id": "alice"}},
                "previous_attributes": {"amount_refunded": before}}})
        };
        for (e, balance_after) in [
            (refund("evt_3", 500, 0), "15.000000000"),
            (refund("evt_4", 800, 500), "12.000000000"),
            (refund("evt_4", 800, 500), "12.000000000"),
        ] {
            let (status, r) = deliver(&app, &e, SECRET, now()).await;
            assert_eq!(status, 200, "{r}");
            assert_eq!(balance(&app, "alice").await.0, balance_after, "{r}");
        }
        let history = app.get("/api/v1/billing/history?user_id=alice").await.body;
        let kinds: Vec<&str> = history["transactions"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|t| t["type"].as_str().expect("type"))
            .collect();
        assert_eq!(kinds, ["adjustment", "adjustment", "topup"]);
        assert_eq!(history["transactions"][2]["payment_id"], "pi_1");
        assert_eq!(history["transactions"][2]["payment_provider"], "stripe");

        // A payment in hryvnias, in kopiykas.
        let uah = event(
            "evt_5",
            "payment_intent.succeeded",
            json!({"id": "pi_2", "amount_received": 10050, "currency": "uah",
                   "metadata": {"user_id": "alice"}}),
        );
        let (status, _) = deliver(&app, &uah, SECRET, now()).await;
        assert_eq!(status, 200);
        assert_eq!(balance(&app, "alice").await.1, "100.500000000");
    }
}

#[tokio::test]
async fn a_bad_or_stale_signature_posts_nothing_and_other_events_move_no_money() {
    for app in TestApp::all_with(with_stripe).await {
        let paid = event(
            "evt_1",
            "payment_intent.succeeded",
            json!({"id": "pi_9", "amount_received": 1000, "currency": "usd",
                   "metadata": {"user_id": "bob"}}),
        );
        let (status, r) = deliver(&app, &paid, "whsec_not_the_secret", now()).await;
        assert_eq!(status, 400, "{r}");
        assert_eq!(r["error"]["code"], "INVALID_SIGNATURE");
        let (status, _) = deliver(&app, &paid, SECRET, now() - 3600).await;
        assert_eq!(status, 400, "an hour-old signature is a replay");
        assert_eq!(balance(&app, "bob").await.0, "0.000000000");

        for (e, why) in [
            (
                event("evt_2", "customer.created", json!({"id": "cus_1"})),
                "moves no money",
            ),
            (
                event(
                    "evt_3",
                    "checkout.session.completed",
                    json!({"id": "cs_2", "amount_total": 500, "currency": "usd",
                           "payment_status": "unpaid", "metadata": {"user_id": "bob"}}),
                ),
                "not paid",
            ),
        ] {
            let (status, r) = deliver(&app, &e, SECRET, now()).await;
            assert_eq!(status, 200, "{r}");
            assert_eq!(r["outcome"], "ignored");
            assert!(r["reason"].as_str().is_some_and(|s| s.contains(why)), "{r}");
        }
        let (status, r) = deliver(
            &app,
            &event(
                "evt_4",
                "payment_intent.succeeded",
                json!({"id": "pi_3", "currency": "usd"}),
            ),
            SECRET,
            now(),
        )
        .await;
        assert_eq!(status, 422, "{r}");
        assert_eq!(r["error"]["field"], "data.object.amount_received");
        assert_eq!(balance(&app, "bob").await.0, "0.000000000");
    }
}

#[tokio::test]
async fn without_a_configured_secret_the_stripe_endpoint_is_not_there() {
    for app in TestApp::all().await {
        let r = app
            .post("/api/v1/payments/stripe", &json!({"id": "evt_1"}))
            .await;
        assert_error(&r, 404, "NOT_FOUND");
    }
}

const PADDLE_KEY: &str = "pdl_ntfset_test_secret";

fn with_paddle(s: &mut tollgate_server::Settings) {
    s.payments.paddle.secret_key = Some(SecretString::from(PADDLE_KEY));
    s.payments.paddle.tenant = Some("default".into());
}

/// Posts a Paddle notification signed with `key` at `ts`, as Paddle does.
async fn notify(app: &TestApp, event: &Value, key: &str, ts: i64) -> (u16, Value) {
    let body = event.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(format!("{ts}:{body}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let resp = app
        .http
        .post(format!("{}/api/v1/payments/paddle", app.base))
        .header("content-type", "application/json")
        .header("Paddle-Signature", format!("ts={ts};h1={signature}"))
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_completed_paddle_transaction_credits_once_and_an_approved_refund_debits_its_account() {
    for app in TestApp::all_with(with_paddle).await {
        let completed = json!({"event_id": "evt_01", "event_type": "transaction.completed",
            "occurred_at": "2026-12-01T10:00:00Z",
            "data": {"id": "txn_01", "status": "completed", "currency_code": "EUR",
                     "custom_data": {"user_id": "carol"},
                     "details": {"totals": {"grand_total": "1050", "total": "1050"}}}});
        let (status, r) = notify(&app, &completed, PADDLE_KEY, now()).await;
        assert_eq!(status, 200, "{}: {r}", app.engine());
        assert_eq!(r["outcome"], "posted");
        let mut paid = completed.clone();
        paid["event_id"] = json!("evt_00");
        paid["event_type"] = json!("transaction.paid");
        let (_, r) = notify(&app, &paid, PADDLE_KEY, now()).await;
        assert_eq!(r["outcome"], "already_posted", "one payment: {r}");
        let eur = |b: &Value| b["balances"]["EUR"]["balance"].clone();
        let b = app.get("/api/v1/billing/balance?user_id=carol").await.body;
        assert_eq!(eur(&b), "10.500000000", "{b}");

        let refund = |status: &str| {
            json!({"event_id": "evt_02", "event_type": "adjustment.updated",
                   "data": {"id": "adj_01", "action": "refund", "status": status,
                            "transaction_id": "txn_01", "currency_code": "EUR",
                            "totals": {"total": "250"}}})
        };
        let (_, r) = notify(&app, &refund("pending_approval"), PADDLE_KEY, now()).await;
        assert_eq!(r["outcome"], "ignored", "not approved yet: {r}");
        for _ in 0..2 {
            let (status, r) = notify(&app, &refund("approved"), PADDLE_KEY, now()).await;
            assert_eq!(status, 200, "{r}");
        }
        let b = app.get("/api/v1/billing/balance?user_id=carol").await.body;
        assert_eq!(eur(&b), "8.000000000", "the refund is debited once: {b}");

        let (status, r) = notify(&app, &completed, "pdl_ntfset_wrong", now()).await;
        assert_eq!(status, 400, "{r}");
        assert_eq!(r["error"]["code"], "INVALID_SIGNATURE");
        let mut unknown = refund("approved");
        unknown["data"]["id"] = json!("adj_02");
        unknown["data"]["transaction_id"] = json!("txn_never");
        let (_, r) = notify(&app, &unknown, PADDLE_KEY, now()).await;
        assert_eq!(r["outcome"], "ignored", "{r}");
    }
}

const FONDY_PASSWORD: &str = "test";

fn with_fondy(s: &mut tollgate_server::Settings) {
    s.payments.fondy.merchant_password = Some(SecretString::from(FONDY_PASSWORD));
    s.payments.fondy.merchant_id = Some("1396424".into());
    s.payments.fondy.tenant = Some("default".into());
}

/// `fields` with Fondy's signature added: SHA-1 of the password and the non-empty values in
/// the order of their names, joined by `|`.
fn fondy_signed(fields: Value, password: &str) -> Value {
    use sha1::{Digest, Sha1};
    let mut map = fields.as_object().expect("object").clone();
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    let mut text = password.to_string();
    for k in keys {
        if k == "response_signature_string" {
            continue;
        }
        let v = match &map[&k] {
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        text.push('|');
        text.push_str(&v);
    }
    map.insert(
        "signature".into(),
        Value::String(hex::encode(Sha1::digest(text.as_bytes()))),
    );
    Value::Object(map)
}

#[tokio::test]
async fn an_approved_fondy_order_credits_once_and_each_reversal_debits_what_it_adds() {
    for app in TestApp::all_with(with_fondy).await {
        let order = |status: &str, reversal: &str| {
            json!({"order_id": "order-7", "merchant_id": 1396424, "order_status": status,
                   "response_status": "success", "amount": "25000", "currency": "UAH",
                   "payment_id": 802145230, "reversal_amount": reversal,
                   "merchant_data": "{\"user_id\": \"dmytro\"}", "response_signature_string": "**"})
        };

        for _ in 0..2 {
            let r = app
                .post(
                    "/api/v1/payments/fondy",
                    &fondy_signed(order("approved", "0"), FONDY_PASSWORD),
                )
                .await;
            assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        }
        assert_eq!(
            balance(&app, "dmytro").await.1,
            "250.000000000",
            "credited once"
        );
        for (reversal, after) in [
            ("5000", "200.000000000"),
            ("8000", "170.000000000"),
            ("8000", "170.000000000"),
        ] {
            let r = app
                .post(
                    "/api/v1/payments/fondy",
                    &fondy_signed(order("reversed", reversal), FONDY_PASSWORD),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(balance(&app, "dmytro").await.1, after, "{}", r.body);
        }
        // A forged callback, and one wrapped as {"response": ...}.
        let forged = fondy_signed(order("approved", "0"), "not-the-password");
        let r = app.post("/api/v1/payments/fondy", &forged).await;
        assert_error(&r, 400, "INVALID_SIGNATURE");
        let mut other = order("approved", "0");
        other["order_id"] = json!("order-8");
        other["amount"] = json!(1000);
        let r = app
            .post(
                "/api/v1/payments/fondy",
                &json!({"response": fondy_signed(other, FONDY_PASSWORD)}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(balance(&app, "dmytro").await.1, "180.000000000");
        let mut declined = order("declined", "0");
        declined["order_id"] = json!("order-9");
        let r = app
            .post(
                "/api/v1/payments/fondy",
                &fondy_signed(declined, FONDY_PASSWORD),
            )
            .await;
        assert_eq!(r.body["outcome"], "ignored", "{}", r.body);
    }
}

#[tokio::test]
async fn one_stripe_event_delivered_to_two_instances_at_once_credits_once_and_refunds_once() {
    for app in TestApp::all_with(with_stripe).await {
        if app.engine() != "postgres" {
            continue;
        }
        let other = app.beside(with_stripe).await;
        let checkout = event(
            "evt_twice",
            "checkout.session.completed",
            json!({"id": "cs_9", "object": "checkout.session", "amount_total": 2500,
                   "currency": "usd", "payment_status": "paid", "payment_intent": "pi_9",
                   "metadata": {"user_id": "nina"}}),
        );
        let refund = json!({"id": "evt_refund_9", "object": "event", "type": "charge.refunded",
            "data": {"object": {"id": "ch_9", "object": "charge", "amount_refunded": 1000,
                                "currency": "usd", "payment_intent": "pi_9",
                                "metadata": {"user_id": "nina"}},
                     "previous_attributes": {"amount_refunded": 0}}});
        for (e, expected) in [(&checkout, "25.000000000"), (&refund, "15.000000000")] {
            // Stripe retries a delivery it thinks failed; two instances may take both at once.
            let mut outcomes = Vec::new();
            for _ in 0..3 {
                let (a, b) = tokio::join!(
                    deliver(&app, e, SECRET, now()),
                    deliver(&other, e, SECRET, now())
                );
                outcomes.extend([a, b]);
            }
            let posted = outcomes
                .iter()
                .filter(|(status, r)| {
                    assert_eq!(*status, 200, "{r}");
                    r["outcome"] == "posted"
                })
                .count();
            assert_eq!(posted, 1, "{outcomes:?}");
            assert_eq!(balance(&app, "nina").await.0, expected);
            assert_eq!(balance(&other, "nina").await.0, expected);
        }
    }
}
