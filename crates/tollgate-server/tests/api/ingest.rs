use serde_json::json;

use crate::support::{assert_error, usage, TestApp};

#[tokio::test]
async fn a_logged_call_answers_in_the_llmring_shape_with_an_exact_cost() {
    for app in TestApp::all().await {
        let r = app.post("/api/v1/log", &usage("gpt-4o", 1000, 500)).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert!(uuid::Uuid::parse_str(r.body["log_id"].as_str().expect("log_id")).is_ok());
        // 1000 × $2.50/M + 500 × $10/M
        assert_eq!(r.body["cost"], json!(0.0075));
        assert_eq!(r.body["cost_exact"], "0.007500000");
        assert_eq!(r.body["currency"], "USD");
        assert_eq!(r.body["price_version"], "builtin:openai/gpt-4o@2024-08-06");
        assert!(r.body["timestamp"]
            .as_str()
            .expect("timestamp")
            .ends_with('Z'));
        assert_eq!(r.body["duplicate"], false);
    }
}

#[tokio::test]
async fn posting_usage_twice_with_the_same_request_id_records_it_once() {
    for app in TestApp::all().await {
        let mut body = usage("gpt-4o", 10, 10);
        body["request_id"] = json!("req-42");
        let first = app.post("/api/v1/log", &body).await;
        let second = app.post("/api/v1/log", &body).await;
        assert_eq!(first.status, 200);
        assert_eq!(
            second.body["log_id"],
            first.body["log_id"],
            "{}",
            app.engine()
        );
        assert_eq!(second.body["duplicate"], true);
        let stats = app.get("/api/v1/stats").await;
        assert_eq!(
            stats.body["summary"]["total_requests"],
            1,
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn concurrent_retries_of_one_request_are_counted_once() {
    for app in TestApp::all().await {
        let mut body = usage("gpt-4o", 10, 10);
        body["request_id"] = json!("burst");
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (http, url, key, body) = (
                app.http.clone(),
                format!("{}/api/v1/log", app.base),
                app.key.clone(),
                body.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let r = http
                    .post(url)
                    .header("X-API-Key", key)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), 200);
                r.json::<serde_json::Value>().await.expect("json")["log_id"].clone()
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("task"));
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{}", app.engine());
        let logs = app.get("/api/v1/logs").await;
        assert_eq!(
            logs.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn cached_reasoning_and_cache_write_tokens_are_priced_at_their_own_rates() {
    for app in TestApp::all().await {
        // OpenAI: cached reads at $1.25/M, reasoning inside output at the output rate.
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "usage": {
                    "prompt_tokens": 1000, "completion_tokens": 500,
                    "prompt_tokens_details": {"cached_tokens": 600},
                    "completion_tokens_details": {"reasoning_tokens": 200}}}),
            )
            .await;
        // 400 × 2.50 + 600 × 1.25 + 500 × 10, per million
        assert_eq!(
            r.body["cost_exact"],
            "0.006750000",
            "{}: {}",
            app.engine(),
            r.body
        );
        // Anthropic: cache reads $0.30/M and writes $3.75/M beside the input count.
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "anthropic", "model": "claude-sonnet-4-20250514", "usage": {
                    "input_tokens": 100, "output_tokens": 50,
                    "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}}),
            )
            .await;
        // 100 × 3 + 1000 × 0.30 + 200 × 3.75 + 50 × 15, per million
        assert_eq!(r.body["cost_exact"], "0.002100000", "{}", r.body);
        assert_eq!(
            r.body["price_version"],
            "builtin:anthropic/claude-sonnet-4@2025-05-22"
        );
    }
}

#[tokio::test]
async fn a_cached_response_is_recorded_with_zero_tokens_and_cost_and_flagged() {
    for app in TestApp::all().await {
        let mut body = usage("gpt-4o", 1000, 500);
        body["cached_response"] = json!(true);
        let r = app.post("/api/v1/log", &body).await;
        assert_eq!(r.body["cost_exact"], "0.000000000", "{}", r.body);
        assert_eq!(r.body["flags"], json!(["cached_response"]));
        let logs = app.get("/api/v1/logs").await;
        let log = &logs.body[0];
        assert_eq!(
            (log["input_tokens"].as_i64(), log["output_tokens"].as_i64()),
            (Some(0), Some(0))
        );
        let stats = app.get("/api/v1/stats").await;
        assert_eq!(
            stats.body["summary"]["cached_responses"],
            1,
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn an_unknown_model_is_recorded_unpriced_unless_the_client_sent_a_cost() {
    for app in TestApp::all().await {
        let r = app.post("/api/v1/log", &json!({"provider": "acme", "model": "brand-new", "input_tokens": 5, "output_tokens": 5})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["cost_exact"].as_str(), r.body["flags"].clone()),
            (Some("0.000000000"), json!(["unpriced"]))
        );
        let r = app
            .post("/api/v1/log", &json!({"provider": "acme", "model": "brand-new", "input_tokens": 5, "output_tokens": 5, "cost": 0.0001}))
            .await;
        assert_eq!(
            (r.body["cost_exact"].as_str(), r.body["flags"].clone()),
            (Some("0.000100000"), json!(["client_cost"]))
        );
        // A known model ignores the client's cost.
        let mut body = usage("gpt-4o", 1000, 500);
        body["cost"] = json!(99.0);
        assert_eq!(
            app.post("/api/v1/log", &body).await.body["cost_exact"],
            "0.007500000"
        );
        let unpriced = app.get("/api/v1/logs?unpriced=true").await;
        assert_eq!(
            unpriced.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            app.engine()
        );
        // Every group counts its unpriced calls beside its cost.
        let stats = app.get("/api/v1/stats?group_by=model").await.body;
        assert_eq!(stats["summary"]["unpriced_requests"], 1, "{stats}");
        assert_eq!(
            stats["by_model"]["brand-new"]["unpriced_requests"], 1,
            "{stats}"
        );
        assert_eq!(stats["by_model"]["gpt-4o"]["unpriced_requests"], 0);
        assert_eq!(
            stats["groups"][0]["unpriced_requests"], 0,
            "gpt-4o costs most"
        );
    }
}

#[tokio::test]
async fn an_event_keeps_the_price_in_force_at_its_own_time() {
    for app in TestApp::all().await {
        // gpt-4o's built-in price starts 2024-08-06: an older call has no price then.
        let mut old = usage("gpt-4o", 1000, 500);
        old["timestamp"] = json!("2024-01-01T00:00:00Z");
        let r = app.post("/api/v1/log", &old).await;
        assert_eq!(r.body["flags"], json!(["unpriced"]), "{}", r.body);
        let mut new = usage("gpt-4o", 1000, 500);
        new["timestamp"] = json!("2025-01-01T00:00:00Z");
        assert_eq!(
            app.post("/api/v1/log", &new).await.body["price_version"],
            "builtin:openai/gpt-4o@2024-08-06"
        );
    }
}

#[tokio::test]
async fn each_class_of_bad_input_is_a_4xx_that_writes_nothing() {
    for app in TestApp::all().await {
        let cases = [
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": -1, "output_tokens": 1}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 2_000_000_000_i64, "output_tokens": 1}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": "ten", "output_tokens": 1}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "input_tokens": 1, "output_tokens": 1}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "x".repeat(300), "input_tokens": 1, "output_tokens": 1}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "timestamp": "yesterday"}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost": -5}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cached_input_tokens": 9}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "conversation_id": "nope"}),
                422,
                "INVALID_FIELD",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "usage": {"prompt_tokens": 1.5}}),
                422,
                "INVALID_FIELD",
            ),
            (json!([1, 2]), 422, "INVALID_FIELD"),
        ];
        for (body, status, code) in cases {
            let r = app.post("/api/v1/log", &body).await;
            assert_error(&r, status, code);
        }
        assert_error(
            &app.post_raw("/api/v1/log", b"{\"provider\": ".to_vec())
                .await,
            400,
            "INVALID_JSON",
        );
        let big = format!("{{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1,\"output_tokens\":1,\"metadata\":{{\"x\":\"{}\"}}}}", "a".repeat(1_100_000));
        assert_error(
            &app.post_raw("/api/v1/log", big.into_bytes()).await,
            413,
            "BODY_TOO_LARGE",
        );
        let logs = app.get("/api/v1/logs").await;
        assert_eq!(
            logs.body,
            json!([]),
            "{}: nothing was written",
            app.engine()
        );
    }
}

