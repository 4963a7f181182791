//! MCP tool executions over HTTP: recorded as llmring records them, and metered like LLM calls
//! when they name a user: priced per call and per unit, charged once, settling a hold, counted
//! by tool in stats and costs, exported, and certified by a receipt.

use serde_json::{json, Value};
use tollgate_core::Nanos;

use crate::support::{assert_error, top_up, TestApp};

/// The headers llmring's `MCPHttpClient` sends on every request.
async fn llmring_post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .header("X-API-Key", &app.key)
        .header("Authorization", format!("Bearer {}", app.key))
        .json(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

/// A server and a tool on it, priced per call (and per unit when given); the tool's id.
pub(crate) async fn tool(app: &TestApp, per_call: Option<&str>, per_unit: Option<&str>) -> String {
    let (status, server) = llmring_post(
        app,
        "/api/v1/mcp/servers",
        &json!({"name": "courts", "url": "http://127.0.0.1:9/mcp", "transport_type": "http",
                "auth_config": null, "capabilities": null, "project_id": null}),
    )
    .await;
    assert_eq!(status, 200, "{server}");
    let mut body = json!({"server_id": server["id"], "name": "lookup_decision",
                          "description": "Finds a court decision",
                          "input_schema": {"type": "object", "properties": {"case": {"type": "string"}}}});
    if let Some(p) = per_call {
        body["price_per_call"] = json!(p);
    }
    if let Some(p) = per_unit {
        body["price_per_unit"] = json!(p);
    }
    let (status, tool) = llmring_post(app, "/api/v1/mcp/tools", &body).await;
    assert_eq!(status, 200, "{tool}");
    tool["id"].as_str().expect("tool id").to_string()
}

/// The user's balance and what is held on it.
async fn balance(app: &TestApp, user: &str) -> (Nanos, Nanos) {
    let a = app
        .db
        .store
        .account(&app.tenant_id, user)
        .await
        .expect("account")
        .expect("exists");
    (a.balances[0].balance, a.balances[0].held)
}

fn nanos(text: &str) -> Nanos {
    Nanos::parse_exact(text).expect("amount")
}

#[tokio::test]
async fn an_execution_with_a_user_and_a_hold_is_charged_once_settles_the_hold_and_counts_by_tool() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), Some("0.001")).await;
        top_up(&app, "u", "5").await;
        let a = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "estimated_cost": "0.05", "hold": true}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let hold = a.body["hold_id"].as_str().expect("hold").to_string();
        assert_eq!(
            balance(&app, "u").await.1,
            nanos("0.05"),
            "held before the call"
        );

        let body = json!({"tool_id": tool_id, "input": {"case": "C-1/24"},
                          "output": {"decision": "found", "pages": 3}, "error": null,
                          "duration_ms": 120, "conversation_id": null, "user_id": "u",
                          "hold_id": hold, "request_id": "exec-1", "units": 3});
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        let (status, first) = llmring_post(&app, &path, &body).await;
        assert_eq!(status, 200, "{}: {first}", app.engine());
        // $0.02 per call + 3 units × $0.001.
        assert_eq!(first["metered"]["cost"], "0.023000000", "{first}");
        assert_eq!(first["metered"]["currency"], "USD");
        assert_eq!(
            first["metered"]["price_version"],
            "tool:courts/lookup_decision@0.02+0.001/unit"
        );
        assert_eq!(first["units"], 3);
        assert!(first.get("duplicate").is_none(), "{first}");
        let log_id = first["metered"]["log_id"]
            .as_str()
            .expect("log id")
            .to_string();

        let (status, again) = llmring_post(&app, &path, &body).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(again["id"], first["id"], "the same execution");
        assert_eq!(again["metered"]["log_id"], log_id.as_str());

        assert_eq!(
            balance(&app, "u").await,
            (nanos("4.977"), Nanos::ZERO),
            "{}: charged once, the hold settled",
            app.engine()
        );

        let stats = app.get("/api/v1/stats?group_by=tool").await;
        assert_eq!(stats.status, 200, "{}", stats.body);
        let by_tool = &stats.body["by_tool"]["courts/lookup_decision"];
        assert_eq!(by_tool["requests"], 1, "{}", stats.body);
        assert_eq!(by_tool["cost"], "0.023000000");
        assert_eq!(stats.body["groups"][0]["key"], "courts/lookup_decision");
        assert_eq!(stats.body["by_provider"]["mcp"]["requests"], 1);

        let costs = app.get("/api/v1/costs/daily").await;
        assert_eq!(costs.status, 200, "{}", costs.body);
        assert_eq!(
            costs.body["by_tool"]["courts/lookup_decision"]["requests"], 1,
            "{}",
            costs.body
        );

        let logs = app.get("/api/v1/logs").await;
        let logged = &logs.body[0];
        assert_eq!(logged["id"], log_id.as_str(), "{}", logs.body);
        assert_eq!(logged["source"], "tool");
        assert_eq!(logged["provider"], "mcp");
        assert_eq!(logged["model"], "courts/lookup_decision");
        assert_eq!(logged["units"], 3);
        assert_eq!(logged["user_id"], "u");
        assert_eq!(logged["input_tokens"], 0);

        let export = app.get_text("/api/v1/export/usage").await;
        let mut lines = export.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
        assert_eq!(row[col("source")], "tool", "{export}");
        assert_eq!(row[col("tool")], "courts/lookup_decision");
        assert_eq!(row[col("units")], "3");

        let r = app
            .post("/api/v1/receipts/generate", &json!({"log_ids": [log_id]}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let receipt = r.body["receipt"].clone();
        assert_eq!(receipt["total_cost"], 0.023, "{receipt}");
        let v = app.post("/api/v1/receipts/verify", &receipt).await;
        assert_eq!(v.body["valid"], true, "{}", v.body);
    }
}

