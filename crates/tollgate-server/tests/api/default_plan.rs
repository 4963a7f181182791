//! The default plan (the plan of every tenant with none set) is data in the database: one
//! answer for every instance, whatever each one's `billing.default_plan` says, chosen by
//! operators through `PUT /api/v1/plans/{name}` with `"default": true`.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_server::Settings;

use crate::support::{assert_error, usage, Reply, TestApp};

async fn put_plan(app: &TestApp, name: &str, body: Value) -> Reply {
    app.request_as(
        Method::PUT,
        &app.key.clone(),
        &format!("/api/v1/plans/{name}"),
        Some(&body),
    )
    .await
}

async fn delete_plan(app: &TestApp, name: &str) -> Reply {
    app.request_as(
        Method::DELETE,
        &app.key.clone(),
        &format!("/api/v1/plans/{name}"),
        None,
    )
    .await
}

/// The plan and quota `GET /api/v1/billing/limits` reports for the app's tenant.
async fn limits(app: &TestApp) -> (Value, Value) {
    let r = app.get("/api/v1/billing/limits").await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    (r.body["plan"].clone(), r.body["limit"].clone())
}

fn default_plan(name: &'static str) -> impl Fn(&mut Settings) {
    move |s: &mut Settings| s.billing.default_plan = Some(name.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_started_with_different_default_plans_give_the_databases_answer() {
    for a in TestApp::all_with(default_plan("growth")).await {
        let b = a.beside(default_plan("pro")).await;
        let engine = a.engine();
        assert_eq!(
            limits(&a).await,
            limits(&b).await,
            "{engine}: one tenant, one answer"
        );
        let listed = a.get("/api/v1/plans").await.body;
        assert_eq!(listed, b.get("/api/v1/plans").await.body, "{engine}");
        let default = listed["default_plan"].as_str().expect("default_plan");
        assert_eq!(limits(&a).await.0, json!(default), "{engine}: {listed}");
        let flagged: Vec<&Value> = listed["plans"]
            .as_array()
            .expect("plans")
            .iter()
            .filter(|p| p["default"] == true)
            .collect();
        assert_eq!(flagged.len(), 1, "{engine}: {listed}");
        assert_eq!(flagged[0]["name"], default);

        // Whatever plan the settings of one instance name, deleting the database's default is
        // refused through either, and deleting another plan leaves both deciding.
        for app in [&a, &b] {
            let r = delete_plan(app, default).await;
            assert_error(&r, 409, "CONFLICT");
        }
        let other = if default == "growth" { "pro" } else { "growth" };
        let r = delete_plan(&b, other).await;
        assert_eq!(r.status, 204, "{engine}: {}", r.body);
        for app in [&a, &b] {
            let r = app.post("/api/v1/authorize", &json!({})).await;
            assert_eq!(r.status, 200, "{engine}: {}", r.body);
            assert_eq!(r.body["quota"]["plan"], default, "{}", r.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_chosen_through_the_api_decides_the_next_authorization_of_a_tenant_with_no_plan()
{
    for app in TestApp::all().await {
        let engine = app.engine();
        assert_eq!(limits(&app).await, (json!("starter"), json!(500)));
        let r = put_plan(
            &app,
            "tiny",
            json!({"monthly_requests": 1, "default": true}),
        )
        .await;
        assert_eq!(r.status, 201, "{engine}: {}", r.body);
        assert_eq!(r.body["default"], true, "{}", r.body);
        let r = app.post("/api/v1/log", &usage("gpt-4o", 10, 1)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.post("/api/v1/authorize", &json!({})).await;
        assert_error(&r, 402, "QUOTA_EXCEEDED");
        assert_eq!(r.body["error"]["quota"]["plan"], "tiny", "{}", r.body);

        // Choosing another default leaves the plan's quota as it is.
        let r = put_plan(&app, "pro", json!({"default": true})).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.body);
        assert_eq!(
            (
                &r.body["name"],
                &r.body["monthly_requests"],
                &r.body["default"]
            ),
            (&json!("pro"), &Value::Null, &json!(true))
        );
        let r = app.post("/api/v1/authorize", &json!({})).await;
        assert_eq!(r.status, 200, "{engine}: {}", r.body);
        assert_eq!(r.body["quota"]["plan"], "pro");
        assert_eq!(limits(&app).await, (json!("pro"), Value::Null));
        let listed = app.get("/api/v1/plans").await.body;
        assert_eq!(listed["default_plan"], "pro", "{listed}");

        // The default is never left unchosen, and never a plan there is not.
        let r = put_plan(&app, "pro", json!({"default": false})).await;
        assert_error(&r, 409, "CONFLICT");
        let r = put_plan(&app, "platinum", json!({"default": true})).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "monthly_requests", "{}", r.body);
        let r = delete_plan(&app, "pro").await;
        assert_error(&r, 409, "CONFLICT");
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("default plan") && message.contains("\"default\": true"),
            "{message}"
        );
        let r = delete_plan(&app, "tiny").await;
        assert_eq!(r.status, 204, "{engine}: the old default goes: {}", r.body);
    }
}
