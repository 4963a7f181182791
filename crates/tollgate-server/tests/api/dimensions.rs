//! Dimensions over HTTP: `kb_id` and the deployment's own dimensions on logged calls and tool
//! executions are validated, stored, signed in the canonical entry, exported, and grouped and
//! filtered by the daily and monthly cost summaries.

use serde_json::{json, Value};

use crate::support::{assert_error, TestApp};

fn with_dimensions(s: &mut tollgate_server::Settings) {
    s.dimensions = vec!["feature".into(), "team".into()];
}

async fn log(app: &TestApp, body: Value) {
    let r = app.post("/api/v1/log", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
}

fn call(extra: Value) -> Value {
    let mut body = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1_000_000,
                          "output_tokens": 0, "timestamp": "2026-03-02T10:00:00Z"});
    for (k, v) in extra.as_object().expect("members") {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn costs_group_and_filter_by_a_dimension_and_calls_without_it_are_left_out_of_its_groups() {
    for app in TestApp::all_with(with_dimensions).await {
        log(
            &app,
            call(json!({"kb_id": "kb_1", "dimensions": {"feature": "search"}})),
        )
        .await;
        log(
            &app,
            call(json!({"dimensions": {"kb_id": "kb_1", "feature": "chat"}})),
        )
        .await;
        log(&app, call(json!({"kb_id": "kb_2", "model": "gpt-4o-mini"}))).await;
        log(&app, call(json!({}))).await;

        let day = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=kb_id")
            .await;
        assert_eq!(day.status, 200, "{}", day.body);
        assert_eq!(day.body["totals"]["requests"], 4, "every call still counts");
        let by = &day.body["by_dimension"];
        assert_eq!(by["kb_1"]["requests"], 2, "{by}");
        assert_eq!(by["kb_1"]["cost"]["USD"], "5.000000000", "{by}");
        assert_eq!(by["kb_2"]["requests"], 1, "{by}");
        assert_eq!(by["kb_2"]["cost"]["USD"], "0.150000000", "{by}");
        assert!(by.get("").is_none(), "{by}");

        let kb1 = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=kb_id&value=kb_1")
            .await
            .body;
        assert_eq!(kb1["totals"]["requests"], 2, "{kb1}");
        assert_eq!(kb1["totals"]["cost"]["USD"], "5.000000000");
        assert_eq!(kb1["by_model"]["gpt-4o"]["requests"], 2);
        assert!(kb1["by_model"].get("gpt-4o-mini").is_none(), "{kb1}");

        let month = app
            .get("/api/v1/costs/monthly?year=2026&month=3&dimension=feature&value=search")
            .await;
        assert_eq!(month.status, 200, "{}", month.body);
        assert_eq!(month.body["totals"]["requests"], 1, "{}", month.body);
        assert_eq!(month.body["by_day"][0]["date"], "2026-03-02");
        assert_eq!(month.body["by_dimension"]["search"]["requests"], 1);
        // Analytics groups by a dimension too, over any range: a part of a day is read from
        // the events, whole days from the rollup, with the same answer.
        for range in [
            "start=2026-03-02T09:00:00Z&end=2026-03-02T11:00:00Z",
            "start=2026-03-01&end=2026-03-31",
        ] {
            let r = app
                .get(&format!(
                    "/api/v1/analytics/usage?group_by=dimension&dimension=kb_id&{range}"
                ))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.body["dimension"], "kb_id");
            let rows = r.body["rows"].as_array().expect("rows");
            let kb1 = rows.iter().find(|r| r["key"] == "kb_1").expect("kb_1");
            assert_eq!(kb1["requests"], 2, "{range}: {rows:?}");
            assert_eq!(kb1["cost"]["USD"], "5.000000000");
            assert_eq!(rows.len(), 2, "{range}: {rows:?}");
        }
        let r = app.get("/api/v1/analytics/usage?group_by=dimension").await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "dimension");

        let plain = app
            .get("/api/v1/costs/monthly?year=2026&month=3")
            .await
            .body;
        assert!(plain.get("by_dimension").is_none(), "{plain}");

        // Stored with the event, signed in its canonical entry, and exported.
        let logs = app.get("/api/v1/logs?limit=10").await.body;
        let dims: Vec<&Value> = logs["logs"]
            .as_array()
            .or_else(|| logs.as_array())
            .expect("entries")
            .iter()
            .map(|l| &l["dimensions"])
            .collect();
        assert!(
            dims.contains(&&json!({"feature": "search", "kb_id": "kb_1"})),
            "{dims:?}"
        );
        let lines = app
            .get_text("/api/v1/export/usage?start=2026-03-02&end=2026-03-03&format=jsonl")
            .await;
        assert!(
            lines.contains(r#"\"dimension:feature\":\"chat\",\"dimension:kb_id\":\"kb_1\""#)
                || lines.contains(r#""dimension:feature":"chat","dimension:kb_id":"kb_1""#),
            "{lines}"
        );
        let csv = app
            .get_text("/api/v1/export/usage?start=2026-03-02&end=2026-03-03&format=csv")
            .await;
        assert!(csv.lines().next().expect("header").ends_with(",dimensions"));
        assert!(csv.contains(r#""{""kb_id"":""kb_2""}""#), "{csv}");
    }
}

#[tokio::test]
async fn an_unknown_dimension_a_non_string_value_or_kb_id_given_twice_is_refused_and_nothing_is_logged(
) {
    for app in TestApp::all_with(with_dimensions).await {
        for (body, field) in [
            (
                call(json!({"dimensions": {"region": "eu"}})),
                "dimensions.region",
            ),
            (call(json!({"dimensions": {"team": 7}})), "dimensions.team"),
            (
                call(json!({"dimensions": {"team": "  "}})),
                "dimensions.team",
            ),
            (
                call(json!({"kb_id": "kb_1", "dimensions": {"kb_id": "kb_2"}})),
                "kb_id",
            ),
            (call(json!({"kb_id": "x".repeat(256)})), "kb_id"),
        ] {
            let r = app.post("/api/v1/log", &body).await;
            assert_error(&r, 422, "INVALID_FIELD");
            assert_eq!(r.body["error"]["field"], field, "{}", r.body);
        }
        let r = app
            .post(
                "/api/v1/log",
                &call(json!({"dimensions": {"region": "eu"}})),
            )
            .await;
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(message.contains("kb_id, feature, team"), "{message}");
        let day = app.get("/api/v1/costs/daily?date=2026-03-02").await.body;
        assert_eq!(day["totals"]["requests"], 0, "{day}");

        let r = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=region")
            .await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "dimension");
        let r = app
            .get("/api/v1/costs/daily?date=2026-03-02&value=kb_1")
            .await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "value");
    }
}

#[tokio::test]
async fn a_deployment_without_dimensions_of_its_own_still_takes_kb_id() {
    for app in TestApp::all().await {
        log(&app, call(json!({"kb_id": "kb_9"}))).await;
        let r = app
            .post(
                "/api/v1/log",
                &call(json!({"dimensions": {"feature": "x"}})),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        let by = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=kb_id")
            .await
            .body;
        assert_eq!(by["by_dimension"]["kb_9"]["requests"], 1, "{by}");
    }
}

#[tokio::test]
async fn a_metered_tool_execution_carries_its_dimensions_into_the_cost_summaries() {
    for app in TestApp::all_with(with_dimensions).await {
        let tool_id = crate::tool_calls::tool(&app, Some("0.02"), None).await;
        crate::support::top_up(&app, "u", "5").await;
        let path = format!("/api/v1/mcp/tools/{tool_id}/execute");
        let body = json!({"input": {"q": "x"}, "output": {"ok": true}, "user_id": "u",
                          "kb_id": "kb_7", "dimensions": {"team": "support"}});
        let r = app.post(&path, &body).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let bad = json!({"input": {}, "user_id": "u", "dimensions": {"region": "eu"}});
        let r = app.post(&path, &bad).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "dimensions.region");

        let by = app.get("/api/v1/costs/daily?dimension=team").await.body;
        assert_eq!(by["by_dimension"]["support"]["requests"], 1, "{by}");
        assert_eq!(by["by_dimension"]["support"]["cost"]["USD"], "0.020000000");
        let kb = app
            .get("/api/v1/costs/daily?dimension=kb_id&value=kb_7")
            .await
            .body;
        assert_eq!(kb["by_tool"].as_object().map(|t| t.len()), Some(1), "{kb}");
    }
}

#[tokio::test]
async fn stats_group_by_a_dimension_the_export_filters_on_its_value_and_a_receipt_breaks_down_by_it(
) {
    for app in TestApp::all_with(with_dimensions).await {
        log(
            &app,
            call(json!({"kb_id": "kb_1", "dimensions": {"team": "search"}})),
        )
        .await;
        log(&app, call(json!({"kb_id": "kb_1"}))).await;
        log(&app, call(json!({"kb_id": "kb_2", "model": "gpt-4o-mini"}))).await;
        log(&app, call(json!({}))).await;

        let stats = app
            .get("/api/v1/stats?start_date=2026-03-01&end_date=2026-03-31&group_by=dimension&dimension=kb_id")
            .await;
        assert_eq!(stats.status, 200, "{}: {}", app.engine(), stats.body);
        assert_eq!(stats.body["group_by"], "dimension");
        assert_eq!(stats.body["dimension"], "kb_id");
        assert_eq!(
            stats.body["summary"]["total_requests"], 4,
            "the summary still counts every call"
        );
        let groups = stats.body["groups"].as_array().expect("groups");
        let keys: Vec<&str> = groups.iter().filter_map(|g| g["key"].as_str()).collect();
        assert_eq!(
            keys,
            ["kb_1", "kb_2"],
            "by cost, and no group for calls without it"
        );
        assert_eq!(groups[0]["requests"], 2);
        assert_eq!(groups[0]["cost"], "5.000000000");
        for (query, field) in [
            ("group_by=dimension", "dimension"),
            ("group_by=dimension&dimension=region", "dimension"),
            ("group_by=model&dimension=kb_id", "dimension"),
        ] {
            let r = app.get(&format!("/api/v1/stats?{query}")).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.body);
        }

        let listed = app
            .get(
                "/api/v1/logs?start_date=2026-03-01&end_date=2026-03-31&dimension=kb_id&value=kb_1",
            )
            .await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        let listed = listed.body.as_array().cloned().unwrap_or_default();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|l| l["dimensions"]["kb_id"] == "kb_1"));
        for (query, field) in [("value=kb_1", "dimension"), ("dimension=kb_id", "value")] {
            let r = app.get(&format!("/api/v1/logs?{query}")).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.body);
        }
        let mut console = crate::console_client::Browser::signed_in(&app).await;
        let page = console
            .get("/ui/logs?period=custom&start=2026-03-01&end=2026-03-31&dimension=team&value=search")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            page.body.matches("<td class=\"time\"").count(),
            1,
            "one call of team search: {}",
            page.body
        );

        let csv = app
            .get_text(
                "/api/v1/export/usage?start=2026-03-01&end=2026-03-31&dimension=kb_id&value=kb_1",
            )
            .await;
        assert_eq!(
            csv.lines().count(),
            1 + 2,
            "a header and kb_1's two calls: {csv}"
        );
        assert!(!csv.contains("kb_2"), "{csv}");
        let (status, count, lines) = crate::export::download(
            &app,
            &app.key,
            "/api/v1/export/usage?dimension=team&value=search&format=jsonl",
        )
        .await;
        assert_eq!(status, 200, "{lines}");
        assert_eq!(count, Some(1), "the count is the filtered one");
        assert_eq!(lines.lines().count(), 1, "{lines}");
        for (query, field) in [
            ("value=kb_1", "dimension"),
            ("dimension=kb_id", "value"),
            ("dimension=region&value=x", "dimension"),
        ] {
            let r = app.get(&format!("/api/v1/export/usage?{query}")).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.body);
        }

        let preview = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        let r = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let receipt = &r.body["receipt"];
        assert_eq!(receipt["format"], "tollgate.receipt/v4");
        let by = &receipt["batch_summary"]["by_dimension"];
        assert_eq!(by["kb_id"]["kb_1"]["calls"], 2, "{by}");
        assert_eq!(by["kb_id"]["kb_1"]["amounts"]["USD"], "5.000000000");
        assert_eq!(by["kb_id"]["kb_2"]["calls"], 1);
        assert_eq!(by["team"]["search"]["calls"], 1);
        assert_eq!(by["team"].as_object().map(|t| t.len()), Some(1), "{by}");
        assert_eq!(preview.body["by_dimension"], *by, "the preview showed it");
        let v = app.post("/api/v1/receipts/verify", receipt).await;
        assert_eq!(v.body["valid"], true, "{}", v.body);
        assert_eq!(v.body["commitment_valid"], true, "{}", v.body);
    }
}

