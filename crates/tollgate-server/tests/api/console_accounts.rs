//! The console's account pages over HTTP: what a key with `read` only is shown and refused,
//! what an end user may not open, and top-up forms that post once however often they are
//! sent, or not at all when the amount is wrong. The pages are driven in a browser in the
//! `console` tests.

use tollgate_server::keys;
use tollgate_store::Scope;

use crate::console_client::{hidden, Browser};
use crate::support::{top_up, TestApp};

/// The USD balance of `user` as the API answers it.
async fn balance(app: &TestApp, user: &str) -> String {
    let r = app
        .get(&format!("/api/v1/billing/balance?user_id={user}"))
        .await;
    r.body["balances"]["USD"]["balance"]
        .as_str()
        .unwrap_or("0.000000000")
        .to_string()
}

/// A key of the test tenant with `scopes`.
async fn key_of(app: &TestApp, scopes: &[Scope]) -> String {
    let k = keys::generate(&app.tenant_id, scopes.to_vec(), None);
    app.db.store.create_key(k.record).await.expect("key");
    k.secret
}

#[tokio::test]
async fn console_accounts_a_top_up_or_refund_form_sent_twice_credits_once() {
    for app in TestApp::all().await {
        top_up(&app, "alice", "1").await;
        let mut b = Browser::new(&app);
        assert_eq!(b.sign_in(&app.key).await.status, 303);
        let page = b.get("/ui/accounts/alice").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = hidden(&page.body, "csrf");
        let request_id = hidden(&page.body, "request_id");
        let form = [
            ("csrf", csrf.as_str()),
            ("request_id", request_id.as_str()),
            ("amount", "2.5"),
            ("currency", "usd"),
            ("description", "by the console"),
        ];
        for _ in 0..2 {
            let r = b.post("/ui/accounts/alice/topup", &form).await;
            assert_eq!(r.status, 303, "{}: {}", app.engine(), r.body);
            assert_eq!(
                r.location.as_deref(),
                Some("/ui/accounts/alice?notice=topped-up")
            );
        }
        assert_eq!(
            balance(&app, "alice").await,
            "3.500000000",
            "{}",
            app.engine()
        );
        let after = b.get("/ui/accounts/alice?notice=topped-up").await;
        assert!(after.body.contains("The top-up was posted."));
        assert!(after.body.contains("3.50 USD"), "{}", after.body);
        let fresh = hidden(&after.body, "request_id");
        assert_ne!(fresh, request_id, "each page draws a fresh request id");

        // A refund gives money back to the account, once per request id as well.
        let refund = [
            ("csrf", csrf.as_str()),
            ("request_id", fresh.as_str()),
            ("amount", "0.5"),
            ("currency", "USD"),
            ("description", "a failed call"),
        ];
        for _ in 0..2 {
            let r = b.post("/ui/accounts/alice/refund", &refund).await;
            assert_eq!(r.status, 303, "{}: {}", app.engine(), r.body);
            assert_eq!(
                r.location.as_deref(),
                Some("/ui/accounts/alice?notice=refunded")
            );
        }
        assert_eq!(
            balance(&app, "alice").await,
            "4.000000000",
            "{}",
            app.engine()
        );
        let history = app
            .get("/api/v1/billing/history?user_id=alice&type=refund")
            .await;
        assert_eq!(history.body["pagination"]["total"], 1, "{}", history.body);
    }
}