#[tokio::test]
async fn a_batch_reports_each_event_and_one_bad_event_rejects_nothing_else() {
    for app in TestApp::all().await {
        let mut dup = usage("gpt-4o", 1, 1);
        dup["request_id"] = json!("dup");
        let r = app
            .post(
                "/api/v1/log/batch",
                &json!({"events": [usage("gpt-4o", 10, 10), {"provider": "openai", "model": "gpt-4o", "input_tokens": -3, "output_tokens": 1}, dup, dup, usage("gpt-4o-mini", 5, 5)]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let results = r.body["results"].as_array().expect("results");
        let statuses: Vec<&str> = results
            .iter()
            .map(|x| x["status"].as_str().expect("status"))
            .collect();
        assert_eq!(
            statuses,
            vec!["recorded", "rejected", "recorded", "duplicate", "recorded"],
            "{}",
            app.engine()
        );
        assert_eq!(results[1]["index"], 1);
        assert_eq!(results[1]["error"]["code"], "INVALID_FIELD");
        assert_eq!(
            (
                r.body["recorded"].as_i64(),
                r.body["duplicates"].as_i64(),
                r.body["rejected"].as_i64()
            ),
            (Some(3), Some(1), Some(1))
        );
        assert_eq!(
            app.get("/api/v1/stats").await.body["summary"]["total_requests"],
            3
        );
        let too_many: Vec<_> = (0..1001).map(|_| usage("gpt-4o", 1, 1)).collect();
        assert_error(
            &app.post("/api/v1/log/batch", &json!({"events": too_many}))
                .await,
            422,
            "INVALID_FIELD",
        );
        assert_error(
            &app.post("/api/v1/log/batch", &json!({"events": []})).await,
            422,
            "INVALID_FIELD",
        );
    }
}

#[tokio::test]
async fn batches_larger_than_the_body_gate_wait_their_turn_and_every_event_is_recorded() {
    // A 2 KiB gate: each body (about 100 KiB, over the size read without waiting) alone takes
    // all of it, so the eight batches are read one at a time while the others wait unread.
    for app in TestApp::all_with(|s| s.ingest.max_pending_body_bytes = 2048).await {
        let batch = json!({"events": (0..1000).map(|_| usage("gpt-4o", 3, 2)).collect::<Vec<_>>()});
        assert!(
            // The server reads bodies of up to 64 KiB without waiting (`state::SMALL_BODY`).
            serde_json::to_vec(&batch).expect("json").len() > 64 * 1024,
            "the batch must be large enough to wait for the gate"
        );
        let replies =
            futures_util::future::join_all((0..8).map(|_| app.post("/api/v1/log/batch", &batch)))
                .await;
        for r in &replies {
            assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
            assert_eq!(r.body["recorded"], 1000, "{}", app.engine());
        }
        let mut seqs: Vec<i64> = replies
            .iter()
            .flat_map(|r| r.body["results"].as_array().expect("results").clone())
            .map(|e| e["seq"].as_i64().expect("seq"))
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..8000).collect::<Vec<i64>>(), "{}", app.engine());
    }
}

#[tokio::test]
async fn clients_that_never_send_their_small_bodies_hold_back_no_other_call() {
    use tokio::io::AsyncWriteExt;
    for app in TestApp::all_with(|s| s.ingest.max_pending_body_bytes = 2048).await {
        let addr = app.base.trim_start_matches("http://").to_string();
        // Four calls whose heads arrive and whose bodies never do: together they declare
        // more than the whole gate.
        let mut stalled = Vec::new();
        for _ in 0..4 {
            let mut conn = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            let head = format!(
                "POST /api/v1/log HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1500\r\n\r\n",
                app.key
            );
            conn.write_all(head.as_bytes()).await.expect("write");
            stalled.push(conn);
        }
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.post("/api/v1/log", &usage("gpt-4o", 1, 1)),
        )
        .await
        .expect("another call is answered while they stall");
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        drop(stalled);
    }
}

