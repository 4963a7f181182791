//! Each threshold fires once per period: an account's spending limits (75%, 90%, 100%), its
//! balance falling below `webhooks.balance_low`, and the tenant's monthly quota (80%, 100%).

use serde_json::{json, Value};
use tollgate_server::settings::PlanSettings;
use tollgate_server::Settings;

use crate::support::TestApp;
use crate::webhooks::{eventually, fast, subscribe, Receiver};

/// The bodies received of one event type.
fn of_type(receiver: &Receiver, t: &str) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["type"] == t)
        .collect()
}

/// A call by `user` that costs exactly `cost` (an unpriced model with the client's cost).
async fn spend(app: &TestApp, user: &str, cost: f64) {
    let body = json!({"provider": "acme", "model": "in-house", "input_tokens": 1,
        "output_tokens": 1, "cost": cost, "user_id": user});
    let r = app.post("/api/v1/log", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
}

/// Waits until every alert raised so far has been fanned out and delivered.
async fn settled(app: &TestApp, webhook: &str, at_least: usize) {
    let path = format!("/api/v1/webhooks/{webhook}/deliveries");
    // One worker round after the last call: fan-out happens before the next claim. Under
    // load it can take longer, so the deliveries the test expects must have appeared too.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    eventually("every delivery", || async {
        let log = app.get(&path).await.body;
        log["deliveries"]
            .as_array()
            .is_some_and(|d| d.len() >= at_least && d.iter().all(|d| d["status"] == "delivered"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_daily_limit_threshold_and_a_low_balance_fire_once_however_many_calls_follow() {
    let settings = |s: &mut Settings| {
        fast(s);
        s.webhooks.balance_low = Some("5".into());
    };
    for app in TestApp::all_with(settings).await {
        let receiver = Receiver::start(0).await;
        let (id, _) = subscribe(&app, &receiver.url, &["limit.threshold", "balance.low"]).await;
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "5.5", "user_id": "u1"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .http
            .put(format!("{}/api/v1/billing/settings", app.base))
            .header("X-API-Key", &app.key)
            .json(&json!({"user_id": "u1", "daily_limit": "1"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);

        // 0.8 (80%: past 75), 0.9 (past 90), 0.95, 1.05 (past 100), then two more.
        for cost in [0.8, 0.1, 0.05, 0.1, 0.1, 0.2] {
            spend(&app, "u1", cost).await;
        }
        settled(&app, &id, 3).await;
        // Deliveries are sent concurrently: their order is not the order of the alerts.
        let mut limits = of_type(&receiver, "limit.threshold");
        limits.sort_by_key(|b| b["data"]["threshold_percent"].as_i64());
        let percents: Vec<i64> = limits
            .iter()
            .map(|b| b["data"]["threshold_percent"].as_i64().expect("percent"))
            .collect();
        assert_eq!(percents, vec![75, 90, 100], "{}", app.engine());
        assert!(limits.iter().all(|b| b["data"]["limit"] == "daily"
            && b["data"]["user_id"] == "u1"
            && b["data"]["limit_amount"] == "1.000000000"));
        assert_eq!(limits[0]["data"]["spent"], "0.800000000");

        // 5.5 - 0.8 = 4.7 fell below 5 once; topping up and falling again the same day
        // raises nothing more.
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "10", "user_id": "u1"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        spend(&app, "u1", 10.0).await;
        settled(&app, &id, 4).await;
        let low = of_type(&receiver, "balance.low");
        assert_eq!(low.len(), 1, "{}: {low:?}", app.engine());
        assert_eq!(low[0]["data"]["balance"], "4.700000000");
        assert_eq!(low[0]["data"]["threshold"], "5.000000000");
        assert_eq!(of_type(&receiver, "limit.threshold").len(), 3);
    }
}

/// Sets `user`'s daily spending limit.
async fn daily_limit(app: &TestApp, user: &str, limit: &str) {
    let r = app
        .http
        .put(format!("{}/api/v1/billing/settings", app.base))
        .header("X-API-Key", &app.key)
        .json(&json!({"user_id": user, "daily_limit": limit}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{}", app.engine());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_raised_after_its_100_percent_alert_fires_its_own_thresholds_the_same_day() {
    for app in TestApp::all_with(fast).await {
        let receiver = Receiver::start(0).await;
        let (id, _) = subscribe(&app, &receiver.url, &["limit.threshold"]).await;
        let r = app
            .post(
                "/api/v1/billing/topup",
                &json!({"amount": "5", "user_id": "u3"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        daily_limit(&app, "u3", "1").await;
        spend(&app, "u3", 1.05).await;
        settled(&app, &id, 3).await;
        assert_eq!(of_type(&receiver, "limit.threshold").len(), 3);

        // 1.55 is past 75% of 2 (1.5), short of 90%.
        daily_limit(&app, "u3", "2").await;
        spend(&app, "u3", 0.5).await;
        eventually("the new limit's 75% alert", || async {
            of_type(&receiver, "limit.threshold").len() == 4
        })
        .await;
        settled(&app, &id, 4).await;
        let raised: Vec<Value> = of_type(&receiver, "limit.threshold")
            .into_iter()
            .filter(|b| b["data"]["limit_amount"] == "2.000000000")
            .collect();
        assert_eq!(raised.len(), 1, "{}: {raised:?}", app.engine());
        assert_eq!(raised[0]["data"]["threshold_percent"], 75);
        assert_eq!(raised[0]["data"]["spent"], "1.550000000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_adjustment_that_takes_the_balance_below_the_mark_raises_balance_low() {
    let settings = |s: &mut Settings| {
        fast(s);
        s.webhooks.balance_low = Some("5".into());
    };
    for app in TestApp::all_with(settings).await {
        let receiver = Receiver::start(0).await;
        let (id, _) = subscribe(&app, &receiver.url, &["balance.low"]).await;
        for (route, body) in [
            ("topup", json!({"amount": "8", "user_id": "u2"})),
            // Still at or above the mark: nothing.
            (
                "adjustment",
                json!({"amount": "3", "user_id": "u2", "direction": "debit"}),
            ),
            (
                "adjustment",
                json!({"amount": "0.01", "user_id": "u2", "direction": "debit"}),
            ),
        ] {
            let r = app.post(&format!("/api/v1/billing/{route}"), &body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        settled(&app, &id, 1).await;
        let low = of_type(&receiver, "balance.low");
        assert_eq!(low.len(), 1, "{}: {low:?}", app.engine());
        assert_eq!(low[0]["data"]["user_id"], "u2");
        assert_eq!(low[0]["data"]["balance"], "4.990000000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_fires_at_80_and_100_percent_once_each() {
    let settings = |s: &mut Settings| {
        fast(s);
        s.billing.plans.insert(
            "tiny".into(),
            PlanSettings {
                monthly_requests: Some(5),
            },
        );
        s.billing.default_plan = Some("tiny".into());
    };
    for app in TestApp::all_with(settings).await {
        let receiver = Receiver::start(0).await;
        let (id, _) = subscribe(&app, &receiver.url, &["quota.threshold"]).await;
        for _ in 0..3 {
            spend(&app, "u2", 0.0).await;
        }
        settled(&app, &id, 0).await;
        assert!(of_type(&receiver, "quota.threshold").is_empty());
        spend(&app, "u2", 0.0).await;
        eventually("the 80% alert", || async {
            of_type(&receiver, "quota.threshold").len() == 1
        })
        .await;
        for _ in 0..3 {
            spend(&app, "u2", 0.0).await;
        }
        eventually("the 100% alert", || async {
            of_type(&receiver, "quota.threshold").len() == 2
        })
        .await;
        // More scans and calls raise nothing more.
        spend(&app, "u2", 0.0).await;
        settled(&app, &id, 2).await;
        let mut quota = of_type(&receiver, "quota.threshold");
        quota.sort_by_key(|b| b["data"]["threshold_percent"].as_i64());
        let percents: Vec<&Value> = quota
            .iter()
            .map(|b| &b["data"]["threshold_percent"])
            .collect();
        assert_eq!(percents, vec![&json!(80), &json!(100)], "{}", app.engine());
        assert_eq!(quota[0]["data"]["plan"], "tiny");
        assert_eq!(quota[0]["data"]["monthly_requests"], 5);
    }
}
