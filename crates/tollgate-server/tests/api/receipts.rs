use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tollgate_receipts::keys::{self, PublicKey, SigningKey};
use tollgate_receipts::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use tollgate_receipts::note::Checkpoint;
use tollgate_receipts::signature::verify_document;
use tollgate_store::Scope;

use crate::support::{assert_error, usage, TestApp};

fn hash(text: &Value) -> Hash {
    STANDARD
        .decode(text.as_str().expect("base64 text"))
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

async fn log_many(app: &TestApp, n: usize, model: &str) -> Vec<String> {
    let events: Vec<Value> = (0..n).map(|i| usage(model, 100 + i as i64, 10)).collect();
    let r = app
        .post("/api/v1/log/batch", &json!({ "events": events }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["log_id"].as_str().expect("log_id").to_string())
        .collect()
}

async fn public_key(app: &TestApp, key_id: &str) -> PublicKey {
    let r = app.get("/api/v1/receipts/public-keys.json").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let k = r.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key_id"] == key_id)
        .expect("the receipt's key is published")
        .clone();
    PublicKey::from_base64url(k["public_key"].as_str().expect("key")).expect("public key")
}

async fn since_last(app: &TestApp) -> (Value, i64) {
    let r = app
        .post(
            "/api/v1/receipts/generate",
            &json!({"since_last_receipt": true, "description": "October", "tags": ["monthly"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    (
        r.body["receipt"].clone(),
        r.body["certified_count"].as_i64().expect("count"),
    )
}

#[tokio::test]
async fn a_since_last_receipt_carries_llmring_fields_and_a_signature_over_everything() {
    for app in TestApp::all().await {
        log_many(&app, 3, "gpt-4o").await;
        let (receipt, count) = since_last(&app).await;
        assert_eq!(count, 3);
        for field in [
            "receipt_id",
            "timestamp",
            "alias",
            "profile",
            "lock_digest",
            "provider",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "input_cost",
            "output_cost",
            "total_cost",
            "signature",
            "receipt_type",
            "description",
            "tags",
            "batch_summary",
            "key_id",
            "amounts",
            "tenant_id",
            "certified",
            "checkpoint",
        ] {
            assert!(receipt.get(field).is_some(), "{field} missing: {receipt}");
        }
        assert!(receipt["receipt_id"]
            .as_str()
            .expect("id")
            .starts_with("rcpt_"));
        assert_eq!(receipt["receipt_type"], "batch");
        assert_eq!(receipt["model"], "batch:3 calls");
        assert_eq!(receipt["prompt_tokens"], 100 + 101 + 102);
        assert_eq!(receipt["completion_tokens"], 30);
        assert_eq!(receipt["tenant_id"], app.tenant_id.as_str());
        // gpt-4o: $2.50 in, $10 out per million tokens.
        assert_eq!(receipt["amounts"]["USD"]["input_cost"], "0.000757500");
        assert_eq!(receipt["amounts"]["USD"]["output_cost"], "0.000300000");
        assert_eq!(receipt["amounts"]["USD"]["total_cost"], "0.001057500");
        assert!(receipt["input_cost"].as_f64().expect("float") > 0.0);
        let summary = &receipt["batch_summary"];
        assert_eq!(summary["total_calls"], 3);
        assert_eq!(summary["by_model"]["gpt-4o"]["calls"], 3);
        assert_eq!(summary["log_ids"].as_array().expect("ids").len(), 3);
        assert_eq!(receipt["certified"]["count"], 3);
        assert_eq!(receipt["checkpoint"]["size"], 3);
        let signature = receipt["signature"].as_str().expect("signature");
        assert!(signature.starts_with("ed25519:") && !signature.contains('='));

        // Offline: the published key verifies the whole document.
        let key = public_key(&app, receipt["key_id"].as_str().expect("key id")).await;
        verify_document(&receipt, &key).expect("valid signature");

        // The server agrees, and checks the set commitment against the stored logs.
        let v = app.post("/api/v1/receipts/verify", &receipt).await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.body["valid"], true, "{}", v.body);
        assert_eq!(v.body["algorithm"], "Ed25519");
        assert_eq!(v.body["commitment_valid"], true);
    }
}

/// Every JSON path to a scalar in `v`.
fn paths(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                paths(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                paths(x, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

fn tampered(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s}x")),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i + 1),
            None => json!(n.as_f64().unwrap_or(0.0) * 2.0 + 1.0),
        },
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => json!("set"),
        other => other.clone(),
    }
}

#[tokio::test]
async fn changing_any_field_of_a_receipt_fails_verification() {
    let app = TestApp::all().await.remove(0);
    log_many(&app, 2, "gpt-4o").await;
    let (receipt, _) = since_last(&app).await;
    let key = public_key(&app, receipt["key_id"].as_str().expect("key id")).await;
    let mut all = Vec::new();
    paths(&receipt, String::new(), &mut all);
    let mut checked = 0;
    for path in all.iter().filter(|p| p.as_str() != "/signature") {
        let mut copy = receipt.clone();
        let slot = copy.pointer_mut(path).expect("path");
        *slot = tampered(slot);
        assert!(
            verify_document(&copy, &key).is_err(),
            "tampering {path} still verifies"
        );
        checked += 1;
    }
    assert!(checked > 40, "only {checked} fields checked");
    // Through the server too, for a field the peer left unsigned.
    let mut copy = receipt.clone();
    copy["batch_summary"]["total_calls"] = json!(99);
    let v = app.post("/api/v1/receipts/verify", &copy).await;
    assert_eq!(v.body["valid"], false, "{}", v.body);
    let mut copy = receipt.clone();
    copy["description"] = json!("November");
    let v = app.post("/api/v1/receipts/verify", &copy).await;
    assert_eq!(v.body["valid"], false, "{}", v.body);
}

#[tokio::test]
async fn since_last_certifies_only_what_no_receipt_certified() {
    for app in TestApp::all().await {
        log_many(&app, 4, "gpt-4o").await;
        let (_, first) = since_last(&app).await;
        assert_eq!(first, 4);
        let again = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_error(&again, 400, "NO_LOGS");
        assert_eq!(again.body["detail"], "No logs found matching the criteria");

        let new = log_many(&app, 2, "gpt-4o-mini").await;
        let u = app.get("/api/v1/receipts/uncertified").await;
        assert_eq!(u.status, 200, "{}", u.body);
        assert_eq!(u.body["total"], 2);
        let listed: Vec<&str> = u.body["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .map(|l| l["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            listed,
            vec![new[1].as_str(), new[0].as_str()],
            "newest first"
        );

        let (receipt, second) = since_last(&app).await;
        assert_eq!(second, 2);
        assert_eq!(receipt["model"], "batch:2 calls");
        assert_eq!(receipt["checkpoint"]["size"], 6);
        let u = app.get("/api/v1/receipts/uncertified").await;
        assert_eq!(u.body["total"], 0);
    }
}

// Multi-threaded, as the server runs in production: on a current-thread runtime a SQLite
// append waits for the write lock inline on the one thread a concurrent receipt's open write
// transaction needs in order to commit, and could wait out the busy timeout (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_since_last_generations_never_certify_a_log_twice() {
    for app in TestApp::all().await {
        log_many(&app, 40, "gpt-4o").await;
        let mut tasks = Vec::new();
        for round in 0..6 {
            let base = app.base.clone();
            let key = app.key.clone();
            let http = app.http.clone();
            tasks.push(tokio::spawn(async move {
                if round % 2 == 1 {
                    // Interleave more logging with the generations.
                    let body = json!({"events": (0..5).map(|_| usage("gpt-4o", 1, 1)).collect::<Vec<_>>()});
                    let r = http
                        .post(format!("{base}/api/v1/log/batch"))
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200);
                }
                let r = http
                    .post(format!("{base}/api/v1/receipts/generate"))
                    .header("X-API-Key", &key)
                    .json(&json!({"since_last_receipt": true}))
                    .send()
                    .await
                    .expect("send");
                let status = r.status().as_u16();
                let body: Value = r.json().await.expect("json");
                (status, body)
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            let (status, body) = t.await.expect("task");
            match status {
                200 => ids.push(
                    body["receipt"]["receipt_id"]
                        .as_str()
                        .expect("id")
                        .to_string(),
                ),
                400 => assert_eq!(body["error"]["code"], "NO_LOGS", "{body}"),
                _ => panic!("{}: unexpected {status}: {body}", app.engine()),
            }
        }
        // One more picks up whatever is left.
        let last = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        if last.status == 200 {
            ids.push(
                last.body["receipt"]["receipt_id"]
                    .as_str()
                    .expect("id")
                    .to_string(),
            );
        }
        let mut seen = HashSet::new();
        for id in &ids {
            let r = app
                .get(&format!("/api/v1/receipts/{id}/logs?limit=1000"))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            for l in r.body["logs"].as_array().expect("logs") {
                let log_id = l["id"].as_str().expect("id").to_string();
                assert!(
                    seen.insert(log_id.clone()),
                    "{}: {log_id} certified twice",
                    app.engine()
                );
            }
        }
        assert_eq!(
            seen.len(),
            40 + 3 * 5,
            "{}: every log certified once",
            app.engine()
        );
    }
}

#[tokio::test]
async fn receipts_select_by_conversation_dates_and_ids_with_llmring_errors() {
    for app in TestApp::all().await {
        let conv = app
            .post(
                "/api/v1/conversations/log",
                &json!({"messages": [{"role": "user", "content": "hi"}],
                        "response": {"content": "hello", "model": "gpt-4o"},
                        "metadata": {"provider": "openai", "model": "gpt-4o", "input_tokens": 7, "output_tokens": 3}}),
            )
            .await;
        assert_eq!(conv.status, 200, "{}", conv.body);
        let conversation_id = conv.body["conversation_id"]
            .as_str()
            .expect("id")
            .to_string();
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o-mini",
                "input_tokens": 5, "output_tokens": 5, "timestamp": "2026-02-03T10:00:00Z"}),
            )
            .await;
        let dated = r.body["log_id"].as_str().expect("log id").to_string();

        let c = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"conversation_id": conversation_id}),
            )
            .await;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.body["certified_count"], 1);
        assert_eq!(c.body["receipt"]["receipt_type"], "single");
        assert_eq!(c.body["receipt"]["model"], "gpt-4o");
        assert_eq!(c.body["receipt"]["prompt_tokens"], 7);

        let d = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"start_date": "2026-02-03", "end_date": "2026-02-03"}),
            )
            .await;
        assert_eq!(d.status, 200, "{}", d.body);
        assert_eq!(d.body["certified_count"], 1);
        assert_eq!(
            d.body["receipt"]["batch_summary"]["log_ids"][0],
            dated.as_str()
        );

        let ids = app
            .post("/api/v1/receipts/generate", &json!({"log_ids": [dated]}))
            .await;
        assert_eq!(ids.status, 200, "{}", ids.body);
        assert_eq!(
            ids.body["certified_count"], 1,
            "a log may be in several receipts"
        );

        // The first mode that applies wins: a start date alone is no range.
        let none = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"start_date": "2026-02-03", "log_ids": []}),
            )
            .await;
        assert_error(&none, 400, "NO_SELECTION");
        assert_eq!(
            none.body["detail"],
            "Must specify one of: conversation_id, date range, log_ids, or since_last_receipt"
        );
        let missing = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"log_ids": ["00000000-0000-7000-8000-000000000000"]}),
            )
            .await;
        assert_error(&missing, 400, "NO_LOGS");
        let bad = app
            .post("/api/v1/receipts/generate", &json!({"log_ids": ["nope"]}))
            .await;
        assert_error(&bad, 422, "INVALID_FIELD");
        let backwards = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"start_date": "2026-02-04", "end_date": "2026-02-03"}),
            )
            .await;
        assert_error(&backwards, 422, "INVALID_FIELD");

        // Preview: the same numbers, nothing stored.
        let before = app.get("/api/v1/receipts").await;
        let p = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"start_date": "2026-02-03", "end_date": "2026-02-03T23:59:59"}),
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert_eq!(p.body["total_logs"], 1);
        assert_eq!(p.body["total_tokens"], 10);
        assert_eq!(p.body["by_model"]["gpt-4o-mini"]["calls"], 1);
        let empty = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"start_date": "2020-01-01", "end_date": "2020-01-02"}),
            )
            .await;
        assert_eq!(empty.status, 200);
        assert_eq!(empty.body["total_logs"], 0);
        assert_eq!(empty.body["message"], "No logs found matching the criteria");
        let after = app.get("/api/v1/receipts").await;
        assert_eq!(before.body["total"], after.body["total"]);
    }
}