#[tokio::test]
async fn an_execution_recorded_as_llmring_records_it_answers_llmrings_shape_and_is_not_metered() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        // MCPHttpClient.record_tool_execution's body.
        let body = json!({"tool_id": tool_id, "input": {"q": "x"}, "output": {"ok": true},
                          "error": null, "duration_ms": 5, "conversation_id": null});
        let raw = app
            .http
            .post(format!("{}{path}", app.base))
            .header("X-API-Key", &app.key)
            .header("Authorization", format!("Bearer {}", app.key))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(raw.status(), 200);
        let text = raw.text().await.expect("body");
        let members = [
            "id",
            "tool_id",
            "conversation_id",
            "input",
            "output",
            "error",
            "duration_ms",
            "executed_at",
        ];
        let at: Vec<usize> = members
            .iter()
            .map(|m| text.find(&format!("\"{m}\":")).expect(m))
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "llmring's order: {text}"
        );
        let first: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            first.as_object().expect("object").len(),
            members.len(),
            "nothing else: {text}"
        );
        assert_eq!(first["input"], json!({"q": "x"}));
        let (_, second) =
            llmring_post(&app, &path, &json!({"input": {}, "error": "timed out"})).await;
        assert_eq!(second["error"], "timed out");

        let logs = app.get("/api/v1/logs").await;
        assert_eq!(logs.body, json!([]), "nothing metered without a user");
        let history = app
            .get(&format!("/api/v1/mcp/tools/{tool_id}/history?limit=10"))
            .await;
        assert_eq!(history.status, 200, "{}", history.body);
        let ids: Vec<&Value> = history
            .body
            .as_array()
            .expect("list")
            .iter()
            .map(|e| &e["id"])
            .collect();
        assert_eq!(ids, [&second["id"], &first["id"]], "newest first");
    }
}

