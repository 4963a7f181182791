//! The accounts pages in a browser: the list and one account agree with the balance API, a
//! top-up in the page moves the balance once however often its form is sent, a limit change
//! shows in its bar, a bad amount changes nothing, the statement opens in the console, and a
//! reader or an end user is offered nothing they may not do.

use serde_json::json;
use tollgate_server::keys;
use tollgate_store::Scope;

use crate::browser::{Browser, Page};
use crate::support::{sign_in, token_for, top_up, with_jwt, TestApp};

/// An API amount as the console writes it: `15.000000000` USD is `15.00 USD`.
fn shown(amount: &str, currency: &str) -> String {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let mut kept = fraction.trim_end_matches('0').to_string();
    while kept.len() < 2 {
        kept.push('0');
    }
    format!("{whole}.{kept} {currency}")
}

/// `user`'s USD balance as `GET /api/v1/billing/balance` answers it.
async fn api_balance(app: &TestApp, user: &str) -> String {
    let r = app
        .get(&format!("/api/v1/billing/balance?user_id={user}"))
        .await;
    r.body["balances"]["USD"]["balance"]
        .as_str()
        .expect("a USD balance")
        .to_string()
}

const BALANCE: &str = "#balances tr[data-currency=\"USD\"] .balance";

async fn no_errors(page: &Page) {
    let errors = page.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn accounts_a_top_up_in_the_page_moves_the_balance_once_as_the_api_shows_it() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let engine = app.engine();
        top_up(&app, "alice", "12.5").await;
        top_up(&app, "bob", "3").await;
        let held = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "alice", "estimated_cost": "0.25", "hold": true}),
            )
            .await;
        assert!(held.status.is_success(), "{}", held.body);

        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        page.goto(&format!("{}/ui/accounts", app.base)).await;
        assert_eq!(page.text("main h1").await, "Accounts");
        let alice = "#accounts tr[data-user=\"alice\"]";
        assert_eq!(
            page.text(&format!("{alice} .balance")).await,
            shown(&api_balance(&app, "alice").await, "USD")
        );
        assert_eq!(
            page.text(&format!("{alice} .holds")).await,
            "1 open, 0.25 USD held"
        );
        assert_eq!(page.text(&format!("{alice} .daily")).await, "10.00 USD");
        page.fill("#account-search", "bo").await;
        page.submit("form.search").await;
        assert_eq!(page.texts("#accounts tbody tr .user").await, ["bob"]);
        no_errors(&page).await;
        page.goto(&format!("{}/ui/accounts", app.base)).await;
        page.screenshot(&format!("accounts-desktop-{engine}")).await;
        crate::support::phone(&page, &format!("accounts-phone-{engine}")).await;
        page.set_viewport(1280, 900, false).await;

        page.click(&format!("{alice} .user a")).await;
        page.wait_for("#account-user").await;
        assert_eq!(page.text("#account-user").await, "alice");
        page.fill("#topup-amount", "2.5").await;
        page.fill("#topup-description", "paid by card").await;
        page.submit("#topup-form").await;
        assert_eq!(page.text("#notice").await, "The top-up was posted.");
        let api = api_balance(&app, "alice").await;
        assert_eq!(api, "15.000000000", "{engine}");
        assert_eq!(page.text(BALANCE).await, shown(&api, "USD"));
        assert!(page.text("#ledger").await.contains("paid by card"));

        // The same form sent twice (a double click, a resubmit): one credit.
        let sent = page
            .eval(
                "(async () => { \
                   const form = document.querySelector('#topup-form'); \
                   form.querySelector('[name=amount]').value = '1'; \
                   const body = new URLSearchParams(new FormData(form)); \
                   const a = await fetch(form.action, { method: 'POST', body }); \
                   const b = await fetch(form.action, { method: 'POST', body }); \
                   return [a.status, b.status]; })()",
            )
            .await;
        assert_eq!(sent, json!([200, 200]), "both land on the account page");
        assert_eq!(api_balance(&app, "alice").await, "16.000000000", "{engine}");
        page.goto(&format!("{}/ui/accounts/alice", app.base)).await;
        assert_eq!(page.text(BALANCE).await, "16.00 USD");

        // A limit change shows in its bar.
        page.fill("#limit-daily", "4").await;
        page.submit("#limits-form").await;
        assert_eq!(
            page.text("#notice").await,
            "The limits and status were saved."
        );
        let max = page
            .eval("document.querySelector('.limit meter').max")
            .await;
        assert_eq!(max, json!(4_000_000_000_i64), "{engine}");
        assert!(page.text(".limit").await.contains("of 4.00 USD"));
        let limits = app.get("/api/v1/billing/balance?user_id=alice").await;
        assert_eq!(limits.body["limits"]["daily"], "4.000000000");

        // A bad amount is refused in place and changes nothing.
        for bad in ["1.0000000001", "abc"] {
            page.fill("#topup-amount", bad).await;
            page.submit("#topup-form").await;
            let error = page.text("#topup-error").await;
            assert!(error.contains(bad), "{error}");
            assert_eq!(page.text(BALANCE).await, "16.00 USD");
        }
        assert_eq!(api_balance(&app, "alice").await, "16.000000000");
        no_errors(&page).await;
        page.goto(&format!("{}/ui/accounts/alice", app.base)).await;
        page.screenshot(&format!("account-desktop-{engine}")).await;
        crate::support::phone(&page, &format!("account-phone-{engine}")).await;
        page.set_viewport(1280, 900, false).await;

        // The month's statement, in the console.
        page.click("#statement-link").await;
        page.wait_for("#statement").await;
        let statement = app
            .get("/api/v1/billing/statement?user_id=alice")
            .await
            .body;
        let closing = statement["currencies"][0]["closing_balance"]
            .as_str()
            .expect("a closing balance");
        assert_eq!(closing, "16.000000000");
        let text = page.text("#statement").await;
        assert!(text.contains("Closing balance"), "{text}");
        assert!(text.contains(closing), "{text}");
        assert!(text.contains("paid by card"), "{text}");
        no_errors(&page).await;
        page.screenshot(&format!("statement-desktop-{engine}"))
            .await;
    }
}

#[tokio::test]
async fn accounts_a_reader_sees_the_account_but_no_forms() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        top_up(&app, "alice", "4").await;
        let k = keys::generate(&app.tenant_id, vec![Scope::Read], None);
        app.db.store.create_key(k.record).await.expect("key");
        let page = browser.new_page().await;
        sign_in(&page, &app, &k.secret).await;
        page.goto(&format!("{}/ui/accounts/alice", app.base)).await;
        assert_eq!(page.text(BALANCE).await, "4.00 USD");
        for form in ["#topup-form", "#refund-form", "#limits-form"] {
            assert!(!page.exists(form).await, "{form} on {}", app.engine());
        }
        assert!(page.exists("#statement-link").await);
    }
}

#[tokio::test]
async fn accounts_an_end_user_opens_neither_the_list_nor_another_account() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all_with(with_jwt).await {
        top_up(&app, "alice", "5").await;
        top_up(&app, "bob", "9").await;
        let page = browser.new_page().await;
        sign_in(&page, &app, &token_for(&app, "alice")).await;
        assert!(!page
            .texts("header nav a")
            .await
            .contains(&"Accounts".to_string()));
        page.goto(&format!("{}/ui/accounts", app.base)).await;
        assert_eq!(page.text("h1").await, "403 Forbidden");
        page.goto(&format!("{}/ui/accounts/bob", app.base)).await;
        assert_eq!(page.text("h1").await, "404 Not Found");
        assert!(!page.text("body").await.contains("9.00"));
    }
}