#[tokio::test]
async fn receipts_are_listed_newest_first_with_batch_fields_and_tags() {
    for app in TestApp::all().await {
        log_many(&app, 2, "gpt-4o").await;
        let (first, _) = since_last(&app).await;
        log_many(&app, 1, "gpt-4o").await;
        let r = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true, "tags": ["daily"]}),
            )
            .await;
        let second = r.body["receipt"].clone();
        for path in ["/api/v1/receipts", "/api/v1/receipts/"] {
            let l = app.get(path).await;
            assert_eq!(l.status, 200, "{}", l.body);
            assert_eq!(l.body["total"], 2);
            let list = l.body["receipts"].as_array().expect("receipts");
            assert_eq!(list[0], second, "newest first, byte for byte");
            assert_eq!(list[1]["batch_summary"]["total_calls"], 2);
        }
        let tagged = app.get("/api/v1/receipts?tag=monthly").await;
        assert_eq!(tagged.body["total"], 1);
        assert_eq!(
            tagged.body["receipts"][0]["receipt_id"],
            first["receipt_id"]
        );
        let page = app.get("/api/v1/receipts?limit=1&offset=1").await;
        assert_eq!(page.body["receipts"][0]["receipt_id"], first["receipt_id"]);
        let bad = app.get("/api/v1/receipts?limit=0").await;
        assert_error(&bad, 400, "INVALID_QUERY");

        let id = first["receipt_id"].as_str().expect("id");
        let got = app.get(&format!("/api/v1/receipts/{id}")).await;
        assert_eq!(got.body, first);
        let logs = app
            .get(&format!("/api/v1/receipts/{id}/logs?limit=1&offset=1"))
            .await;
        assert_eq!(logs.status, 200, "{}", logs.body);
        assert_eq!(logs.body["total"], 2);
        assert_eq!(logs.body["logs"][0]["index"], 1);
        assert_eq!(logs.body["logs"][0]["type"], "usage");
        let missing = app.get("/api/v1/receipts/rcpt_missing").await;
        assert_error(&missing, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn another_tenant_sees_none_of_a_receipt() {
    for app in TestApp::all().await {
        let ids = log_many(&app, 2, "gpt-4o").await;
        let (receipt, _) = since_last(&app).await;
        let id = receipt["receipt_id"].as_str().expect("id");
        let (_, other) = app.tenant_key("other", &Scope::ALL[..2]).await;
        for path in [
            format!("/api/v1/receipts/{id}"),
            format!("/api/v1/receipts/{id}/logs"),
            format!("/api/v1/receipts/{id}/proof?log_id={}", ids[0]),
        ] {
            let r = app.get_as(&other, &path).await;
            assert_error(&r, 404, "NOT_FOUND");
        }
        let list = app.get_as(&other, "/api/v1/receipts").await;
        assert_eq!(list.body["total"], 0);
        let u = app.get_as(&other, "/api/v1/receipts/uncertified").await;
        assert_eq!(u.body["total"], 0);
        let steal = app
            .post_as(
                &other,
                "/api/v1/receipts/generate",
                &json!({"log_ids": ids}),
            )
            .await;
        assert_error(&steal, 400, "NO_LOGS");
        // The other tenant may check the signature, but not the commitment of a receipt
        // that is not its own.
        let v = app
            .post_as(
                &other,
                "/api/v1/receipts/verify",
                &json!({"receipt_id": id}),
            )
            .await;
        assert_error(&v, 404, "NOT_FOUND");
        let v = app
            .post_as(&other, "/api/v1/receipts/verify", &receipt)
            .await;
        assert_eq!(v.body["valid"], true);
        assert_eq!(v.body["commitment_valid"], Value::Null);
        let cp = app.get_as(&other, "/api/v1/transparency/entries").await;
        assert_eq!(cp.body["size"], 0);
    }
}

#[tokio::test]
async fn a_receipt_proves_each_log_it_certifies() {
    for app in TestApp::all().await {
        let ids = log_many(&app, 300, "gpt-4o").await;
        let (receipt, _) = since_last(&app).await;
        let id = receipt["receipt_id"].as_str().expect("id");
        let root = hash(&receipt["certified"]["merkle_root"]);
        for (i, log_id) in ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 37 == 0 || *i == 299)
        {
            let p = app
                .get(&format!("/api/v1/receipts/{id}/proof?log_id={log_id}"))
                .await;
            assert_eq!(p.status, 200, "{}", p.body);
            assert_eq!(p.body["index"], i);
            let entry = p.body["entry"].as_str().expect("entry");
            let leaf = leaf_hash(entry.as_bytes());
            assert_eq!(leaf, hash(&p.body["leaf_hash"]));
            let proof: Vec<Hash> = p.body["proof"]
                .as_array()
                .expect("proof")
                .iter()
                .map(hash)
                .collect();
            verify_inclusion(&leaf, i as u64, 300, &proof, &root).expect("inclusion");
            let canonical: Value = serde_json::from_str(entry).expect("entry json");
            assert_eq!(canonical["log_id"], log_id.as_str());
        }
        let later = log_many(&app, 1, "gpt-4o").await;
        let p = app
            .get(&format!("/api/v1/receipts/{id}/proof?log_id={}", later[0]))
            .await;
        assert_error(&p, 404, "NOT_CERTIFIED");
        let p = app.get(&format!("/api/v1/receipts/{id}/proof")).await;
        assert_error(&p, 400, "INVALID_QUERY");
    }
}

