//! What a receipt says its calls recorded (profile, lock digest), and receipts as a type: the
//! served receipt is the stored text, and a receipt signed before receipts were typed still
//! verifies through the server.

use serde_json::{json, Value};
use tollgate_receipts::keys::PublicKey;

use crate::support::{assert_error, TestApp};

const OLD_BATCH: &str =
    include_str!("../../../tollgate-receipts/tests/fixtures/receipt_v1_batch.json");
const OLD_SINGLE: &str =
    include_str!("../../../tollgate-receipts/tests/fixtures/receipt_v1_single.json");
const OLD_KEY: &str = include_str!("../../../tollgate-receipts/tests/fixtures/receipt_v1_key.pem");

fn call(model: &str, profile: Option<&str>, lock_digest: Option<&str>) -> Value {
    let mut c =
        json!({"provider": "openai", "model": model, "input_tokens": 10, "output_tokens": 5});
    if let Some(p) = profile {
        c["profile"] = json!(p);
    }
    if let Some(d) = lock_digest {
        c["lock_digest"] = json!(d);
    }
    c
}

async fn log(app: &TestApp, calls: Vec<Value>) {
    let r = app
        .post("/api/v1/log/batch", &json!({ "events": calls }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn since_last(app: &TestApp) -> Value {
    let r = app
        .post(
            "/api/v1/receipts/generate",
            &json!({"since_last_receipt": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body["receipt"].clone()
}

#[tokio::test]
async fn a_receipt_carries_the_profile_and_lock_digest_its_calls_recorded() {
    for app in TestApp::all().await {
        // Calls that agree: one string each, as llmring's client requires.
        log(
            &app,
            vec![
                call("gpt-4o", Some("prod"), Some("sha256:aa")),
                call("gpt-4o", Some("prod"), Some("sha256:aa")),
            ],
        )
        .await;
        let agreeing = since_last(&app).await;
        assert_eq!(agreeing["profile"], "prod", "{}", app.engine());
        assert_eq!(agreeing["lock_digest"], "sha256:aa");
        assert_eq!(agreeing["format"], "tollgate.receipt/v4");

        // Calls that differ: the sorted distinct values; a call without a digest is "".
        log(
            &app,
            vec![
                call("gpt-4o", Some("staging"), None),
                call("gpt-4o", None, Some("sha256:bb")),
                call("gpt-4o", Some("prod"), Some("sha256:aa")),
            ],
        )
        .await;
        let differing = since_last(&app).await;
        assert_eq!(differing["profile"], json!(["default", "prod", "staging"]));
        assert_eq!(
            differing["lock_digest"],
            json!(["", "sha256:aa", "sha256:bb"])
        );

        // Calls that recorded no digest: llmring's "no lock".
        log(&app, vec![call("gpt-4o", None, None)]).await;
        let plain = since_last(&app).await;
        assert_eq!(plain["profile"], "default");
        assert_eq!(plain["lock_digest"], "");

        for receipt in [&agreeing, &differing, &plain] {
            let v = app.post("/api/v1/receipts/verify", receipt).await;
            assert_eq!(v.body["valid"], true, "{}", v.body);
            assert_eq!(v.body["commitment_valid"], true, "{}", v.body);
        }
        // The label is signed like everything else.
        let mut changed = differing.clone();
        changed["profile"] = json!("prod");
        let v = app.post("/api/v1/receipts/verify", &changed).await;
        assert_eq!(v.body["valid"], false, "{}", v.body);
    }
}

#[tokio::test]
async fn a_lock_digest_longer_than_128_bytes_is_refused_naming_it() {
    let app = TestApp::all().await.remove(0);
    let long = "x".repeat(129);
    let r = app
        .post("/api/v1/log", &call("gpt-4o", None, Some(&long)))
        .await;
    assert_error(&r, 422, "INVALID_FIELD");
    assert_eq!(r.body["error"]["field"], "lock_digest", "{}", r.body);
    let r = app
        .post("/api/v1/log", &call("gpt-4o", None, Some(&"x".repeat(128))))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_served_receipt_is_the_stored_text_byte_for_byte() {
    for app in TestApp::all().await {
        log(&app, vec![call("gpt-4o", Some("prod"), None)]).await;
        let receipt = since_last(&app).await;
        let id = receipt["receipt_id"].as_str().expect("id");
        let stored = app
            .db
            .store
            .get_receipt(&app.tenant_id, id)
            .await
            .expect("read")
            .expect("stored");
        let served = app.get_text(&format!("/api/v1/receipts/{id}")).await;
        assert_eq!(served, stored.document, "{}", app.engine());
    }
}

#[tokio::test]
async fn receipts_signed_before_receipts_were_typed_still_verify_through_the_server() {
    let app = TestApp::all().await.remove(0);
    let key = PublicKey::from_spki_pem(OLD_KEY).expect("key");
    app.db
        .store
        .register_signing_key(&key.key_id(), &key.to_base64url())
        .await
        .expect("the old key is known here");
    for text in [OLD_BATCH, OLD_SINGLE] {
        let old: Value = serde_json::from_str(text).expect("JSON");
        let v = app.post("/api/v1/receipts/verify", &old).await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.body["valid"], true, "{}", v.body);
        assert_eq!(v.body["signature_valid"], true);
        assert_eq!(v.body["receipt_id"], old["receipt_id"]);
        let mut tampered = old.clone();
        tampered["profile"] = json!("prod");
        let v = app.post("/api/v1/receipts/verify", &tampered).await;
        assert_eq!(v.body["valid"], false, "{}", v.body);
    }
}
