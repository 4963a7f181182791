//! Plans are data in the database: operators manage them through `/api/v1/plans`, the
//! settings only add missing ones at start, and every decision reads the plan as it is then.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_server::settings::PlanSettings;
use tollgate_server::{keys, Server, Settings};
use tollgate_store::testing::TestDatabase;
use tollgate_store::Scope;

use crate::support::{assert_error, usage, TestApp};

async fn put_plan(app: &TestApp, name: &str, body: Value) -> crate::support::Reply {
    app.request_as(
        Method::PUT,
        &app.key.clone(),
        &format!("/api/v1/plans/{name}"),
        Some(&body),
    )
    .await
}

async fn delete_plan(app: &TestApp, name: &str) -> crate::support::Reply {
    app.request_as(
        Method::DELETE,
        &app.key.clone(),
        &format!("/api/v1/plans/{name}"),
        None,
    )
    .await
}

fn plan<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|p| p["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_changed_through_the_api_decides_the_next_authorization() {
    for app in TestApp::all().await {
        let r = put_plan(&app, "tiny", json!({"monthly_requests": 2})).await;
        assert_eq!(r.status, 201, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["monthly_requests"], 2);
        assert_eq!(r.body["default"], false);
        let r = app
            .post("/api/v1/billing/plan", &json!({"plan": "tiny"}))
            .await;
        assert_eq!(
            (r.body["plan"].clone(), r.body["limit"].clone()),
            (json!("tiny"), json!(2))
        );
        for _ in 0..2 {
            let r = app.post("/api/v1/log", &usage("gpt-4o", 10, 1)).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = app.post("/api/v1/authorize", &json!({})).await;
        assert_error(&r, 402, "QUOTA_EXCEEDED");

        let r = put_plan(&app, "tiny", json!({"monthly_requests": 3})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["tenants"], 1);
        let r = app.post("/api/v1/authorize", &json!({})).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let limits = app.get("/api/v1/billing/limits").await.body;
        assert_eq!(
            (limits["plan"].clone(), limits["limit"].clone()),
            (json!("tiny"), json!(3))
        );

        let r = put_plan(&app, "tiny", json!({"monthly_requests": null})).await;
        assert_eq!(r.body["monthly_requests"], Value::Null, "null is unlimited");
        let listed = app.get("/api/v1/plans").await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.body["default_plan"], "starter");
        assert_eq!(
            plan(&listed.body, "tiny").expect("tiny")["monthly_requests"],
            Value::Null
        );
        assert_eq!(
            plan(&listed.body, "starter").expect("starter")["default"],
            true
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_a_tenant_is_on_or_the_default_plan_cannot_be_deleted() {
    for app in TestApp::all().await {
        put_plan(&app, "tiny", json!({"monthly_requests": 5})).await;
        app.post("/api/v1/billing/plan", &json!({"plan": "tiny"}))
            .await;
        let r = delete_plan(&app, "tiny").await;
        assert_error(&r, 409, "CONFLICT");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .expect("message")
                .contains("1 tenant is on it"),
            "{}",
            r.body
        );
        let r = delete_plan(&app, "starter").await;
        assert_error(&r, 409, "CONFLICT");
        assert!(r.body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("default plan"));

        app.post("/api/v1/billing/plan", &json!({"plan": null}))
            .await;
        let r = delete_plan(&app, "tiny").await;
        assert_eq!(r.status, 204, "{}: {}", app.engine(), r.body);
        assert_error(&delete_plan(&app, "tiny").await, 404, "NOT_FOUND");
        assert!(plan(&app.get("/api/v1/plans").await.body, "tiny").is_none());
        let r = app
            .post("/api/v1/billing/plan", &json!({"plan": "tiny"}))
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_operator_key_manages_plans() {
    for app in TestApp::all().await {
        let (_, admin) = app
            .tenant_key("acme", &[Scope::Ingest, Scope::Read, Scope::Admin])
            .await;
        let r = app.get_as(&admin, "/api/v1/plans").await;
        assert_error(&r, 403, "FORBIDDEN");
        let body = json!({"monthly_requests": 1_000_000});
        let r = app
            .request_as(Method::PUT, &admin, "/api/v1/plans/starter", Some(&body))
            .await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = app
            .request_as(Method::DELETE, &admin, "/api/v1/plans/growth", None)
            .await;
        assert_error(&r, 403, "FORBIDDEN");
        let starter = app.get("/api/v1/plans").await.body;
        assert_eq!(
            plan(&starter, "starter").expect("starter")["monthly_requests"],
            500
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plan_is_a_422_naming_the_field() {
    for app in TestApp::all().await {
        for (name, body, field) in [
            ("tiny", json!({}), "monthly_requests"),
            ("tiny", json!({"monthly_requests": -1}), "monthly_requests"),
            ("tiny", json!({"monthly_requests": "5"}), "monthly_requests"),
            ("default", json!({"monthly_requests": 5}), "name"),
            (&"p".repeat(65), json!({"monthly_requests": 5}), "name"),
        ] {
            let r = put_plan(&app, name, body.clone()).await;
            assert_error(&r, 422, "INVALID_FIELD");
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        }
        assert!(plan(&app.get("/api/v1/plans").await.body, "tiny").is_none());
    }
}

fn with_tiny(quota: i64) -> impl Fn(&mut Settings) {
    move |s: &mut Settings| {
        s.billing.plans.insert(
            "tiny".into(),
            PlanSettings {
                monthly_requests: Some(quota),
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_change_a_plan_at_start_until_an_operator_sets_it() {
    for mut app in TestApp::all_with(with_tiny(5)).await {
        let engine = app.engine();
        let listed = app.get("/api/v1/plans").await.body;
        let tiny = plan(&listed, "tiny").expect("seeded");
        assert_eq!(
            (&tiny["monthly_requests"], &tiny["source"]),
            (&json!(5), &json!("settings"))
        );
        app.restart(with_tiny(6)).await;
        let listed = app.get("/api/v1/plans").await.body;
        assert_eq!(
            plan(&listed, "tiny").expect("kept")["monthly_requests"],
            6,
            "{engine}: no operator set it, so it follows the settings"
        );

        let r = put_plan(&app, "tiny", json!({"monthly_requests": 7})).await;
        assert_eq!(r.body["source"], "operator", "{}", r.body);
        app.restart(with_tiny(9)).await;
        let listed = app.get("/api/v1/plans").await.body;
        assert_eq!(
            plan(&listed, "tiny").expect("kept")["monthly_requests"],
            7,
            "{engine}: an operator set it, so the settings never change it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_choose_the_default_plan_at_start_until_an_operator_chooses_it() {
    let growth = |s: &mut Settings| s.billing.default_plan = Some("growth".into());
    for mut app in TestApp::all_with(growth).await {
        let engine = app.engine();
        assert_eq!(
            app.get("/api/v1/plans").await.body["default_plan"],
            "growth"
        );
        app.restart(|s| s.billing.default_plan = Some("pro".into()))
            .await;
        assert_eq!(
            app.get("/api/v1/plans").await.body["default_plan"],
            "pro",
            "{engine}: no operator chose it, so it follows the settings"
        );
        app.restart(|_| {}).await;
        assert_eq!(
            app.get("/api/v1/plans").await.body["default_plan"],
            "pro",
            "{engine}: settings without a default leave the database's"
        );
        put_plan(&app, "starter", json!({"default": true})).await;
        app.restart(growth).await;
        assert_eq!(
            app.get("/api/v1/plans").await.body["default_plan"],
            "starter",
            "{engine}: an operator chose it, so the settings never change it"
        );
        let limits = app.get("/api/v1/billing/limits").await.body;
        assert_eq!(limits["plan"], "starter", "{limits}");
    }
}

/// Migration 20261123000002 is the last before plans were in the database.
const BEFORE_PLANS: i64 = 20261123000002;
const OLD_KEY: &str = "tg_old_bootstrap_key_before_plans_01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_upgrade_a_built_in_plan_the_settings_override_has_the_settings_quota() {
    // A tenant on the default plan (no plan set) and its bootstrap key, as the previous
    // version stored them; its tollgate.toml raised the built-in starter plan.
    let sql = format!(
        "INSERT INTO tenants (id, name, created_us, log_size) \
         VALUES ('tnt_old', 'default', 1000000, 0);\n\
         INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, scopes, created_us) \
         VALUES ('key_old', 'tnt_old', '{}', 'tg_old', 'bootstrap', \
         'ingest,read,admin,operator', 1000000);\n",
        keys::hash(OLD_KEY)
    );
    let starter = |s: &mut Settings| {
        s.billing.plans.insert(
            "starter".into(),
            PlanSettings {
                monthly_requests: Some(10_000),
            },
        );
    };
    for app in TestApp::all_upgraded_with(BEFORE_PLANS, &sql, OLD_KEY, "tnt_old", starter).await {
        let engine = app.engine();
        let limits = app.get("/api/v1/billing/limits").await;
        assert_eq!(limits.status, 200, "{engine}: {}", limits.body);
        assert_eq!(
            (&limits.body["plan"], &limits.body["limit"]),
            (&json!("starter"), &json!(10_000)),
            "{engine}: the quota the deployment had before the upgrade"
        );
        let listed = app.get("/api/v1/plans").await.body;
        let starter = plan(&listed, "starter").expect("starter");
        assert_eq!(starter["source"], "settings", "{listed}");
        assert_eq!(
            plan(&listed, "growth").expect("growth")["source"],
            "builtin"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_plan_that_is_not_in_the_database_stops_start_up() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().expect("data dir");
        let mut settings = Settings {
            data_dir: data.path().to_path_buf(),
            ..Settings::default()
        };
        settings.billing.default_plan = Some("enterprise".into());
        match Server::new(settings, db.store.clone()).await {
            Ok(_) => panic!("{}: started without its default plan", db.engine),
            Err(e) => {
                let message = e.to_string();
                for needed in [
                    "billing.default_plan 'enterprise' is not a plan in the database",
                    "growth, pro, starter",
                    "tollgate plans set enterprise",
                ] {
                    assert!(message.contains(needed), "{message}");
                }
            }
        }
    }
}