#[tokio::test]
async fn checkpoints_are_signed_notes_that_stay_consistent_as_the_log_grows() {
    for app in TestApp::all().await {
        log_many(&app, 5, "gpt-4o").await;
        let first = app.get_text("/api/v1/transparency/checkpoint").await;
        let keys = app.get("/api/v1/receipts/public-keys.json").await;
        let current = keys.body["current_key_id"]
            .as_str()
            .expect("current")
            .to_string();
        let key = public_key(&app, &current).await;
        let origin = format!("tollgate/{}", app.tenant_id);
        let old = Checkpoint::open(&first, &origin, &key).expect("a valid checkpoint");
        assert_eq!(old.size, 5);

        log_many(&app, 300, "gpt-4o").await;
        let second = app.get_text("/api/v1/transparency/checkpoint").await;
        let new = Checkpoint::open(&second, &origin, &key).expect("a valid checkpoint");
        assert_eq!(new.size, 305);
        let c = app
            .get("/api/v1/transparency/consistency?from=5&to=305")
            .await;
        assert_eq!(c.status, 200, "{}", c.body);
        let proof: Vec<Hash> = c.body["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(hash)
            .collect();
        verify_consistency(5, 305, &old.root, &new.root, &proof).expect("consistent");

        let p = app.get("/api/v1/transparency/proof?seq=260&size=305").await;
        assert_eq!(p.status, 200, "{}", p.body);
        let leaf = leaf_hash(p.body["entry"].as_str().expect("entry").as_bytes());
        let proof: Vec<Hash> = p.body["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(hash)
            .collect();
        verify_inclusion(&leaf, 260, 305, &proof, &new.root).expect("in the log");

        // The checkpoint a receipt references can be fetched by its size, signed as before.
        let again = app.get_text("/api/v1/transparency/checkpoint?size=5").await;
        assert_eq!(again, first);
        let bad = app.get("/api/v1/transparency/checkpoint?size=306").await;
        assert_error(&bad, 400, "INVALID_QUERY");

        let e = app.get("/api/v1/transparency/entries?start=3&end=6").await;
        assert_eq!(e.status, 200, "{}", e.body);
        let entries = e.body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["seq"], 3);

        let bad = app
            .get("/api/v1/transparency/consistency?from=9&to=5")
            .await;
        assert_error(&bad, 400, "INVALID_QUERY");
        let bad = app.get("/api/v1/transparency/proof?seq=305&size=305").await;
        assert_error(&bad, 400, "INVALID_QUERY");
    }
}

#[tokio::test]
async fn the_public_key_is_served_as_spki_pem_jwk_and_a_key_set_that_openssl_reads() {
    let app = TestApp::all().await.remove(0);
    let pem = app.get_text("/receipts/public-key.pem").await;
    assert_eq!(pem, app.get_text("/api/v1/receipts/public-key.pem").await);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let path = app.data_dir.path().join("published.pem");
    std::fs::write(&path, &pem).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ED25519"));

    let jwk = app.get("/receipts/public-key.jwk").await;
    assert_eq!(jwk.body["kty"], "OKP");
    assert_eq!(jwk.body["crv"], "Ed25519");
    let set = app.get("/receipts/public-keys.json").await;
    assert_eq!(
        set.body,
        app.get("/api/v1/receipts/public-keys.json").await.body
    );
    assert_eq!(set.body["keys"][0]["public_key"], jwk.body["x"]);
    // No auth needed for keys, and no signing route without it.
    let anon = app
        .http
        .get(format!("{}/receipts/public-keys.json", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(anon.status(), 200);
    let issue = app.post("/api/v1/receipts/issue", &json!({})).await;
    assert_eq!(issue.status.as_u16(), 405, "{}", issue.body);
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_old_receipts_valid() {
    for app in TestApp::all().await {
        log_many(&app, 1, "gpt-4o").await;
        let (old, _) = since_last(&app).await;
        // Rotate as `tollgate signing-key rotate` does: a new key file replaces the old one.
        let path = app.data_dir.path().join("signing-key.pem");
        let staged = app.data_dir.path().join("next.pem");
        let next = SigningKey::generate();
        keys::write_new(&staged, &next).expect("write key");
        // File modification times can be coarse; make sure the change is seen.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::rename(&staged, &path).expect("replace key");
        log_many(&app, 1, "gpt-4o").await;
        let (new, _) = since_last(&app).await;
        assert_ne!(old["key_id"], new["key_id"]);
        assert_eq!(new["key_id"], next.public_key().key_id().as_str());
        for receipt in [&old, &new] {
            let v = app.post("/api/v1/receipts/verify", receipt).await;
            assert_eq!(v.body["valid"], true, "{}", v.body);
        }
        let set = app.get("/receipts/public-keys.json").await;
        assert_eq!(set.body["keys"].as_array().expect("keys").len(), 2);
        assert_eq!(set.body["current_key_id"], new["key_id"]);
    }
}

#[tokio::test]
async fn verify_answers_anyone_but_rejects_what_is_not_a_receipt() {
    let app = TestApp::all().await.remove(0);
    log_many(&app, 1, "gpt-4o").await;
    let (receipt, _) = since_last(&app).await;
    let anon = app
        .http
        .post(format!("{}/api/v1/receipts/verify", app.base))
        .json(&receipt)
        .send()
        .await
        .expect("send");
    assert_eq!(anon.status(), 200);
    let body: Value = anon.json().await.expect("json");
    assert_eq!(body["valid"], true);
    let wrapped = app
        .post("/api/v1/receipts/verify", &json!({"receipt": receipt}))
        .await;
    assert_eq!(wrapped.body["valid"], true);
    let by_id = app
        .post(
            "/api/v1/receipts/verify",
            &json!({"receipt_id": receipt["receipt_id"]}),
        )
        .await;
    assert_eq!(by_id.body["valid"], true, "{}", by_id.body);
    let unsigned = app
        .post(
            "/api/v1/receipts/verify",
            &json!({"receipt_id": "x", "key_id": "key_0", "signature": "ed25519:AAAA"}),
        )
        .await;
    assert_eq!(unsigned.body["valid"], false);
    let junk = app.post("/api/v1/receipts/verify", &json!([1, 2])).await;
    assert_error(&junk, 400, "INVALID_RECEIPT");
    // A member repeated ahead of the signed one would show a reader another total.
    let text = receipt.to_string();
    let doubled = format!("{{\"total_cost\":0.01,{}", &text[1..]);
    let r = app
        .post_raw("/api/v1/receipts/verify", doubled.into_bytes())
        .await;
    assert_error(&r, 400, "INVALID_RECEIPT");
}

#[tokio::test]
async fn ids_beyond_the_inline_cap_are_left_out_and_the_summary_says_so() {
    for app in TestApp::all_with(|s| s.receipts.inline_ids = 2).await {
        let ids = log_many(&app, 3, "gpt-4o").await;
        let (receipt, count) = since_last(&app).await;
        assert_eq!(count, 3);
        let summary = &receipt["batch_summary"];
        assert_eq!(summary["log_ids"], json!([ids[0], ids[1]]), "{summary}");
        assert_eq!(summary["log_ids_complete"], false);
        assert_eq!(summary["total_calls"], 3);
        // The full set is still served, and fixed by the signed root.
        let id = receipt["receipt_id"].as_str().expect("id");
        let logs = app.get(&format!("/api/v1/receipts/{id}/logs")).await;
        assert_eq!(logs.body["logs"].as_array().expect("logs").len(), 3);
    }
}

#[tokio::test]
async fn logs_that_grew_get_a_checkpoint_without_being_asked() {
    for app in TestApp::all_with(|s| s.receipts.checkpoint_seconds = 1).await {
        log_many(&app, 3, "gpt-4o").await;
        let mut found = None;
        for _ in 0..100 {
            found = app
                .db
                .store
                .checkpoint(&app.tenant_id, None)
                .await
                .expect("checkpoint");
            if found.as_ref().is_some_and(|cp| cp.size == 3) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let cp = found.expect("a periodic checkpoint");
        assert_eq!(cp.size, 3, "{}", app.engine());
        let key = public_key(&app, &cp.key_id).await;
        let origin = format!("tollgate/{}", app.tenant_id);
        let opened = Checkpoint::open(&cp.note, &origin, &key).expect("signed");
        assert_eq!(opened.root, cp.root);
    }
}
