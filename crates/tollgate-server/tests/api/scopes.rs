//! Who may do what: the `billing` scope moves one tenant's money; the operator role is
//! deployment-wide and held only by keys created (or granted) as operator keys; keys that held
//! the old `operator` scope keep their own tenant and lose the others, except the bootstrap key.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_server::keys;
use tollgate_store::{KeyRole, Scope};

use crate::support::{assert_error, usage, Reply, TestApp};

/// A request with `key`, naming a tenant with `X-Tenant-Id` when given.
async fn as_key(
    app: &TestApp,
    method: Method,
    key: &str,
    tenant: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("X-API-Key", key);
    if let Some(t) = tenant {
        req = req.header("X-Tenant-Id", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn top_up(app: &TestApp, key: &str, tenant: Option<&str>, user: &str) -> Reply {
    as_key(
        app,
        Method::POST,
        key,
        tenant,
        "/api/v1/billing/topup",
        Some(json!({"amount": "5", "user_id": user})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_key_moves_the_money_of_its_own_tenant_only() {
    for app in TestApp::all().await {
        let (acme, billing) = app.tenant_key("acme", &[Scope::Billing]).await;
        let r = top_up(&app, &billing, None, "u").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(r.body["balance"]["balance_usd"], "5.000000000");
        for (path, body) in [
            (
                "/api/v1/billing/refund",
                json!({"amount": "1", "user_id": "u"}),
            ),
            (
                "/api/v1/billing/adjustment",
                json!({"amount": "1", "user_id": "u", "direction": "debit"}),
            ),
        ] {
            let r = as_key(&app, Method::POST, &billing, None, path, Some(body)).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        let r = as_key(
            &app,
            Method::PUT,
            &billing,
            None,
            "/api/v1/billing/settings",
            Some(json!({"user_id": "u", "daily_limit": "3"})),
        )
        .await;
        assert_eq!(
            r.status, 200,
            "spending limits are the billing scope's too: {}",
            r.body
        );
        let account = app
            .db
            .store
            .account(&acme, "u")
            .await
            .expect("account")
            .expect("exists");
        assert_eq!(account.balances[0].balance.to_string(), "5.000000000");

        // Naming another tenant is refused, and nothing is written there.
        let r = top_up(&app, &billing, Some(&app.tenant_id), "u").await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = top_up(&app, &billing, Some("default"), "u").await;
        assert_error(&r, 403, "FORBIDDEN");
        assert!(app
            .db
            .store
            .account(&app.tenant_id, "u")
            .await
            .expect("read")
            .is_none());

        // Money only: no reading, no plans.
        let r = as_key(&app, Method::GET, &billing, None, "/api/v1/stats", None).await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = as_key(
            &app,
            Method::POST,
            &billing,
            None,
            "/api/v1/billing/plan",
            Some(json!({"plan": "pro"})),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_only_key_cannot_top_up_and_an_admin_key_still_sets_limits() {
    for app in TestApp::all().await {
        let (_, ingest) = app.tenant_key("writer", &[Scope::Ingest]).await;
        let r = top_up(&app, &ingest, None, "u").await;
        assert_error(&r, 403, "FORBIDDEN");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .expect("message")
                .contains("'billing'"),
            "{}",
            r.body
        );
        let limits = Some(json!({"user_id": "u", "daily_limit": "3"}));
        let r = as_key(
            &app,
            Method::PUT,
            &ingest,
            None,
            "/api/v1/billing/settings",
            limits.clone(),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
        let (_, admin) = app.tenant_key("admins", &[Scope::Admin]).await;
        let r = as_key(
            &app,
            Method::PUT,
            &admin,
            None,
            "/api/v1/billing/settings",
            limits,
        )
        .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let r = top_up(&app, &admin, None, "u").await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_created_as_an_operator_key_reaches_any_tenant() {
    for app in TestApp::all().await {
        let (_, operator) = app.operator_key("ops").await;
        let r = top_up(&app, &operator, Some("default"), "u").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert!(app
            .db
            .store
            .account(&app.tenant_id, "u")
            .await
            .expect("read")
            .is_some());
        let r = as_key(&app, Method::GET, &operator, None, "/api/v1/plans", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // A tenant key with every scope is still a tenant key.
        let (_, everything) = app.tenant_key("acme", &Scope::ALL).await;
        let r = top_up(&app, &everything, Some("default"), "u").await;
        assert_error(&r, 403, "FORBIDDEN");
        let r = as_key(&app, Method::GET, &everything, None, "/api/v1/plans", None).await;
        assert_error(&r, 403, "FORBIDDEN");
    }
}

/// Migration 20261205000001 is the last before keys had roles.
const BEFORE_ROLES: i64 = 20261205000001;
const BOOTSTRAP: &str = "tg_old_bootstrap_key_0123456789";
const ACME_OPERATOR: &str = "tg_old_acme_operator_0123456789";
const LOOKALIKE: &str = "tg_old_acme_named_bootstrap_0123";
const ACME_READER: &str = "tg_old_acme_reader_0123456789";

/// Two tenants and their keys as the previous version stored them, scopes and all.
fn rows_before_roles() -> String {
    let key = |id: &str, tenant: &str, secret: &str, name: &str, scopes: &str, at: i64| {
        format!(
            "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, scopes, created_us) \
             VALUES ('{id}', '{tenant}', '{}', 'tg_old', {name}, '{scopes}', {at});\n",
            keys::hash(secret)
        )
    };
    let mut sql = String::from(
        "INSERT INTO tenants (id, name, created_us, log_size) VALUES \
         ('tnt_old_default', 'default', 1000000, 0), ('tnt_old_acme', 'acme', 2000000, 0);\n",
    );
    let all = "ingest,read,admin,operator";
    sql += &key(
        "key_boot",
        "tnt_old_default",
        BOOTSTRAP,
        "'bootstrap'",
        all,
        1_000_000,
    );
    sql += &key(
        "key_acme_op",
        "tnt_old_acme",
        ACME_OPERATOR,
        "'ops'",
        all,
        3_000_000,
    );
    sql += &key(
        "key_lookalike",
        "tnt_old_acme",
        LOOKALIKE,
        "'bootstrap'",
        "operator",
        4_000_000,
    );
    sql += &key(
        "key_reader",
        "tnt_old_acme",
        ACME_READER,
        "NULL",
        "read",
        5_000_000,
    );
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_upgrade_only_the_bootstrap_key_reaches_other_tenants() {
    let sql = rows_before_roles();
    for app in TestApp::all_upgraded(BEFORE_ROLES, &sql, BOOTSTRAP, "tnt_old_default").await {
        let engine = app.engine();
        let r = top_up(&app, BOOTSTRAP, Some("acme"), "u").await;
        assert_eq!(
            r.status, 200,
            "{engine}: the bootstrap key stays deployment-wide: {}",
            r.body
        );
        let r = as_key(&app, Method::GET, BOOTSTRAP, None, "/api/v1/plans", None).await;
        assert_eq!(r.status, 200, "{}", r.body);

        for key in [ACME_OPERATOR, LOOKALIKE] {
            let r = top_up(&app, key, Some("default"), "u").await;
            assert_error(&r, 403, "FORBIDDEN");
            let r = as_key(
                &app,
                Method::GET,
                key,
                Some("tnt_old_default"),
                "/api/v1/stats",
                None,
            )
            .await;
            assert_error(&r, 403, "FORBIDDEN");
            let r = as_key(&app, Method::GET, key, None, "/api/v1/plans", None).await;
            assert_error(&r, 403, "FORBIDDEN");
            // Within its own tenant it keeps everything it had, and billing.
            let r = top_up(&app, key, None, "v").await;
            assert_eq!(r.status, 200, "{engine}: {}", r.body);
            let r = as_key(
                &app,
                Method::POST,
                key,
                None,
                "/api/v1/log",
                Some(usage("gpt-4o", 5, 1)),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            for path in ["/api/v1/stats", "/api/v1/webhooks"] {
                let r = as_key(&app, Method::GET, key, None, path, None).await;
                assert_eq!(r.status, 200, "{path}: {}", r.body);
            }
        }
        assert!(app
            .db
            .store
            .account("tnt_old_default", "u")
            .await
            .expect("read")
            .is_none());
        let r = top_up(&app, ACME_READER, None, "v").await;
        assert_error(&r, 403, "FORBIDDEN");

        let listed = app.db.store.list_keys(None).await.expect("keys");
        let roles: Vec<(&str, KeyRole, String)> = listed
            .iter()
            .map(|k| (k.id.as_str(), k.role, Scope::join(&k.scopes)))
            .collect();
        let all = "ingest,read,admin,billing".to_string();
        assert_eq!(
            roles,
            vec![
                ("key_boot", KeyRole::Operator, all.clone()),
                ("key_acme_op", KeyRole::Tenant, all.clone()),
                ("key_lookalike", KeyRole::Tenant, all),
                ("key_reader", KeyRole::Tenant, "read".to_string()),
            ],
            "{engine}"
        );
    }
}
