//! The overview and the end user's own page, in a browser: signing in through the form, the
//! totals of a period equal to `/api/v1/stats` for the same days, and what each kind of
//! viewer is shown.

use serde_json::json;
use tollgate_store::Scope;

use crate::browser::Browser;
use crate::support::{sign_in, token_for, top_up, with_jwt, TestApp};

/// Today as `YYYY-MM-DD` (UTC).
fn today() -> String {
    tollgate_core::time::day_string(tollgate_core::time::now_us().div_euclid(86_400_000_000))
}

/// Calls of today: two priced models and one unpriced.
async fn seed(app: &TestApp) {
    for (model, provider, input, output) in [
        ("gpt-4o", "openai", 1_000_000, 10_000),
        ("gpt-4o", "openai", 2_000, 500),
        ("gpt-4o-mini", "openai", 30_000, 2_000),
        ("mystery-1", "acme", 100, 10),
    ] {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": provider, "model": model, "input_tokens": input,
                        "output_tokens": output, "kb_id": "kb_1"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn the_overview_shows_the_periods_totals_exactly_as_the_stats_api_answers_them() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        seed(&app).await;
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;
        assert_eq!(page.text("main h1").await, "Overview");
        let cookies = page.cookies().await;
        let session = cookies
            .iter()
            .find(|c| c["name"] == "tollgate_session")
            .expect("a session cookie");
        assert_eq!(session["httpOnly"], true);
        assert_eq!(session["sameSite"], "Strict");

        let day = today();
        page.goto(&format!(
            "{}/ui/?period=custom&start={day}&end={day}&dimension=kb_id",
            app.base
        ))
        .await;
        let stats = app
            .get(&format!("/api/v1/stats?start_date={day}&end_date={day}"))
            .await
            .body;
        let summary = &stats["summary"];
        let tile = |name: &str| format!("[data-tile=\"{name}\"] .tile-value");
        let cost = summary["total_cost"].as_str().expect("a cost");
        assert_eq!(
            cost, "2.615700000",
            "gpt-4o and gpt-4o-mini at their list prices"
        );
        assert_eq!(page.text(&tile("Spend")).await, "2.6157 USD");
        assert_eq!(
            page.text(&tile("Requests")).await,
            summary["total_requests"].to_string()
        );
        assert_eq!(page.text(&tile("Requests")).await, "4");
        assert_eq!(page.text(&tile("Tokens")).await, "1,044,610");
        assert_eq!(page.text(&tile("Unpriced calls")).await, "1");
        assert_eq!(page.text("#unpriced-count").await, "1");
        assert!(page.text("#unpriced-models").await.contains("mystery-1"));
        let models = page.texts("[data-breakdown=\"model\"] tbody tr").await;
        assert!(models[0].starts_with("gpt-4o\t"), "{models:?}");
        let values = page.texts("[data-breakdown=\"value\"] tbody tr").await;
        assert!(values[0].starts_with("kb_1\t4\t"), "{values:?}");
        assert!(
            page.text("#period-label").await.contains(&day),
            "the period names its days"
        );
        assert!(page.text("#quota-h").await.contains("plan"));
        assert!(
            page.console_errors().is_empty(),
            "{:?}",
            page.console_errors()
        );
        page.screenshot(&format!("overview-desktop-{}", app.engine()))
            .await;
        crate::support::phone(&page, &format!("overview-phone-{}", app.engine())).await;
    }
}

#[tokio::test]
async fn a_key_without_admin_is_not_offered_what_needs_it() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let (_, reader) = app.tenant_key("console-reader", &[Scope::Read]).await;
        let page = browser.new_page().await;
        sign_in(&page, &app, &reader).await;
        let nav = page.texts("header nav a").await;
        assert!(nav.contains(&"Overview".to_string()), "{nav:?}");
        assert!(!nav.contains(&"Operate".to_string()), "{nav:?}");
        assert!(!nav.contains(&"Tenants".to_string()), "{nav:?}");
    }
}

#[tokio::test]
async fn an_end_user_sees_their_own_balance_and_history_and_nothing_else() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all_with(with_jwt).await {
        top_up(&app, "alice", "12.5").await;
        top_up(&app, "bob", "99").await;
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1_000_000,
                        "output_tokens": 0, "user_id": "alice"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = browser.new_page().await;
        sign_in(&page, &app, &token_for(&app, "alice")).await;
        assert_eq!(page.text("main h1").await, "My account");
        assert_eq!(page.text("#account-user").await, "alice");
        assert_eq!(
            page.text("#balances tr[data-currency=\"USD\"] .balance")
                .await,
            "10.00 USD",
            "12.50 topped up, 2.50 charged"
        );
        assert!(page.text("#ledger").await.contains("topup"));
        let usage = page.texts("#usage tbody tr").await;
        assert!(
            usage[1].starts_with("This month (UTC)\t1\t1,000,000\t2.50 USD"),
            "{usage:?}"
        );
        let body = page.text("body").await;
        assert!(!body.contains("bob") && !body.contains("99.00"), "{body}");
        let nav = page.texts("header nav a").await;
        assert_eq!(nav, ["My account"]);
        page.goto(&format!("{}/ui/?period=month", app.base)).await;
        assert_eq!(
            page.text("main h1").await,
            "My account",
            "no overview for a user"
        );
        page.screenshot(&format!("my-account-desktop-{}", app.engine()))
            .await;
        crate::support::phone(&page, &format!("my-account-phone-{}", app.engine())).await;
    }
}