#[tokio::test]
async fn a_failed_execution_is_recorded_and_charged_nothing_unless_the_setting_says_so() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        top_up(&app, "u", "1").await;
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        let failed = json!({"input": {}, "error": "upstream 500", "user_id": "u",
                            "request_id": "exec-f"});
        let (status, r) = llmring_post(&app, &path, &failed).await;
        assert_eq!(status, 200, "{r}");
        assert!(r.get("metered").is_none(), "{r}");
        assert_eq!(balance(&app, "u").await.0, nanos("1"));
        // A retry under the same request id stays that execution.
        let (_, again) = llmring_post(&app, &path, &failed).await;
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(again["id"], r["id"]);
    }
    for app in TestApp::all_with(|s| s.billing.charge_failed_tool_calls = true).await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        top_up(&app, "u", "1").await;
        let (status, r) = llmring_post(
            &app,
            &format!("/api/v1/mcp/tools/{tool_id}/execute"),
            &json!({"input": {}, "error": "upstream 500", "user_id": "u"}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["metered"]["cost"], "0.020000000", "{r}");
        assert_eq!(balance(&app, "u").await.0, nanos("0.98"));
    }
}

#[tokio::test]
async fn an_unpriced_tool_is_metered_at_zero_and_flagged_unpriced() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, None, None).await;
        let (status, r) = llmring_post(
            &app,
            &format!("/api/v1/mcp/tools/{tool_id}/execute"),
            &json!({"input": {}, "user_id": "u"}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["metered"]["cost"], "0.000000000");
        assert!(r["metered"].get("price_version").is_none(), "{r}");
        let logs = app.get("/api/v1/logs").await;
        assert_eq!(logs.body[0]["flags"], json!(["unpriced"]), "{}", logs.body);
        let limits = app.get("/api/v1/billing/limits").await;
        assert_eq!(
            limits.body["used"], 1,
            "counted in the plan quota: {}",
            limits.body
        );
    }
}

#[tokio::test]
async fn bad_executions_are_refused_naming_the_field_and_record_nothing() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        for (body, field) in [
            (json!({"input": {}, "units": -1, "user_id": "u"}), "units"),
            (json!({"input": {}, "duration_ms": -5}), "duration_ms"),
            (
                json!({"input": {}, "conversation_id": "nope"}),
                "conversation_id",
            ),
            (json!({"input": {}, "hold_id": "hold_x"}), "hold_id"),
            (json!({"input": {}, "output": [1, 2]}), "output"),
            (json!({"output": {}}), "input"),
            (json!({"input": {}, "cost": 1}), "cost"),
        ] {
            let r = app.post(&path, &body).await;
            assert_eq!(r.status, 422, "{body}: {}", r.body);
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        }
        let r = app
            .post(
                "/api/v1/mcp/tools/not-a-uuid/execute",
                &json!({"input": {}}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        let history = app
            .get(&format!("/api/v1/mcp/tools/{tool_id}/history"))
            .await;
        assert_eq!(history.body, json!([]), "nothing was recorded");
    }
}

#[tokio::test]
async fn another_tenants_tool_is_missing_for_execute_and_history() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        let (_, other) = app
            .tenant_key("other", &tollgate_store::Scope::ALL[..2])
            .await;
        let r = app
            .post_as(
                &other,
                &format!("/api/v1/mcp/tools/{tool_id}/execute"),
                &json!({"input": {}, "user_id": "u"}),
            )
            .await;
        assert_error(&r, 404, "NOT_FOUND");
        let r = app
            .get_as(&other, &format!("/api/v1/mcp/tools/{tool_id}/history"))
            .await;
        assert_error(&r, 404, "NOT_FOUND");
        let missing = uuid::Uuid::now_v7();
        let r = app
            .post(
                &format!("/api/v1/mcp/tools/{missing}/execute"),
                &json!({"input": {}}),
            )
            .await;
        assert_error(&r, 404, "NOT_FOUND");
        assert_eq!(r.body["detail"], "Tool not found");
    }
}

