use serde_json::json;
use tollgate_store::Scope;

use crate::support::{assert_error, usage, TestApp};

const READ_ROUTES: [&str; 5] = [
    "/api/v1/stats",
    "/api/v1/logs",
    "/api/v1/conversations/",
    "/api/v1/conversations",
    "/api/v1/pricing",
];

#[tokio::test]
async fn requests_without_a_usable_key_get_llmring_shaped_errors() {
    for app in TestApp::all().await {
        let url = format!("{}/api/v1/log", app.base);
        let send = |key: Option<String>| {
            let mut req = app.http.post(&url).json(&usage("gpt-4o", 1, 1));
            if let Some(k) = key {
                req = req.header("X-API-Key", k);
            }
            req.send()
        };
        let r = send(None).await.expect("send");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<serde_json::Value>().await.expect("json")["detail"],
            "X-API-Key header required"
        );
        let r = send(Some("   ".into())).await.expect("send");
        assert_eq!(r.status(), 401);
        let r = send(Some("k".repeat(256))).await.expect("send");
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<serde_json::Value>().await.expect("json")["detail"],
            "X-API-Key too long"
        );
        let r = send(Some("has spaces".into())).await.expect("send");
        assert_eq!(r.status(), 400);
        let r = send(Some("tg_unknown".into())).await.expect("send");
        assert_eq!(r.status(), 401, "{}", app.engine());
        // Authorization: Bearer works as well as X-API-Key.
        let r = app
            .http
            .post(&url)
            .bearer_auth(&app.key)
            .json(&usage("gpt-4o", 1, 1))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn scopes_limit_what_a_key_can_do() {
    for app in TestApp::all().await {
        let (_, ingest_only) = app.tenant_key("writer", &[Scope::Ingest]).await;
        let (_, read_only) = app.tenant_key("reader", &[Scope::Read]).await;
        assert_eq!(
            app.post_as(&ingest_only, "/api/v1/log", &usage("gpt-4o", 1, 1))
                .await
                .status,
            200
        );
        assert_error(
            &app.get_as(&ingest_only, "/api/v1/stats").await,
            403,
            "FORBIDDEN",
        );
        assert_error(
            &app.post_as(&read_only, "/api/v1/log", &usage("gpt-4o", 1, 1))
                .await,
            403,
            "FORBIDDEN",
        );
        assert_eq!(
            app.get_as(&read_only, "/api/v1/stats").await.status,
            200,
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    for app in TestApp::all().await {
        let (tenant, key) = app.tenant_key("t", &[Scope::Ingest]).await;
        assert_eq!(
            app.post_as(&key, "/api/v1/log", &usage("gpt-4o", 1, 1))
                .await
                .status,
            200
        );
        let keys = app.db.store.list_keys(Some(&tenant)).await.expect("keys");
        app.db
            .store
            .revoke_key(&keys[0].id, None)
            .await
            .expect("revoke");
        assert_error(
            &app.post_as(&key, "/api/v1/log", &usage("gpt-4o", 1, 1))
                .await,
            401,
            "UNAUTHORIZED",
        );
    }
}

#[tokio::test]
async fn every_read_route_sees_only_the_callers_tenant() {
    for app in TestApp::all().await {
        let (_, other) = app.tenant_key("other", &[Scope::Ingest, Scope::Read]).await;
        app.post("/api/v1/log", &usage("gpt-4o", 1000, 500)).await;
        let conv = app
            .post(
                "/api/v1/conversations/log",
                &json!({"messages": [{"role": "user", "content": "hi"}], "response": {"content": "hello"},
                        "metadata": {"provider": "openai", "model": "gpt-4o", "input_tokens": 5, "output_tokens": 3}}),
            )
            .await;
        let conv_id = conv.body["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_string();

        let stats = app.get_as(&other, "/api/v1/stats").await;
        assert_eq!(
            stats.body["summary"]["total_requests"],
            0,
            "{}",
            app.engine()
        );
        assert_eq!(app.get_as(&other, "/api/v1/logs").await.body, json!([]));
        assert_eq!(
            app.get_as(&other, "/api/v1/conversations/").await.body,
            json!([])
        );
        let theirs = app
            .get_as(&other, &format!("/api/v1/conversations/{conv_id}"))
            .await;
        let missing = app
            .get_as(
                &other,
                &format!("/api/v1/conversations/{}", uuid::Uuid::now_v7()),
            )
            .await;
        assert_error(&theirs, 404, "NOT_FOUND");
        assert_eq!(
            theirs.body, missing.body,
            "another tenant's conversation looks exactly like a missing one"
        );
        assert_error(
            &app.get_as(&other, &format!("/api/v1/conversations/{conv_id}/messages"))
                .await,
            404,
            "NOT_FOUND",
        );
        for route in READ_ROUTES {
            assert_eq!(app.get(route).await.status, 200, "{route}");
        }
    }
}

#[tokio::test]
async fn only_an_operator_key_may_act_on_another_tenant() {
    for app in TestApp::all().await {
        let (other_id, other_key) = app
            .tenant_key("other", &[Scope::Ingest, Scope::Read, Scope::Admin])
            .await;
        // The bootstrap key is an operator: it may log and read for "other".
        let r = app
            .http
            .post(format!("{}/api/v1/log", app.base))
            .header("X-API-Key", &app.key)
            .header("X-Tenant-Id", "other")
            .json(&usage("gpt-4o", 1, 1))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        assert_eq!(
            app.get_as(&other_key, "/api/v1/stats").await.body["summary"]["total_requests"],
            1,
            "{}",
            app.engine()
        );
        // A non-operator key cannot reach the default tenant by naming it.
        let r = app
            .http
            .get(format!("{}/api/v1/stats", app.base))
            .header("X-API-Key", &other_key)
            .header("X-Tenant-Id", &app.tenant_id)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403);
        let r = app
            .http
            .get(format!("{}/api/v1/stats", app.base))
            .header("X-API-Key", &app.key)
            .header("X-Tenant-Id", "tnt_nobody")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404);
        let _ = other_id;
    }
}
