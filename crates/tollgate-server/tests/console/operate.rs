//! Operate and Tenants in a browser: webhooks with their one-time secret, API keys created
//! with the creator's scopes at most and revoked, plans and quotas, prices and the calls
//! without one, and an operator acting on another tenant.

use serde_json::json;
use tollgate_store::Scope;

use crate::browser::{Browser, Page};
use crate::support::{sign_in, TestApp};

async fn open(page: &Page, app: &TestApp, path: &str) {
    page.goto(&format!("{}{path}", app.base)).await;
    page.wait_for("main h1").await;
}

#[tokio::test]
async fn an_admin_adds_a_webhook_sees_its_secret_once_and_removes_it() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        open(&page, &app, "/ui/operate").await;
        assert_eq!(page.text("main h1").await, "Webhooks");
        page.fill("#url", "https://hooks.example.com/tollgate")
            .await;
        page.click("input[name=event][value=\"balance.low\"]").await;
        page.submit("#add-webhook").await;
        page.wait_for("#created-secret").await;
        let secret = page.text("#created-secret").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        let listed = app.get("/api/v1/webhooks").await.body;
        assert_eq!(
            listed["webhooks"][0]["url"],
            "https://hooks.example.com/tollgate"
        );
        assert_eq!(listed["webhooks"][0]["event_types"], json!(["balance.low"]));
        page.screenshot(&format!("webhooks-desktop-{}", app.engine()))
            .await;

        open(&page, &app, "/ui/operate/webhooks").await;
        assert!(!page.exists("#created-secret").await, "shown once");
        assert!(!page.text("main").await.contains(&secret));
        page.fill("#url", "http://127.0.0.1/").await;
        page.submit("#add-webhook").await;
        page.wait_for("#problem").await;
        assert!(!page.text("#problem").await.is_empty());

        page.submit("#endpoints form").await;
        page.wait_for("#notice").await;
        assert_eq!(page.text("#notice").await, "Endpoint removed.");
        let listed = app.get("/api/v1/webhooks").await.body;
        assert_eq!(listed["webhooks"], json!([]));
        assert!(
            page.console_errors().is_empty(),
            "{:?}",
            page.console_errors()
        );
    }
}

#[tokio::test]
async fn a_new_key_is_shown_once_works_and_stops_working_when_revoked() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all_with(|s| s.auth_cache_ttl_ms = 0).await {
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        open(&page, &app, "/ui/operate/keys").await;
        page.fill("#key-name", "dashboards").await;
        page.click("input[name=scope][value=read]").await;
        page.submit("#create-key").await;
        page.wait_for("#created-key").await;
        let key = page.text("#created-key").await;
        assert!(key.starts_with("tg_"), "{key}");
        page.screenshot(&format!("keys-desktop-{}", app.engine()))
            .await;
        let r = app.get_as(&key, "/api/v1/stats").await;
        assert_eq!(r.status, 200, "the new key reads");
        let r = app.get_as(&key, "/api/v1/webhooks").await;
        assert_eq!(r.status, 403, "and only reads");

        let other = browser.new_page().await;
        sign_in(&other, &app, &key).await;
        let nav = other.texts("header nav a").await;
        assert!(!nav.contains(&"Operate".to_string()), "{nav:?}");
        open(&other, &app, "/ui/operate/keys").await;
        assert_eq!(other.text("main h1").await, "403 Forbidden");

        let id = page
            .eval("[...document.querySelectorAll('#keys tbody tr')].find(r => r.children[1].textContent === 'dashboards').dataset.id")
            .await;
        let id = id.as_str().expect("the key's id").to_string();
        page.submit(&format!("#keys tr[data-id=\"{id}\"] form"))
            .await;
        page.wait_for("#notice").await;
        assert_eq!(app.get_as(&key, "/api/v1/stats").await.status, 401);
        open(&other, &app, "/ui/").await;
        assert!(
            other.url().await.contains("/ui/sign-in"),
            "its session ended"
        );
    }
}

#[tokio::test]
async fn a_key_cannot_give_a_new_key_a_scope_it_lacks() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let (_, admin) = app
            .tenant_key("console-admin", &[Scope::Admin, Scope::Read])
            .await;
        let before = app.db.store.list_keys(None).await.expect("keys").len();
        let page = browser.new_page().await;
        sign_in(&page, &app, &admin).await;
        open(&page, &app, "/ui/operate/keys").await;
        let offered = page
            .eval("[...document.querySelectorAll('input[name=scope]')].map(i => i.value)")
            .await;
        assert_eq!(offered, json!(["read", "admin"]));
        // A forged form asking for billing anyway.
        let status = page
            .eval(
                "(() => { const f = document.querySelector('#create-key'); \
                 const d = new URLSearchParams(new FormData(f)); d.append('scope', 'billing'); \
                 return fetch('/ui/operate/keys', {method: 'POST', body: d}).then(r => r.status); })()",
            )
            .await;
        assert_eq!(status, 403);
        let after = app.db.store.list_keys(None).await.expect("keys").len();
        assert_eq!(after, before, "no key was made");
    }
}

#[tokio::test]
async fn an_operator_sets_a_plans_quota_and_the_tenant_sees_it() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        open(&page, &app, "/ui/operate/plans").await;
        page.fill("#quota-starter", "1234").await;
        page.submit("tr[data-plan=\"starter\"] form").await;
        page.wait_for("#notice").await;
        assert!(page
            .text("#tenant-quota")
            .await
            .contains("of 1,234 requests"));
        let limits = app.get("/api/v1/billing/limits").await.body;
        assert_eq!(limits["limit"], 1234);
        page.screenshot(&format!("plans-desktop-{}", app.engine()))
            .await;
    }
}

#[tokio::test]
async fn prices_list_the_models_called_without_a_price() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "acme", "model": "mystery-2", "input_tokens": 10, "output_tokens": 1}),
            )
            .await;
        assert_eq!(r.status, 200);
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        open(&page, &app, "/ui/operate/prices?q=gpt-4o-mini").await;
        assert!(page.text("#coverage").await.contains("mystery-2"));
        let rows = page.texts("#prices-table tbody tr").await;
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r.contains("gpt-4o-mini")),
            "{rows:?}"
        );
        assert!(rows[0].contains("0.15 USD"), "{rows:?}");
        page.screenshot(&format!("prices-desktop-{}", app.engine()))
            .await;
    }
}

#[tokio::test]
async fn an_operator_adds_a_tenant_and_acts_on_it() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        open(&page, &app, "/ui/tenants").await;
        page.fill("#tenant-name", "acme-corp").await;
        page.submit("#add-tenant").await;
        page.wait_for("#notice").await;
        page.submit("tr[data-tenant=\"acme-corp\"] form").await;
        page.wait_for("main h1").await;
        assert_eq!(page.text("header .tenant").await, "acme-corp");
        assert_eq!(page.text("[data-tile=\"Requests\"] .tile-value").await, "0");
        page.screenshot(&format!("tenants-desktop-{}", app.engine()))
            .await;

        let (_, tenant_admin) = app
            .tenant_key("console-not-operator", &[Scope::Admin, Scope::Read])
            .await;
        let other = browser.new_page().await;
        sign_in(&other, &app, &tenant_admin).await;
        open(&other, &app, "/ui/tenants").await;
        assert_eq!(other.text("main h1").await, "403 Forbidden");
    }
}