#[tokio::test]
async fn console_accounts_a_bad_amount_is_shown_on_the_form_and_changes_nothing() {
    for app in TestApp::all().await {
        top_up(&app, "alice", "1").await;
        let mut b = Browser::new(&app);
        b.sign_in(&app.key).await;
        let page = b.get("/ui/accounts/alice").await;
        let csrf = hidden(&page.body, "csrf");
        let request_id = hidden(&page.body, "request_id");
        for bad in ["1.0000000001", "abc", "-3"] {
            let r = b
                .post(
                    "/ui/accounts/alice/topup",
                    &[
                        ("csrf", csrf.as_str()),
                        ("request_id", request_id.as_str()),
                        ("amount", bad),
                        ("currency", "USD"),
                    ],
                )
                .await;
            assert_eq!(r.status, 422, "{bad} on {}: {}", app.engine(), r.body);
            assert!(r.body.contains("id=\"topup-error\""), "{}", r.body);
            assert!(
                r.body.contains(&format!("value=\"{bad}\"")),
                "what was typed stays"
            );
        }
        let r = b
            .post(
                "/ui/accounts/alice/limits",
                &[
                    ("csrf", csrf.as_str()),
                    ("daily", "ten"),
                    ("monthly", ""),
                    ("status", "active"),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("id=\"limits-error\""), "{}", r.body);
        assert_eq!(balance(&app, "alice").await, "1.000000000");
        let limits = app.get("/api/v1/billing/balance?user_id=alice").await;
        assert_eq!(limits.body["limits"]["daily"], "10.000000000", "unchanged");
    }
}

#[tokio::test]
async fn console_accounts_a_reader_sees_accounts_without_forms_and_cannot_post() {
    for app in TestApp::all().await {
        top_up(&app, "alice", "4").await;
        let reader = key_of(&app, &[Scope::Read]).await;
        let mut b = Browser::new(&app);
        assert_eq!(b.sign_in(&reader).await.status, 303);
        let list = b.get("/ui/accounts").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(
            list.body.contains("href=\"/ui/accounts/alice\""),
            "{}",
            list.body
        );
        let page = b.get("/ui/accounts/alice").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("4.00 USD"));
        for form in ["topup-form", "refund-form", "limits-form"] {
            assert!(!page.body.contains(form), "no {form} for a reader");
        }
        let csrf = hidden(&page.body, "csrf");
        for (path, form) in [
            (
                "topup",
                vec![
                    ("csrf", csrf.as_str()),
                    ("request_id", "r1"),
                    ("amount", "5"),
                ],
            ),
            (
                "refund",
                vec![
                    ("csrf", csrf.as_str()),
                    ("request_id", "r2"),
                    ("amount", "1"),
                ],
            ),
            (
                "limits",
                vec![("csrf", csrf.as_str()), ("daily", "1"), ("monthly", "2")],
            ),
        ] {
            let r = b.post(&format!("/ui/accounts/alice/{path}"), &form).await;
            assert_eq!(r.status, 403, "{path} on {}: {}", app.engine(), r.body);
        }
        assert_eq!(balance(&app, "alice").await, "4.000000000");

        // A billing key without read cannot open the list the read scope guards.
        let biller = key_of(&app, &[Scope::Billing]).await;
        let mut b = Browser::new(&app);
        b.sign_in(&biller).await;
        assert_eq!(b.get("/ui/accounts").await.status, 403);
    }
}

#[tokio::test]
async fn console_accounts_an_end_user_opens_neither_the_list_nor_anyone_elses_account() {
    for app in TestApp::all_with(crate::jwt::with_hs256).await {
        top_up(&app, "alice", "7").await;
        top_up(&app, "bob", "3").await;
        let mut b = Browser::new(&app);
        let signed = b.sign_in(&crate::jwt::token_for(&app, "alice")).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        let list = b.get("/ui/accounts").await;
        assert_eq!(list.status, 403, "{}", list.body);
        assert!(!list.body.contains("bob"));
        let other = b.get("/ui/accounts/bob").await;
        assert_eq!(other.status, 404, "{}", other.body);
        assert!(!other.body.contains("3.00"));
        let statement = b.get("/ui/accounts/bob/statement").await;
        assert_eq!(statement.status, 404, "{}", statement.body);
        let own = b.get("/ui/accounts/alice").await;
        assert!(!own.body.contains("topup-form"), "no forms for an end user");
    }
}