#[tokio::test]
async fn a_logged_conversation_carries_its_dimensions_and_refuses_an_unknown_one() {
    for app in TestApp::all_with(with_dimensions).await {
        let body = |dims: Value| {
            json!({
                "messages": [{"role": "user", "content": "hello"}],
                "response": {"content": "hi"},
                "metadata": {"provider": "openai", "model": "gpt-4o",
                             "input_tokens": 1_000_000, "output_tokens": 0},
                "timestamp": "2026-03-02T10:00:00Z",
                "kb_id": "kb_5",
                "dimensions": dims,
            })
        };
        let r = app
            .post("/api/v1/conversations/log", &body(json!({"team": "docs"})))
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let r = app
            .post("/api/v1/conversations/log", &body(json!({"region": "eu"})))
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "dimensions.region");

        let day = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=team")
            .await
            .body;
        assert_eq!(
            day["totals"]["requests"], 1,
            "the refused call logged nothing"
        );
        assert_eq!(day["by_dimension"]["docs"]["requests"], 1, "{day}");
        assert_eq!(day["by_dimension"]["docs"]["cost"]["USD"], "2.500000000");
        let kb = app
            .get("/api/v1/costs/daily?date=2026-03-02&dimension=kb_id&value=kb_5")
            .await
            .body;
        assert_eq!(kb["totals"]["requests"], 1, "{kb}");
    }
}
