use serde_json::json;

use crate::support::{assert_error, TestApp};

async fn log(app: &TestApp, model: &str, alias: &str, origin: &str, ts: &str, input: i64) {
    let r = app
        .post(
            "/api/v1/log",
            &json!({"provider": "openai", "model": model, "alias": alias, "origin": origin, "timestamp": ts,
                    "input_tokens": input, "output_tokens": 100}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn stats_count_every_request_of_a_day_and_group_as_asked() {
    for app in TestApp::all().await {
        log(&app, "gpt-4o", "chat", "web", "2026-03-01T10:00:00Z", 1000).await;
        log(&app, "gpt-4o", "chat", "web", "2026-03-01T11:00:00Z", 1000).await;
        log(
            &app,
            "gpt-4o-mini",
            "extract",
            "batch",
            "2026-03-01T12:00:00Z",
            1000,
        )
        .await;
        log(
            &app,
            "gpt-4o-mini",
            "extract",
            "batch",
            "2026-03-02T12:00:00Z",
            2000,
        )
        .await;

        let s = app
            .get("/api/v1/stats?start_date=2026-03-01&end_date=2026-03-02")
            .await;
        assert_eq!(s.status, 200, "{}", s.body);
        let summary = &s.body["summary"];
        assert_eq!(summary["total_requests"], 4, "{}", app.engine());
        assert_eq!(summary["unique_models"], 2);
        assert_eq!(summary["unique_origins"], 2);
        assert_eq!(summary["total_tokens"], 5000 + 400);
        // 2 × (1000 × 2.5 + 100 × 10) + (1000 × 0.15 + 100 × 0.6) + (2000 × 0.15 + 100 × 0.6), per million
        assert_eq!(summary["total_cost"], "0.007570000");
        let day1 = s.body["by_day"]
            .as_array()
            .expect("by_day")
            .iter()
            .find(|d| d["date"] == "2026-03-01")
            .expect("day 1")
            .clone();
        assert_eq!(
            day1["requests"], 3,
            "by_day counts every request of the day, not the top model's"
        );
        assert_eq!(day1["top_model"], "gpt-4o");
        assert_eq!(s.body["by_day"][0]["date"], "2026-03-02", "newest first");
        assert_eq!(s.body["by_model"]["gpt-4o"]["requests"], 2);
        assert_eq!(s.body["by_alias"]["extract"]["cost"], "0.000570000");
        assert!(
            s.body["by_origin"]["web"]["cost"].is_f64(),
            "llmring's by_origin cost is a number"
        );

        let by_model = app
            .get("/api/v1/stats?start_date=2026-03-01&end_date=2026-03-02&group_by=model")
            .await;
        let keys: Vec<&str> = by_model.body["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["key"].as_str().expect("key"))
            .collect();
        assert_eq!(keys, vec!["gpt-4o", "gpt-4o-mini"], "largest cost first");
        let partial = app
            .get("/api/v1/stats?start_date=2026-03-01T10:30:00Z&end_date=2026-03-02T00:00:00Z")
            .await;
        assert_eq!(
            partial.body["summary"]["total_requests"],
            2,
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn bad_stats_and_log_queries_are_400s() {
    for app in TestApp::all().await {
        for q in [
            "/api/v1/stats?start_date=yesterday",
            "/api/v1/stats?end_date=2026-13-01",
            "/api/v1/stats?start_date=2026-03-02&end_date=2026-03-01",
            "/api/v1/stats?group_by=bogus",
            "/api/v1/logs?limit=0",
            "/api/v1/logs?limit=501",
            "/api/v1/logs?offset=-1",
            "/api/v1/logs?limit=ten",
            "/api/v1/logs?conversation_id=x",
            "/api/v1/conversations/?limit=101",
        ] {
            let r = app.get(q).await;
            assert_eq!(r.status, 400, "{q}: {}", r.body);
            assert!(r.body["error"]["code"].is_string(), "{q}");
        }
        assert_error(&app.get("/api/v1/nothing-here").await, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn logs_filter_by_range_alias_model_origin_and_user() {
    for app in TestApp::all().await {
        log(&app, "gpt-4o", "chat", "web", "2026-03-01T10:00:00Z", 10).await;
        log(
            &app,
            "gpt-4o-mini",
            "extract",
            "batch",
            "2026-03-02T10:00:00Z",
            10,
        )
        .await;
        let mut with_user = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1,
                                   "user_id": "alice", "timestamp": "2026-03-03T00:00:00Z"});
        assert_eq!(app.post("/api/v1/log", &with_user).await.status, 200);
        with_user["user_id"] = json!("bob");
        app.post("/api/v1/log", &with_user).await;
        for (q, expected) in [
            ("alias=chat&start_date=2026-03-01", 1),
            ("model=gpt-4o-mini&start_date=2026-03-01", 1),
            ("origin=batch&start_date=2026-03-01", 1),
            // Without dates, filters on unindexed columns search the last 30 days only.
            ("alias=chat", 0),
            ("user_id=alice", 1),
            ("start_date=2026-03-02&end_date=2026-03-02", 1),
            ("limit=2", 2),
        ] {
            let found = app
                .get(&format!("/api/v1/logs?{q}"))
                .await
                .body
                .as_array()
                .map(Vec::len);
            assert_eq!(found, Some(expected), "{}: {q}", app.engine());
        }
        let first = app.get("/api/v1/logs?limit=1").await;
        for field in [
            "id",
            "logged_at",
            "provider",
            "model",
            "alias",
            "profile",
            "origin",
            "input_tokens",
            "output_tokens",
            "cost",
            "metadata",
            "conversation_id",
            "id_at_origin",
        ] {
            assert!(first.body[0].get(field).is_some(), "log lacks {field}");
        }
        assert_eq!(
            first.body[0]["user_id"],
            "bob",
            "{}: newest first",
            app.engine()
        );
    }
}

#[tokio::test]
async fn health_metrics_and_pricing_answer() {
    for app in TestApp::all().await {
        let h = app.get("/health").await;
        assert_eq!(
            (h.status.as_u16(), h.body["database"].as_str()),
            (200, Some("ok"))
        );
        app.post("/api/v1/log", &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1})).await;
        let text = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        assert!(text.contains("tollgate_http_requests_total{route=\"/api/v1/log\",method=\"POST\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("tollgate_ingested_events_total 1"));
        assert!(text.contains("tollgate_commit_batch_events_count"));
        let p = app.get("/api/v1/pricing").await;
        let gpt = p.body["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .find(|e| e["model"] == "gpt-4o")
            .expect("gpt-4o")
            .clone();
        assert_eq!(
            (gpt["input"].as_str(), gpt["output"].as_str()),
            (Some("2.50"), Some("10.00"))
        );
        assert_error(
            &app.get("/api/v1/pricing?at=never").await,
            400,
            "INVALID_QUERY",
        );
    }
}

#[tokio::test]
async fn a_graceful_shutdown_keeps_every_acknowledged_write() {
    for mut app in TestApp::all().await {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (http, url, key) = (
                app.http.clone(),
                format!("{}/api/v1/log", app.base),
                app.key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let body = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": i, "output_tokens": 1});
                matches!(http.post(url).header("X-API-Key", key).json(&body).send().await, Ok(r) if r.status() == 200)
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        app.stop().await;
        let mut acknowledged = 0;
        for t in tasks {
            acknowledged += usize::from(t.await.expect("task"));
        }
        let reopened = tollgate_store::open(&tollgate_store::ConnectOptions::new(&app.db.url))
            .await
            .expect("reopen");
        let stored = reopened
            .list_events(&app.tenant_id, &Default::default(), 500, 0)
            .await
            .expect("events")
            .len();
        assert_eq!(
            stored,
            acknowledged,
            "{}: every acknowledged call is stored, and nothing else",
            app.engine()
        );
        reopened.close().await;
    }
}
