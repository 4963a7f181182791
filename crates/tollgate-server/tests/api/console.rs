//! The console's sessions over HTTP: signing in with a key or an end user's token, the
//! cookie's attributes, CSRF tokens on every form, and sessions ending at sign-out, with the
//! key, or with time. The pages themselves are driven in a browser (the `console` tests).

use tollgate_store::Scope;

use crate::console_client::{hidden, Browser};
use crate::support::TestApp;

#[tokio::test]
async fn a_key_signs_in_to_a_strict_http_only_session_and_signing_out_ends_it_everywhere() {
    for app in TestApp::all().await {
        let mut b = Browser::new(&app);
        let first = b.get("/ui/").await;
        assert_eq!(first.status, 303, "{}", app.engine());
        assert_eq!(first.location.as_deref(), Some("/ui/sign-in?next=%2Fui%2F"));

        let signed = b.sign_in(&app.key).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert_eq!(signed.location.as_deref(), Some("/ui/"));
        let cookie = signed
            .set_cookies
            .iter()
            .find(|c| c.starts_with("tollgate_session="))
            .expect("a session cookie");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=28800"] {
            assert!(cookie.contains(attribute), "{attribute}: {cookie}");
        }
        assert!(
            !cookie.contains(&app.key) && !signed.location.unwrap_or_default().contains(&app.key),
            "the key is never in a cookie or a URL"
        );

        let overview = b.get("/ui/").await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        assert!(overview.body.contains("<h1>Overview</h1>"));
        assert!(overview.body.contains("Sign out"));
        let csp = overview.csp.unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );

        // The same session is known to another instance sharing the database.
        let session = b.cookies.get("tollgate_session").cloned().expect("cookie");
        let csrf = hidden(&overview.body, "csrf");
        let out = b.post("/ui/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some("/ui/sign-in"));
        let mut replay = Browser::new(&app);
        replay.cookies.insert("tollgate_session".into(), session);
        let after = replay.get("/ui/").await;
        assert_eq!(
            after.status, 303,
            "a copied cookie of an ended session opens nothing"
        );
    }
}

#[tokio::test]
async fn a_wrong_key_or_a_sign_in_form_from_elsewhere_signs_no_one_in() {
    for app in TestApp::all().await {
        let mut b = Browser::new(&app);
        let wrong = b.sign_in("tg_not_a_key_of_anyone").await;
        assert_eq!(wrong.status, 401);
        assert!(
            wrong
                .body
                .contains("That key is not valid, or it was revoked."),
            "{}",
            wrong.body
        );
        assert!(
            !wrong.body.contains("tg_not_a_key_of_anyone"),
            "the key is not echoed"
        );
        assert!(!b.cookies.contains_key("tollgate_session"));

        // A form posted from another site carries no token bound to this browser's cookie.
        let mut forged = Browser::new(&app);
        let r = forged
            .post(
                "/ui/sign-in",
                &[
                    ("csrf", "guessed"),
                    ("next", "/ui/"),
                    ("credential", &app.key),
                ],
            )
            .await;
        assert_eq!(r.status, 401);
        assert!(
            r.body.contains("expired or came from elsewhere"),
            "{}",
            r.body
        );
        assert!(!forged.cookies.contains_key("tollgate_session"));

        // Only console pages are destinations after signing in.
        let mut b = Browser::new(&app);
        let form = b.get("/ui/sign-in").await;
        let csrf = hidden(&form.body, "csrf");
        let r = b
            .post(
                "/ui/sign-in",
                &[
                    ("csrf", &csrf),
                    ("next", "https://elsewhere.example/"),
                    ("credential", &app.key),
                ],
            )
            .await;
        assert_eq!(r.location.as_deref(), Some("/ui/"));
    }
}

#[tokio::test]
async fn a_form_without_the_session_token_changes_nothing() {
    for app in TestApp::all().await {
        let mut b = Browser::new(&app);
        b.sign_in(&app.key).await;
        let r = b.post("/ui/sign-out", &[("csrf", "not-the-token")]).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains("did not come from this console"),
            "{}",
            r.body
        );
        assert_eq!(b.get("/ui/").await.status, 200, "still signed in");
    }
}

#[tokio::test]
async fn revoking_the_key_ends_its_console_session() {
    for app in TestApp::all_with(|s| s.auth_cache_ttl_ms = 0).await {
        let (_, key) = app.tenant_key("console-revoke", &[Scope::Read]).await;
        let mut b = Browser::new(&app);
        assert_eq!(b.sign_in(&key).await.status, 303);
        assert_eq!(b.get("/ui/").await.status, 200);
        let hash = tollgate_server::keys::hash(&key);
        let info = app
            .db
            .store
            .authenticate(&hash)
            .await
            .expect("read")
            .expect("the key");
        app.db
            .store
            .revoke_key(&info.id, Some(&info.tenant_id))
            .await
            .expect("revoke");
        let r = b.get("/ui/").await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(r.location.unwrap_or_default().starts_with("/ui/sign-in"));
    }
}