#[tokio::test]
async fn events_keep_the_price_version_in_force_at_their_time() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("prices.toml");
    std::fs::write(
        &file,
        r#"
[[prices]]
provider = "acme"
model = "sparrow"
effective_from = "2026-01-01"
input = "1"
output = "2"

[[prices]]
provider = "acme"
model = "sparrow"
effective_from = "2026-06-01T12:00:00Z"
input = "3"
output = "4"
"#,
    )
    .expect("write");
    for app in TestApp::all_with(|s| s.pricing.file = Some(file.clone())).await {
        let at = |ts: &str| json!({"provider": "acme", "model": "sparrow", "input_tokens": 1_000_000, "output_tokens": 1_000_000, "timestamp": ts});
        let before = app.post("/api/v1/log", &at("2026-06-01T11:59:59Z")).await;
        let after = app.post("/api/v1/log", &at("2026-06-01T12:00:00Z")).await;
        assert_eq!(
            before.body["price_version"], "file:acme/sparrow@2026-01-01",
            "{}",
            before.body
        );
        assert_eq!(before.body["cost_exact"], "3.000000000");
        assert_eq!(
            after.body["price_version"],
            "file:acme/sparrow@2026-06-01T12:00:00.000000Z"
        );
        assert_eq!(after.body["cost_exact"], "7.000000000");
        // The stored events keep what they were charged.
        let logs = app
            .get("/api/v1/logs?model=sparrow&start_date=2026-01-01")
            .await;
        let versions: Vec<&str> = logs
            .body
            .as_array()
            .expect("logs")
            .iter()
            .map(|l| l["price_version"].as_str().expect("v"))
            .collect();
        assert_eq!(
            versions,
            vec![
                "file:acme/sparrow@2026-06-01T12:00:00.000000Z",
                "file:acme/sparrow@2026-01-01"
            ],
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn pricing_coverage_lists_the_models_called_without_a_price_and_their_token_classes() {
    for app in TestApp::all().await {
        for body in [
            json!({"provider": "acme", "model": "brand-new", "input_tokens": 100,
                   "cached_input_tokens": 40, "output_tokens": 10}),
            json!({"provider": "acme", "model": "brand-new", "input_tokens": 5, "output_tokens": 5,
                   "reasoning_tokens": 2}),
            json!({"provider": "acme", "model": "other-new", "input_tokens": 1, "output_tokens": 1}),
            usage("gpt-4o", 1000, 500),
        ] {
            let r = app.post("/api/v1/log", &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let c = app.get("/api/v1/pricing/coverage").await;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.body["unpriced_requests"], 3, "{}", c.body);
        let first = &c.body["models"][0];
        assert_eq!(first["model"], "brand-new", "most calls first: {}", c.body);
        assert_eq!(first["requests"], 2);
        assert_eq!(first["input_tokens"], 105);
        assert_eq!(
            first["token_classes"],
            json!(["input", "cached_input", "output", "reasoning"])
        );
        assert_eq!(first["priced_now"], false);
        assert_eq!(
            c.body["models"].as_array().map(Vec::len),
            Some(2),
            "gpt-4o is priced"
        );

        let (_, other) = app
            .tenant_key("other", &tollgate_store::Scope::ALL[..2])
            .await;
        let theirs = app.get_as(&other, "/api/v1/pricing/coverage").await;
        assert_eq!(theirs.body["unpriced_requests"], 0, "{}", theirs.body);
        let bad = app
            .get("/api/v1/pricing/coverage?start_date=2026-02-01&end_date=2026-01-01")
            .await;
        assert_eq!(bad.status, 400, "{}", bad.body);
    }
}

#[tokio::test]
async fn an_imported_price_applies_at_once_and_a_tenants_own_only_to_that_tenant() {
    let file = "[[prices]]\nprovider = \"acme\"\nmodel = \"brand-new\"\n\
                effective_from = \"2020-01-01\"\ninput = \"1\"\noutput = \"2\"\n";
    for app in TestApp::all().await {
        let call = json!({"provider": "acme", "model": "brand-new", "input_tokens": 1000,
                          "output_tokens": 1000});
        let before = app.post("/api/v1/log", &call).await;
        assert_eq!(before.body["flags"], json!(["unpriced"]), "{}", before.body);

        let (_, admin) = app
            .tenant_key(
                "other",
                &[tollgate_store::Scope::Admin, tollgate_store::Scope::Ingest],
            )
            .await;
        let shared = json!({"format": "toml", "content": file});
        let r = app.post_as(&admin, "/api/v1/pricing/import", &shared).await;
        assert_eq!(
            r.status, 403,
            "every tenant's prices need an operator: {}",
            r.body
        );
        let own = json!({"format": "toml", "content": file.replace("\"2\"", "\"4\""),
                         "for_tenant": true});
        let r = app.post_as(&admin, "/api/v1/pricing/import", &own).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let theirs = app.post_as(&admin, "/api/v1/log", &call).await;
        assert_eq!(theirs.body["cost_exact"], "0.005000000", "{}", theirs.body);
        let still = app.post("/api/v1/log", &call).await;
        assert_eq!(
            still.body["flags"],
            json!(["unpriced"]),
            "not the app's tenant's price"
        );

        let r = app.post("/api/v1/pricing/import", &shared).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["added"], 1);
        let after = app.post("/api/v1/log", &call).await;
        // 1000 × $1 + 1000 × $2 per million, at once on this instance.
        assert_eq!(after.body["cost_exact"], "0.003000000", "{}", after.body);
        assert_eq!(
            before.body["cost_exact"], "0.000000000",
            "earlier calls keep their price"
        );
        let again = app.post("/api/v1/pricing/import", &shared).await;
        assert_eq!(again.body["already_present"], 1, "{}", again.body);
        let changed = json!({"format": "toml", "content": file.replace("\"1\"", "\"9\"")});
        assert_error(
            &app.post("/api/v1/pricing/import", &changed).await,
            409,
            "CONFLICT",
        );
        let bad = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "toml", "content": "[[prices]]\nmodel = 1"}),
            )
            .await;
        assert_error(&bad, 422, "INVALID_FIELD");
        assert_eq!(bad.body["error"]["field"], "content");

        // LiteLLM's file: what Tollgate does not map is said, by field.
        let litellm = r#"{"acme/voice-1": {"litellm_provider": "acme",
            "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
            "input_cost_per_audio_token": 4e-05, "input_cost_per_pixel": 1e-08}}"#;
        let r = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "litellm", "content": litellm, "effective_from": "2020-01-01"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["added"], 1);
        assert_eq!(r.body["unmapped"], json!({"input_cost_per_pixel": 1}));
        let listed = app.get("/api/v1/pricing?at=2021-01-01").await.body;
        let voice = listed["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|p| p["model"] == "voice-1")
            .cloned()
            .expect("imported");
        assert_eq!(voice["audio_input"], "40", "{voice}");
    }
}
