//! `GET /api/v1/billing/accounts`: the tenant's accounts a page at a time, with their
//! balances, spend, limits and open holds, searched by the start of a user id.

use serde_json::json;
use tollgate_server::keys;
use tollgate_store::Scope;

use crate::support::{assert_error, top_up, TestApp};

#[tokio::test]
async fn the_accounts_list_pages_by_user_id_with_balances_limits_and_open_holds() {
    for app in TestApp::all().await {
        for (user, amount) in [("carol", "3"), ("alice", "12.5"), ("bob", "7"), ("al", "1")] {
            top_up(&app, user, amount).await;
        }
        let held = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "alice", "estimated_cost": "0.25", "hold": true}),
            )
            .await;
        assert!(held.status.is_success(), "{}: {}", app.engine(), held.body);

        let r = app.get("/api/v1/billing/accounts?limit=2").await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let users: Vec<&str> = r.body["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a["account"]["user_id"].as_str().expect("user"))
            .collect();
        assert_eq!(users, ["al", "alice"], "{}", app.engine());
        assert_eq!(r.body["pagination"]["total"], 4);
        assert_eq!(r.body["pagination"]["has_more"], true);

        let alice = &r.body["accounts"][1];
        assert_eq!(alice["open_holds"], 1, "{}", alice);
        let usd = &alice["account"]["balances"]["USD"];
        assert_eq!(usd["balance"], "12.500000000");
        assert_eq!(usd["held"], "0.250000000");
        assert_eq!(usd["available"], "12.250000000");
        assert_eq!(alice["account"]["limits"]["daily"], "10.000000000");
        assert_eq!(r.body["accounts"][0]["open_holds"], 0);
        // Each row is the account exactly as its own balance route shows it.
        let own = app.get("/api/v1/billing/balance?user_id=alice").await;
        assert_eq!(alice["account"], own.body);

        let rest = app.get("/api/v1/billing/accounts?limit=2&offset=2").await;
        let users: Vec<&str> = rest.body["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a["account"]["user_id"].as_str().expect("user"))
            .collect();
        assert_eq!(users, ["bob", "carol"]);
        assert_eq!(rest.body["pagination"]["has_more"], false);

        let found = app.get("/api/v1/billing/accounts?user_prefix=al").await;
        assert_eq!(found.body["pagination"]["total"], 2, "{}", found.body);
        let none = app.get("/api/v1/billing/accounts?user_prefix=AL").await;
        assert_eq!(
            none.body["pagination"]["total"],
            0,
            "the prefix is case-sensitive on both engines: {}",
            app.engine()
        );
        let wild = app.get("/api/v1/billing/accounts?user_prefix=%25").await;
        assert_eq!(wild.body["pagination"]["total"], 0, "% is not a wildcard");
    }
}

#[tokio::test]
async fn the_accounts_list_needs_read_and_shows_only_the_keys_tenant() {
    for app in TestApp::all().await {
        top_up(&app, "alice", "5").await;
        let (_, other) = app.tenant_key("elsewhere", &[Scope::Read]).await;
        let r = app.get_as(&other, "/api/v1/billing/accounts").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["pagination"]["total"], 0, "{}", r.body);

        let k = keys::generate(&app.tenant_id, vec![Scope::Ingest], None);
        app.db.store.create_key(k.record).await.expect("key");
        let r = app.get_as(&k.secret, "/api/v1/billing/accounts").await;
        assert_error(&r, 403, "FORBIDDEN");

        let r = app.get("/api/v1/billing/accounts?limit=0").await;
        assert_eq!(r.status, 400, "{}", r.body);
    }
}