#[tokio::test]
async fn an_end_user_signs_in_with_their_token_and_sees_only_their_own_account() {
    for app in TestApp::all_with(crate::jwt::with_hs256).await {
        crate::support::top_up(&app, "alice", "7.5").await;
        crate::support::top_up(&app, "bob", "3").await;
        let mut b = Browser::new(&app);
        let token = crate::jwt::token_for(&app, "alice");
        let signed = b.sign_in(&token).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        let cookie = signed
            .set_cookies
            .iter()
            .find(|c| c.starts_with("tollgate_session="))
            .expect("a session cookie");
        let max_age: u64 = cookie
            .split("Max-Age=")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|n| n.parse().ok())
            .expect("Max-Age");
        assert!(max_age <= 3600, "the session ends with the token: {cookie}");

        let page = b.get("/ui/").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h1>My account</h1>"), "{}", page.body);
        assert!(page.body.contains("alice"));
        assert!(page.body.contains("7.50 USD"), "{}", page.body);
        assert!(!page.body.contains("bob"), "nobody else's account");
        assert!(
            !page.body.contains("/ui/logs"),
            "no tenant pages are offered"
        );
    }
}

#[tokio::test]
async fn dashboard_leads_a_person_to_the_console() {
    for app in TestApp::all().await {
        let mut b = Browser::new(&app);
        for path in ["/dashboard", "/ui"] {
            let r = b.get(path).await;
            assert_eq!(r.status, 303, "{path}");
            assert_eq!(r.location.as_deref(), Some("/ui/"), "{path}");
        }
    }
}

#[tokio::test]
async fn a_deployment_may_turn_the_console_off() {
    for app in TestApp::all_with(|s| s.console.enabled = false).await {
        let r = Browser::new(&app).get("/ui/sign-in").await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test]
async fn a_tenant_admin_can_neither_see_nor_revoke_the_deployments_operator_key() {
    for app in TestApp::all_with(|s| s.auth_cache_ttl_ms = 0).await {
        let admin = tollgate_server::keys::generate(
            &app.tenant_id,
            vec![Scope::Admin, Scope::Read],
            Some("team".into()),
        );
        app.db.store.create_key(admin.record).await.expect("key");
        let operator = app
            .db
            .store
            .authenticate(&tollgate_server::keys::hash(&app.key))
            .await
            .expect("read")
            .expect("the bootstrap key");
        let mut b = Browser::new(&app);
        assert_eq!(b.sign_in(&admin.secret).await.status, 303);
        let page = b.get("/ui/operate/keys").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            !page.body.contains(&operator.id),
            "the operator key is not listed"
        );
        let csrf = hidden(&page.body, "csrf");
        let r = b
            .post(
                &format!("/ui/operate/keys/{}/revoke", operator.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(app.get("/api/v1/stats").await.status, 200, "still valid");
    }
}

#[tokio::test]
async fn a_next_page_that_is_not_a_plain_console_path_leads_to_the_overview() {
    for app in TestApp::all().await {
        for next in [
            "/ui/\n",
            "/ui//evil.example",
            "https://evil.example/ui/",
            "/ui/\u{7f}",
        ] {
            let mut b = Browser::new(&app);
            let form = b.get("/ui/sign-in").await;
            let csrf = hidden(&form.body, "csrf");
            let r = b
                .post(
                    "/ui/sign-in",
                    &[("csrf", &csrf), ("next", next), ("credential", &app.key)],
                )
                .await;
            assert_eq!(r.status, 303, "{next}: {}", r.body);
            assert_eq!(r.location.as_deref(), Some("/ui/"), "{next}");
        }
    }
}

#[tokio::test]
async fn a_key_without_read_lands_on_the_first_page_it_may_use() {
    for app in TestApp::all().await {
        let admin = tollgate_server::keys::generate(&app.tenant_id, vec![Scope::Admin], None);
        app.db.store.create_key(admin.record).await.expect("key");
        let mut b = Browser::new(&app);
        b.sign_in(&admin.secret).await;
        let r = b.get("/ui/").await;
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.location.unwrap_or_default();
        assert!(to.starts_with("/ui/operate"), "{to}");
        let operate = b.get("/ui/operate/webhooks").await;
        assert_eq!(operate.status, 200);
        assert!(
            !operate.body.contains("/ui/operate/prices"),
            "prices need read"
        );
    }
}

#[tokio::test]
async fn an_export_of_days_still_to_come_is_its_header_alone() {
    for app in TestApp::all().await {
        let mut b = Browser::new(&app);
        b.sign_in(&app.key).await;
        let r = b
            .get("/ui/logs/export.csv?period=custom&start=2999-01-01&end=2999-01-02")
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.lines().count(), 1, "{}", r.body);
        assert!(
            r.body.starts_with("seq,") || r.body.contains("log_id"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn end_user_sessions_end_when_tokens_are_no_longer_accepted() {
    for mut app in TestApp::all_with(crate::jwt::with_hs256).await {
        let token = crate::jwt::token_for(&app, "alice");
        let cookies = {
            let mut b = Browser::new(&app);
            assert_eq!(b.sign_in(&token).await.status, 303);
            assert_eq!(b.get("/ui/").await.status, 200);
            b.cookies.clone()
        };
        app.restart(|_| {}).await;
        let mut b = Browser::new(&app);
        b.cookies = cookies;
        let r = b.get("/ui/").await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
}
