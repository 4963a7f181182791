//! `GET /api/v1/logs/{log_id}`: one call with its canonical entry and leaf hash, the same as
//! its line of the JSON-lines export, and nothing of another tenant's.

use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::export::download;
use crate::support::{assert_error, TestApp};

#[tokio::test]
async fn one_log_by_id_is_its_export_line_with_the_entry_exactly_as_stored() {
    for app in TestApp::all().await {
        let logged = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1200,
                        "output_tokens": 30, "user_id": "alice", "kb_id": "kb_7"}),
            )
            .await;
        assert_eq!(logged.status, 200, "{}", logged.body);
        let id = logged.body["log_id"].as_str().expect("a log id");

        let one = app.get(&format!("/api/v1/logs/{id}")).await;
        assert_eq!(one.status, 200, "{}: {}", app.engine(), one.body);
        let (_, _, lines) = download(&app, &app.key, "/api/v1/export/usage?format=jsonl").await;
        let line: Value = lines
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
            .find(|l| l["id"] == id)
            .expect("the call is exported");
        assert_eq!(one.body, line, "{}", app.engine());
        assert_eq!(one.body["cost_exact"], logged.body["cost_exact"]);
        assert_eq!(one.body["dimensions"]["kb_id"], "kb_7");
        let entry: Value =
            serde_json::from_str(one.body["entry"].as_str().expect("the entry as text"))
                .expect("the entry is JSON");
        assert_eq!(entry["model"], "gpt-4o", "{entry}");
    }
}

#[tokio::test]
async fn another_tenants_log_is_not_found_exactly_as_a_missing_one() {
    for app in TestApp::all().await {
        let logged = app
            .post("/api/v1/log", &crate::support::usage("gpt-4o", 10, 1))
            .await;
        let id = logged.body["log_id"]
            .as_str()
            .expect("a log id")
            .to_string();
        let (_, other) = app.tenant_key("other-tenant", &[Scope::Read]).await;

        let theirs = app.get_as(&other, &format!("/api/v1/logs/{id}")).await;
        let missing = app
            .get_as(&other, "/api/v1/logs/00000000-0000-4000-8000-000000000000")
            .await;
        assert_error(&theirs, 404, "NOT_FOUND");
        assert_eq!(theirs.body, missing.body, "{}", app.engine());
        assert_error(&app.get("/api/v1/logs/not-a-uuid").await, 404, "NOT_FOUND");

        let (_, ingest_only) = app.tenant_key("writer", &[Scope::Ingest]).await;
        let refused = app
            .get_as(&ingest_only, &format!("/api/v1/logs/{id}"))
            .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
}
