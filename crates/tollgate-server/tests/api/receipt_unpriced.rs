//! Unpriced calls beside the money: a receipt states how many of the calls it certifies were
//! recorded unpriced (from `tollgate.receipt/v3`), its preview and accounting CSV show the
//! same count, the cost reads count them, and a receipt issued before the count existed
//! still verifies.

use serde_json::{json, Value};
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::receipt::ReceiptDocument;

use crate::support::TestApp;

const V2: &str = include_str!("../../../tollgate-receipts/tests/fixtures/receipt_v2_unpriced.json");
const V2_KEY: &str = include_str!("../../../tollgate-receipts/tests/fixtures/receipt_v2_key.pem");

/// A priced call and a call of a model no price book knows, sent without a cost.
async fn log_priced_and_unpriced(app: &TestApp) {
    let r = app
        .post(
            "/api/v1/log/batch",
            &json!({"events": [
                {"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 200},
                {"provider": "acme", "model": "x-1", "input_tokens": 40, "output_tokens": 9},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let flags: Vec<&Value> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| &x["flags"])
        .collect();
    assert_eq!(flags, [&json!([]), &json!(["unpriced"])], "{}", r.body);
}

async fn public_key(app: &TestApp, key_id: &str) -> PublicKey {
    let r = app.get("/api/v1/receipts/public-keys.json").await;
    let k = r.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key_id"] == key_id)
        .expect("the receipt's key is published")
        .clone();
    PublicKey::from_base64url(k["public_key"].as_str().expect("key")).expect("public key")
}

/// How many of a receipt's canonical entries carry the `unpriced` flag, counted from the
/// entries its logs listing serves (what an offline verifier is given).
async fn unpriced_entries(app: &TestApp, receipt_id: &str) -> usize {
    let logs = app
        .get(&format!("/api/v1/receipts/{receipt_id}/logs"))
        .await;
    assert_eq!(logs.status, 200, "{}", logs.body);
    logs.body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            let entry: Value =
                serde_json::from_str(l["entry"].as_str().expect("a canonical entry"))
                    .expect("JSON");
            entry["flags"].as_array().expect("flags").clone()
        })
        .filter(|flags| flags.contains(&json!("unpriced")))
        .count()
}

#[tokio::test]
async fn a_receipt_states_its_one_unpriced_call_and_verifies_offline() {
    for app in TestApp::all().await {
        log_priced_and_unpriced(&app).await;
        let preview = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        assert_eq!(preview.body["unpriced_events"], 1, "{}", app.engine());
        assert_eq!(preview.body["by_model"]["x-1"]["unpriced_calls"], 1);
        assert_eq!(preview.body["by_model"]["gpt-4o"]["unpriced_calls"], 0);

        let r = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let receipt = r.body["receipt"].clone();
        assert_eq!(receipt["format"], "tollgate.receipt/v4");
        assert_eq!(receipt["unpriced_events"], 1, "{receipt}");
        let summary = &receipt["batch_summary"];
        assert_eq!(summary["by_model"]["x-1"]["unpriced_calls"], 1);
        assert_eq!(summary["by_model"]["x-1"]["amounts"]["USD"], "0.000000000");
        assert_eq!(summary["by_alias"]["default"]["unpriced_calls"], 1);
        assert_eq!(
            receipt["amounts"], preview.body["amounts"],
            "the preview showed the receipt's numbers"
        );

        // Offline: the signature with the published key alone, and the count from the
        // certified entries.
        let id = receipt["receipt_id"].as_str().expect("id");
        let key = public_key(&app, receipt["key_id"].as_str().expect("key id")).await;
        let document = ReceiptDocument::new(receipt.clone()).expect("a receipt");
        document
            .verify(&key)
            .expect("the signature covers the count");
        assert_eq!(document.receipt.unpriced_events, Some(1));
        assert_eq!(unpriced_entries(&app, id).await, 1);
        let mut understated = receipt.clone();
        understated["unpriced_events"] = json!(0);
        assert!(ReceiptDocument::new(understated.clone())
            .expect("a receipt")
            .verify(&key)
            .is_err());

        let v = app.post("/api/v1/receipts/verify", &receipt).await;
        assert_eq!(v.body["valid"], true, "{}", v.body);
        assert_eq!(v.body["commitment_valid"], true, "{}", v.body);
        let v = app.post("/api/v1/receipts/verify", &understated).await;
        assert_eq!(v.body["valid"], false, "{}", v.body);

        // The accounting CSV says which line holds it.
        let csv = app
            .get_text(&format!("/api/v1/export/receipt/{id}?format=csv"))
            .await;
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().expect("header").clone();
        assert_eq!(header.get(10), Some("unpriced_calls"), "{csv}");
        let rows: Vec<(String, String)> = reader
            .records()
            .map(|r| {
                let r = r.expect("a record");
                let name = if &r[2] == "Total" { "Total" } else { &r[3] };
                (name.to_string(), r[10].to_string())
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("gpt-4o".to_string(), "0".to_string()),
                ("x-1".to_string(), "1".to_string()),
                ("Total".to_string(), "1".to_string()),
            ],
            "{csv}"
        );

        // A receipt of priced calls only states zero rather than leaving it out.
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 5, "output_tokens": 5}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(r.body["receipt"]["unpriced_events"], 0, "{}", r.body);
    }
}

#[tokio::test]
async fn the_cost_reads_count_the_unpriced_call_beside_the_money() {
    for app in TestApp::all().await {
        log_priced_and_unpriced(&app).await;
        let daily = app.get("/api/v1/costs/daily").await;
        assert_eq!(daily.status, 200, "{}", daily.body);
        assert_eq!(
            daily.body["totals"]["unpriced_requests"],
            1,
            "{}",
            app.engine()
        );
        assert_eq!(daily.body["by_model"]["x-1"]["unpriced_requests"], 1);
        assert_eq!(daily.body["by_model"]["gpt-4o"]["unpriced_requests"], 0);
        let monthly = app.get("/api/v1/costs/monthly").await;
        assert_eq!(
            monthly.body["totals"]["unpriced_requests"], 1,
            "{}",
            monthly.body
        );
        assert_eq!(monthly.body["by_day"][0]["unpriced_requests"], 1);
        let report = app.get("/api/v1/billing/cost-report").await;
        assert_eq!(
            report.body["totals"]["unpriced_requests"], 1,
            "{}",
            report.body
        );
        assert_eq!(report.body["by_provider"]["acme"]["unpriced_requests"], 1);
        let usage = app.get("/api/v1/billing/usage").await;
        assert_eq!(usage.body["unpriced_requests"], 1, "{}", usage.body);
        let stats = app.get("/api/v1/stats").await;
        assert_eq!(
            stats.body["summary"]["unpriced_requests"], 1,
            "{}",
            stats.body
        );
    }
}

#[tokio::test]
async fn a_receipt_issued_before_receipts_stated_unpriced_calls_still_verifies() {
    let key = PublicKey::from_spki_pem(V2_KEY).expect("the fixture key");
    let old: Value = serde_json::from_str(V2).expect("JSON");
    assert_eq!(old["format"], "tollgate.receipt/v2");
    assert!(old.get("unpriced_events").is_none(), "v2 does not state it");
    ReceiptDocument::new(old.clone())
        .expect("reads")
        .verify(&key)
        .expect("verifies offline");
    for app in TestApp::all().await {
        app.db
            .store
            .register_signing_key(&key.key_id(), &key.to_base64url())
            .await
            .expect("the old key is known here");
        let v = app.post("/api/v1/receipts/verify", &old).await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.body["valid"], true, "{}: {}", app.engine(), v.body);
        assert_eq!(v.body["signature_valid"], true);
        // Adding the count afterwards is a change the signature catches.
        let mut restated = old.clone();
        restated["unpriced_events"] = json!(1);
        let v = app.post("/api/v1/receipts/verify", &restated).await;
        assert_eq!(v.body["valid"], false, "{}", v.body);
    }
}
