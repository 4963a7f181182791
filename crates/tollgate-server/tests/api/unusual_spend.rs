//! `spend.unusual`: a user whose spend in the current UTC hour is more than the configured
//! multiple of their hourly average over the days before today (and at least the floor) is
//! reported once that hour, to webhooks and by email.

use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::{json, Value};
use tollgate_server::Settings;

use crate::alert_email::{mail_to, recipients, spend};
use crate::fake_smtp::FakeSmtp;
use crate::support::TestApp;
use crate::webhooks::{eventually, subscribe, Receiver};

/// Mail as in the email tests, and the rule: more than 5× the 7-day average, at least 1.
fn rule(port: u16) -> impl Fn(&mut Settings) {
    let mail = mail_to(port);
    move |s: &mut Settings| {
        mail(s);
        s.alerts.unusual_spend.multiple = Some("5".into());
        s.alerts.unusual_spend.min_amount = "1".into();
        s.alerts.unusual_spend.window_days = 7;
        s.alerts.unusual_spend.scan_seconds = 0;
    }
}

/// A call by `user` costing `cost`, made at `when` (RFC 3339).
async fn spent_at(app: &TestApp, user: &str, cost: f64, when: &str) {
    let body = json!({"provider": "acme", "model": "in-house", "input_tokens": 1,
        "output_tokens": 1, "cost": cost, "user_id": user, "timestamp": when});
    let r = app.post("/api/v1/log", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
}

fn unusual(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["type"] == "spend.unusual")
        .collect()
}

/// Near the end of an hour, waits for the next one, so a test's calls share one hour.
async fn clear_of_the_hour_boundary() {
    let now = Utc::now();
    let left = 3600 - i64::from(now.minute() * 60 + now.second());
    if left < 60 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(left).unwrap_or(60) + 1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_a_steady_history_fires_once_and_a_small_newcomer_does_not() {
    let smtp = FakeSmtp::start(0).await;
    for app in TestApp::all_with(rule(smtp.port)).await {
        let receiver = Receiver::start(0).await;
        let (id, _) = subscribe(&app, &receiver.url, &["spend.unusual"]).await;
        recipients(&app, &["ops@example.com"]).await;
        let mails_before = smtp.messages().len();
        // 2.4 a day at noon for the 7 days before today: 16.8 over 168 hours, 0.1 an hour.
        let today = Utc::now().date_naive();
        for d in 1..=7 {
            let day = today - chrono::Days::new(d);
            spent_at(&app, "steady", 2.4, &format!("{day}T12:00:00Z")).await;
        }
        clear_of_the_hour_boundary().await;

        // Within the rule: 0.4 is under 5 × 0.1 and under the floor; 0.9 with no history is
        // under the floor.
        spend(&app, "steady", 0.4).await;
        spend(&app, "newbie", 0.9).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(unusual(&receiver).is_empty(), "{}", app.engine());

        // 1.4 this hour: more than 0.5 and at least 1.
        spend(&app, "steady", 1.0).await;
        eventually("the unusual spend alert", || async {
            unusual(&receiver).len() == 1
        })
        .await;
        // More in the same hour raises nothing more.
        spend(&app, "steady", 3.0).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let alerts = unusual(&receiver);
        assert_eq!(alerts.len(), 1, "{}: {alerts:?}", app.engine());
        let data = &alerts[0]["data"];
        assert_eq!(data["user_id"], "steady");
        assert_eq!(data["currency"], "USD");
        assert_eq!(data["spent"], "1.400000000");
        assert_eq!(data["hourly_average"], "0.100000000");
        assert_eq!(data["window_total"], "16.800000000");
        assert_eq!(data["window_days"], 7);
        assert_eq!(data["multiple"], "5");
        assert_eq!(data["min_amount"], "1.000000000");
        let hour = Utc::now().format("%Y-%m-%dT%H:00:00").to_string();
        assert!(
            data["hour_start"]
                .as_str()
                .is_some_and(|h| h.starts_with(&hour)),
            "{data}"
        );

        // The same alert by email (other alerts, such as the daily limit, may come too).
        let unusual_mail = || {
            smtp.messages()[mails_before..]
                .iter()
                .filter(|m| {
                    m.header("subject")
                        .is_some_and(|s| s.contains("Unusual spend"))
                })
                .cloned()
                .collect::<Vec<_>>()
        };
        eventually("the email", || async { !unusual_mail().is_empty() }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mails = unusual_mail();
        assert_eq!(mails.len(), 1, "{}: {mails:?}", app.engine());
        let mail = &mails[0];
        assert_eq!(
            mail.header("subject").as_deref(),
            Some("[Tollgate] Unusual spend by steady: 1.40 USD this hour")
        );
        let body = mail.body();
        for needed in [
            "it averaged 0.10 USD an hour",
            "more than 5 times that average and at least 1.00 USD",
            "What to do:",
        ] {
            assert!(body.contains(needed), "{needed}: {body}");
        }
        let log = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await
            .body;
        assert_eq!(log["pagination"]["total"], 1, "{log}");
    }
}