#[tokio::test]
async fn a_tool_without_a_price_of_its_own_is_charged_at_the_price_books() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("prices.toml");
    std::fs::write(
        &file,
        "[[prices]]\nprovider = \"mcp\"\nmodel = \"courts/lookup_decision\"\n\
         effective_from = \"2026-01-01\"\nper_call = \"0.05\"\nper_unit = \"0.0001\"\n",
    )
    .expect("write");
    for app in TestApp::all_with(|s| s.pricing.file = Some(file.clone())).await {
        let tool_id = tool(&app, None, None).await;
        let (status, r) = llmring_post(
            &app,
            &format!("/api/v1/mcp/tools/{tool_id}/execute"),
            &json!({"input": {}, "user_id": "u", "units": 10}),
        )
        .await;
        assert_eq!(status, 200, "{}: {r}", app.engine());
        // $0.05 + 10 × $0.0001.
        assert_eq!(r["metered"]["cost"], "0.051000000", "{r}");
        assert_eq!(
            r["metered"]["price_version"],
            "file:mcp/courts/lookup_decision@2026-01-01"
        );
        let pricing = app.get("/api/v1/pricing").await;
        let listed = pricing.body["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|p| p["provider"] == "mcp")
            .cloned()
            .expect("the tool's price is listed");
        assert_eq!(listed["per_call"], "0.05", "{listed}");
        let registry = app.get("/registry/").await;
        assert!(
            !registry.body["models"].to_string().contains("courts"),
            "a tool is not a model: {}",
            registry.body
        );
    }
}

#[tokio::test]
async fn authorize_prices_a_tool_execution_as_it_will_be_charged_and_the_execution_settles_the_hold(
) {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        top_up(&app, "u", "1").await;
        let a = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "provider": "mcp", "model": "courts/lookup_decision",
                        "hold": true}),
            )
            .await;
        assert_eq!(a.status, 200, "{}: {}", app.engine(), a.body);
        assert_eq!(
            balance(&app, "u").await.1,
            nanos("0.02"),
            "the tool's price is held"
        );
        let hold = a.body["hold_id"].as_str().expect("hold");
        let (status, r) = llmring_post(
            &app,
            &format!("/api/v1/mcp/tools/{tool_id}/execute"),
            &json!({"input": {}, "user_id": "u", "hold_id": hold}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(balance(&app, "u").await, (nanos("0.98"), Nanos::ZERO));
        let unknown = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "u", "provider": "mcp", "model": "courts/nothing"}),
            )
            .await;
        assert_error(&unknown, 422, "INVALID_FIELD");
        assert_eq!(unknown.body["error"]["field"], "model");
    }
}

#[tokio::test]
async fn a_request_id_names_one_execution_of_one_tool_and_mcp_is_no_llm_provider() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), None).await;
        let server = llmring_post(
            &app,
            "/api/v1/mcp/servers",
            &json!({"name": "maps", "url": "http://127.0.0.1:9/maps", "transport_type": "http"}),
        )
        .await
        .1;
        let (_, other) = llmring_post(
            &app,
            "/api/v1/mcp/tools",
            &json!({"server_id": server["id"], "name": "route", "input_schema": {}}),
        )
        .await;
        let other = other["id"].as_str().expect("tool").to_string();
        let body = json!({"input": {}, "request_id": "r-1"});
        let (status, _) =
            llmring_post(&app, &format!("/api/v1/mcp/tools/{tool_id}/execute"), &body).await;
        assert_eq!(status, 200);
        let r = app
            .post(&format!("/api/v1/mcp/tools/{other}/execute"), &body)
            .await;
        assert_error(&r, 409, "CONFLICT");
        assert_eq!(r.body["error"]["field"], "request_id");

        let llm = app
            .post(
                "/api/v1/log",
                &json!({"provider": "mcp", "model": "courts/lookup_decision",
                                        "input_tokens": 1, "output_tokens": 1}),
            )
            .await;
        assert_error(&llm, 422, "INVALID_FIELD");
        assert_eq!(llm.body["error"]["field"], "provider");

        for (name, status) in [("courts", 409), ("a/b", 422)] {
            let (got, body) = llmring_post(
                &app,
                "/api/v1/mcp/servers",
                &json!({"name": name, "url": "http://127.0.0.1:9/x", "transport_type": "http"}),
            )
            .await;
            assert_eq!(got, status, "{name}: {body}");
            assert_eq!(body["error"]["field"], "name", "{body}");
        }
    }
}
