//! `POST /api/v1/pricing/reprice`: calls recorded without a price are priced, once a price is
//! imported, by adjustments appended to the tenant log; totals, statistics, logs, receipts and
//! balances follow, and nothing already certified changes.

use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::support::{assert_error, top_up, TestApp};

/// $1.50 per million prompt tokens, $0.0015 per million generated ones, from 2025-01-01: a
/// generated token costs 1.5 nanos, so the totals below are rounded, once, half-even.
const PRICES: &str = "[[prices]]\nprovider = \"acme\"\nmodel = \"brand-new\"\n\
                      effective_from = \"2025-01-01\"\ninput = \"1.5\"\noutput = \"0.0015\"\n";

fn call(model: &str, at: &str, input: i64, output: i64) -> Value {
    json!({"provider": "acme", "model": model, "timestamp": at,
           "input_tokens": input, "output_tokens": output})
}

async fn log(app: &TestApp, body: &Value) -> Value {
    let r = app.post("/api/v1/log", body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body
}

async fn reprice(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/pricing/reprice", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body
}

async fn stats(app: &TestApp, range: &str) -> Value {
    let r = app.get(&format!("/api/v1/stats?{range}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn generate(app: &TestApp, selection: Value) -> Value {
    let r = app.post("/api/v1/receipts/generate", &selection).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body
}

/// Asserts the server finds `receipt`'s signature and set commitment valid.
async fn assert_verifies(app: &TestApp, receipt: &Value) {
    let v = app.post("/api/v1/receipts/verify", receipt).await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["valid"], true, "{}: {}", app.engine(), v.body);
    assert_eq!(v.body["commitment_valid"], true, "{}", v.body);
}

/// The whole days of the calls (from the rollups), and a range inside their day (from the
/// events): both must count alike.
const WHOLE_DAYS: &str = "start_date=2025-06-01&end_date=2025-06-30";
const PART_DAY: &str = "start_date=2025-06-10T09:00:00Z&end_date=2025-06-10T23:00:00Z";

#[tokio::test]
async fn unpriced_calls_are_priced_by_appended_adjustments_once_a_price_is_imported() {
    for app in TestApp::all().await {
        top_up(&app, "u1", "10").await;
        let mut billed = call("brand-new", "2025-06-10T10:00:00Z", 1000, 3);
        billed["user_id"] = json!("u1");
        billed["alias"] = json!("chat");
        let first = log(&app, &billed).await;
        let second = log(&app, &call("brand-new", "2025-06-10T10:01:00Z", 2000, 1)).await;
        let mut cached = call("brand-new", "2025-06-10T10:02:00Z", 50, 50);
        cached["cached_response"] = json!(true);
        log(&app, &cached).await;
        let mystery = log(&app, &call("mystery", "2025-06-10T10:03:00Z", 10, 10)).await;
        for l in [&first, &second, &mystery] {
            assert_eq!(l["flags"], json!(["unpriced"]), "{l}");
        }
        let before = stats(&app, WHOLE_DAYS).await;
        assert_eq!(before["summary"]["unpriced_requests"], 3, "{before}");
        assert_eq!(before["summary"]["total_cost"], "0.000000000");
        let older = generate(&app, json!({"since_last_receipt": true})).await;
        assert_eq!(older["certified_count"], 4);

        let imported = app
            .post(
                "/api/v1/pricing/import",
                &json!({"format": "toml", "content": PRICES}),
            )
            .await;
        assert_eq!(imported.status, 200, "{}", imported.body);

        // A dry run says what would happen and writes nothing.
        let range = json!({"since": "2025-06-01", "until": "2025-07-01"});
        let mut dry = range.clone();
        dry["dry_run"] = json!(true);
        let would = reprice(&app, dry).await;
        assert_eq!(would["dry_run"], true);
        assert_eq!(would["repriced"], 2, "{would}");
        assert_eq!(would["cost"], "0.004500006");
        assert!(would["adjustments"]
            .as_array()
            .expect("list")
            .iter()
            .all(|a| a["log_id"].is_null()));
        assert_eq!(
            would["still_unpriced"],
            json!([{"provider": "acme", "model": "mystery", "events": 1}])
        );
        assert_eq!(
            stats(&app, WHOLE_DAYS).await,
            before,
            "a dry run wrote nothing"
        );
        let logs = app.get("/api/v1/logs?start_date=2025-06-01").await;
        assert_eq!(logs.body.as_array().expect("logs").len(), 4);

        let done = reprice(&app, range.clone()).await;
        assert_eq!(done["dry_run"], false);
        assert_eq!(done["tenant_id"], app.tenant_id.as_str());
        assert_eq!(done["repriced"], 2, "{done}");
        // 1000 × 1.5 + 3 × 0.0015 = 1500.0045 → 0.001500004 (4.5 nanos to even);
        // 2000 × 1.5 + 1 × 0.0015 = 3000.0015 → 0.003000002.
        assert_eq!(done["cost"], "0.004500006");
        assert_eq!(done["currency"], "USD");
        assert_eq!(done["costs_by_currency"], json!({"USD": "0.004500006"}));
        assert_eq!(done["adjustments_complete"], true);
        let made = done["adjustments"].as_array().expect("list").clone();
        assert_eq!(made.len(), 2);
        assert_eq!(made[0]["adjusts"], first["log_id"]);
        assert_eq!(made[0]["cost"], "0.001500004");
        assert_eq!(made[0]["price_version"], "db:acme/brand-new@2025-01-01");
        assert_eq!(made[1]["adjusts"], second["log_id"]);
        assert_eq!(made[1]["cost"], "0.003000002");

        // Ingestion prices the same call the same way now (in another month).
        let now = log(&app, &call("brand-new", "2025-08-11T10:00:00Z", 1000, 3)).await;
        assert_eq!(now["cost_exact"], made[0]["cost"]);
        assert_eq!(now["price_version"], made[0]["price_version"]);

        // The adjustments are in the log beside the calls, at their time, without tokens.
        let logs = app
            .get("/api/v1/logs?start_date=2025-06-10&end_date=2025-06-10")
            .await;
        let logs = logs.body.as_array().expect("logs").clone();
        assert_eq!(logs.len(), 6, "four calls, two adjustments");
        let adjustment = logs
            .iter()
            .find(|l| l["id"] == made[0]["log_id"])
            .expect("listed");
        assert_eq!(adjustment["source"], "adjustment");
        assert_eq!(adjustment["adjusts"], first["log_id"]);
        assert_eq!(adjustment["logged_at"], first["timestamp"]);
        assert_eq!(adjustment["user_id"], "u1");
        assert_eq!(adjustment["alias"], "chat");
        assert_eq!(adjustment["input_tokens"], 0);
        assert_eq!(adjustment["output_tokens"], 0);
        assert_eq!(adjustment["cost_exact"], "0.001500004");
        assert_eq!(
            adjustment["request_id"],
            format!("reprice:{}", first["log_id"].as_str().expect("id"))
        );
        let original = logs
            .iter()
            .find(|l| l["id"] == first["log_id"])
            .expect("listed");
        assert_eq!(original["adjusts"], Value::Null);
        assert_eq!(
            original["flags"],
            json!(["unpriced"]),
            "the call is as it was"
        );
        assert_eq!(original["cost_exact"], "0.000000000");
        let unpriced = app.get("/api/v1/logs?unpriced=true").await;
        let unpriced: Vec<&Value> = unpriced.body.as_array().expect("logs").iter().collect();
        assert_eq!(unpriced.len(), 1, "only the call still without a price");
        assert_eq!(unpriced[0]["id"], mystery["log_id"]);
        let coverage = app
            .get("/api/v1/pricing/coverage?start_date=2025-06-01&end_date=2025-06-30")
            .await;
        assert_eq!(coverage.body["unpriced_requests"], 1, "{}", coverage.body);
        assert_eq!(coverage.body["models"][0]["model"], "mystery");

        // Totals add the cost but no request, and the calls are no longer unpriced: from the
        // rollups and from the events alike.
        for range in [WHOLE_DAYS, PART_DAY] {
            let s = stats(&app, range).await;
            let summary = &s["summary"];
            assert_eq!(summary["total_cost"], "0.004500006", "{range}: {s}");
            assert_eq!(summary["total_requests"], 4, "{range}");
            assert_eq!(summary["unpriced_requests"], 1, "{range}: the mystery call");
            assert_eq!(
                summary["total_input_tokens"], before["summary"]["total_input_tokens"],
                "{range}"
            );
            let model = &s["by_model"]["brand-new"];
            assert_eq!(model["unpriced_requests"], 0, "{range}: {s}");
            assert_eq!(model["requests"], 3, "{range}");
            assert_eq!(model["cost"], "0.004500006", "{range}");
            assert_eq!(s["by_user"]["u1"]["cost"], "0.001500004", "{range}");
            assert_eq!(s["by_user"]["u1"]["requests"], 1, "{range}");
        }

        // The user's account is charged the adjustment, as for a call.
        let balance = app.get("/api/v1/billing/balance?user_id=u1").await;
        assert_eq!(
            balance.body["balance_usd"], "9.998499996",
            "{}",
            balance.body
        );
        let history = app.get("/api/v1/billing/history?user_id=u1").await;
        let newest = &history.body["transactions"][0];
        assert_eq!(newest["log_id"], made[0]["log_id"], "{}", history.body);
        assert_eq!(newest["amount"], "0.001500004");

        // Running it again prices nothing twice.
        let again = reprice(&app, range.clone()).await;
        assert_eq!(again["repriced"], 0, "{again}");
        assert_eq!(again["cost"], "0.000000000");
        assert_eq!(again["adjustments"], json!([]));
        assert_eq!(again["still_unpriced"][0]["model"], "mystery");
        let whole = reprice(&app, json!({})).await;
        assert_eq!(whole["repriced"], 0, "nor without a range: {whole}");
        assert_eq!(
            stats(&app, WHOLE_DAYS).await["summary"]["total_cost"],
            "0.004500006"
        );

        // A receipt issued now certifies the adjustments; the one issued before still
        // verifies, the log having only grown.
        let newer = generate(&app, json!({"since_last_receipt": true})).await;
        assert_eq!(
            newer["certified_count"], 3,
            "two adjustments and the new call"
        );
        assert_verifies(&app, &newer["receipt"]).await;
        assert_verifies(&app, &older["receipt"]).await;
        let day = generate(
            &app,
            json!({"start_date": "2025-06-10", "end_date": "2025-06-10"}),
        )
        .await;
        assert_eq!(day["certified_count"], 6, "{}", day);
        assert_eq!(
            day["receipt"]["amounts"]["USD"]["total_cost"], "0.004500006",
            "{}",
            day["receipt"]
        );
        assert_verifies(&app, &day["receipt"]).await;
        let id = day["receipt"]["receipt_id"].as_str().expect("id");
        let listed = app
            .get(&format!("/api/v1/receipts/{id}/logs?limit=10"))
            .await;
        let entry = listed.body["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .find(|l| l["id"] == made[1]["log_id"])
            .and_then(|l| l["entry"].as_str())
            .expect("the adjustment's canonical entry")
            .to_string();
        let adjusts = second["log_id"].as_str().expect("id");
        assert!(
            entry.starts_with(&format!("{{\"adjusts\":\"{adjusts}\",")),
            "{entry}"
        );
        assert!(entry.contains("\"source\":\"adjustment\""), "{entry}");
        let proof = app
            .get(&format!(
                "/api/v1/receipts/{id}/proof?log_id={}",
                made[1]["log_id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(proof.status, 200, "{}", proof.body);
    }
}

#[tokio::test]
async fn a_reprice_names_the_bad_field_and_changes_nothing() {
    for app in TestApp::all().await {
        log(&app, &call("brand-new", "2025-06-10T10:00:00Z", 1000, 3)).await;
        app.post(
            "/api/v1/pricing/import",
            &json!({"format": "toml", "content": PRICES}),
        )
        .await;
        for (body, field) in [
            (json!({"since": "yesterday"}), "since"),
            (json!({"until": "2025-13-01"}), "until"),
            (
                json!({"since": "2025-06-02", "until": "2025-06-01"}),
                "until",
            ),
            (
                json!({"since": "2025-06-01", "until": "2025-06-01"}),
                "until",
            ),
            (json!({"dry_run": "yes"}), "dry_run"),
            (json!({"for_tenant": 7}), "for_tenant"),
            (json!({"dryrun": true}), "dryrun"),
        ] {
            let r = app.post("/api/v1/pricing/reprice", &body).await;
            assert_error(&r, 422, "INVALID_FIELD");
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        }
        let s = stats(&app, WHOLE_DAYS).await;
        assert_eq!(s["summary"]["unpriced_requests"], 1, "nothing was repriced");
        assert_eq!(s["summary"]["total_cost"], "0.000000000");
        // The adjustments' request ids are theirs alone.
        let mut taken = call("brand-new", "2025-06-10T11:00:00Z", 1, 1);
        taken["request_id"] = json!("reprice:anything");
        let r = app.post("/api/v1/log", &taken).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "request_id");
    }
}

#[tokio::test]
async fn an_admin_reprices_its_own_tenant_and_only_an_operator_another() {
    for app in TestApp::all().await {
        let (a_id, a_admin) = app.tenant_key("a", &[Scope::Admin, Scope::Ingest]).await;
        let reader = tollgate_server::keys::generate(&a_id, vec![Scope::Read], None);
        app.db.store.create_key(reader.record).await.expect("key");
        let a_reader = reader.secret;
        let (b_id, b_ingest) = app.tenant_key("b", &[Scope::Ingest]).await;
        let body = call("brand-new", "2025-06-10T10:00:00Z", 1000, 3);
        for key in [&a_admin, &b_ingest] {
            let r = app.post_as(key, "/api/v1/log", &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        app.post(
            "/api/v1/pricing/import",
            &json!({"format": "toml", "content": PRICES}),
        )
        .await;

        let reader = app
            .post_as(&a_reader, "/api/v1/pricing/reprice", &json!({}))
            .await;
        assert_error(&reader, 403, "FORBIDDEN");
        for named in [b_id.as_str(), "b", "no-such-tenant"] {
            let r = app
                .post_as(
                    &a_admin,
                    "/api/v1/pricing/reprice",
                    &json!({"for_tenant": named}),
                )
                .await;
            assert_error(&r, 403, "FORBIDDEN");
        }
        let header = app
            .http
            .post(format!("{}/api/v1/pricing/reprice", app.base))
            .header("X-API-Key", &a_admin)
            .header("X-Tenant-Id", &b_id)
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        assert_eq!(header.status(), 403);

        let own = app
            .post_as(
                &a_admin,
                "/api/v1/pricing/reprice",
                &json!({"for_tenant": "a"}),
            )
            .await;
        assert_eq!(own.status, 200, "{}", own.body);
        assert_eq!(own.body["tenant_id"], a_id.as_str());
        assert_eq!(own.body["repriced"], 1, "{}", own.body);
        let a_logs = app.get_as(&a_reader, "/api/v1/logs").await;
        let a_logs = a_logs.body.as_array().expect("logs").clone();
        assert_eq!(a_logs.len(), 2, "a's call and its adjustment");
        assert_eq!(a_logs[0]["source"], "adjustment");

        // The operator (the app's bootstrap key) reprices tenant b by name or id.
        let missing = app
            .post(
                "/api/v1/pricing/reprice",
                &json!({"for_tenant": "no-such-tenant"}),
            )
            .await;
        assert_error(&missing, 404, "NOT_FOUND");
        let b = reprice(&app, json!({"for_tenant": "b", "dry_run": true})).await;
        assert_eq!(b["tenant_id"], b_id.as_str());
        assert_eq!(b["repriced"], 1, "a's repricing left b's call alone: {b}");
        let b = reprice(&app, json!({"for_tenant": b_id})).await;
        assert_eq!(b["repriced"], 1);
        assert_eq!(b["cost"], "0.001500004");
        let a_again = reprice(&app, json!({"for_tenant": a_id})).await;
        assert_eq!(a_again["repriced"], 0, "{a_again}");
    }
}

#[tokio::test]
async fn an_unpriced_tool_execution_is_repriced_at_the_price_its_tool_has_now() {
    for app in TestApp::all().await {
        let tool_id = crate::tool_calls::tool(&app, None, None).await;
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        let r = app
            .post(&path, &json!({"input": {}, "user_id": "u", "units": 4}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["metered"]["cost"], "0.000000000");
        let none = reprice(&app, json!({})).await;
        assert_eq!(none["repriced"], 0);
        assert_eq!(
            none["still_unpriced"],
            json!([{"provider": "mcp", "model": "courts/lookup_decision", "events": 1}])
        );

        let priced = app
            .request_as(
                reqwest::Method::PATCH,
                &app.key,
                &format!("/api/v1/mcp/tools/{tool_id}"),
                Some(&json!({"price_per_call": "0.02", "price_per_unit": "0.001"})),
            )
            .await;
        assert_eq!(priced.status, 200, "{}", priced.body);
        let done = reprice(&app, json!({})).await;
        assert_eq!(done["repriced"], 1, "{done}");
        // $0.02 per call + 4 units × $0.001, as an execution now would be charged.
        assert_eq!(done["cost"], "0.024000000");
        assert_eq!(
            done["adjustments"][0]["price_version"],
            "tool:courts/lookup_decision@0.02+0.001/unit"
        );
        let s = stats(&app, "group_by=tool").await;
        assert_eq!(
            s["by_tool"]["courts/lookup_decision"]["cost"], "0.024000000",
            "{s}"
        );
        assert_eq!(s["by_tool"]["courts/lookup_decision"]["requests"], 1);
        assert_eq!(s["summary"]["unpriced_requests"], 0);
    }
}
