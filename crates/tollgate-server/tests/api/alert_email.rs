//! Alerts by email: a tenant's recipients, one message per alert and address through the
//! configured SMTP server (a fake one on loopback), retried after a refusal, and sent once
//! when two instances share the database.

use std::time::Duration;

use serde_json::{json, Value};
use tollgate_server::settings::{SmtpSettings, SmtpTls};
use tollgate_server::Settings;
use tollgate_store::Scope;

use crate::fake_smtp::{FakeSmtp, Message};
use crate::support::{assert_error, TestApp};
use crate::webhooks::{eventually, fast};

/// Fast webhook policy, `balance.low` under 5, and mail through the fake server on `port`.
pub fn mail_to(port: u16) -> impl Fn(&mut Settings) {
    move |s: &mut Settings| {
        fast(s);
        s.webhooks.balance_low = Some("5".into());
        s.notifications.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "Tollgate Alerts <alerts@tollgate.test>".into(),
            ehlo_name: None,
            timeout_ms: 5_000,
        });
    }
}

/// Sets the tenant's recipients.
pub async fn recipients(app: &TestApp, emails: &[&str]) -> Value {
    let r = app
        .request_as(
            reqwest::Method::PUT,
            &app.key,
            "/api/v1/alerts/email",
            Some(&json!({ "recipients": emails })),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    r.body
}

/// A call by `user` that costs exactly `cost` (an unpriced model with the client's cost).
pub async fn spend(app: &TestApp, user: &str, cost: f64) {
    let body = json!({"provider": "acme", "model": "in-house", "input_tokens": 1,
        "output_tokens": 1, "cost": cost, "user_id": user});
    let r = app.post("/api/v1/log", &body).await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
}

async fn top_up(app: &TestApp, user: &str, amount: &str) {
    let r = app
        .post(
            "/api/v1/billing/topup",
            &json!({"amount": amount, "user_id": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Waits until the email log has `n` lines, all delivered.
async fn delivered(app: &TestApp, n: usize) -> Vec<Value> {
    let log = || async {
        let body = app.get("/api/v1/alerts/email/deliveries").await.body;
        body["deliveries"].as_array().cloned().unwrap_or_default()
    };
    eventually("every email delivered", || async {
        let l = log().await;
        l.len() == n && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    log().await
}

fn subjects(messages: &[Message]) -> Vec<String> {
    let mut s: Vec<String> = messages
        .iter()
        .map(|m| m.header("subject").unwrap_or_default())
        .collect();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_emailed_once_to_each_recipient_with_the_figures_and_what_to_do() {
    let smtp = FakeSmtp::start(0).await;
    for app in TestApp::all_with(mail_to(smtp.port)).await {
        let before = smtp.messages().len();
        let set = recipients(
            &app,
            &["ops@example.com", "cfo@example.com", "OPS@example.com"],
        )
        .await;
        assert_eq!(set["email_enabled"], true);
        let listed: Vec<&Value> = set["recipients"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| &r["email"])
            .collect();
        assert_eq!(
            listed,
            vec![&json!("cfo@example.com"), &json!("ops@example.com")],
            "sorted, repeats dropped"
        );
        assert!(set["recipients"][0]["set_by"]
            .as_str()
            .is_some_and(|k| k.starts_with("key_")));

        top_up(&app, "alice", "5.5").await;
        // 5.5 - 0.8 = 4.7 falls below 5: one `balance.low`.
        spend(&app, "alice", 0.8).await;
        let log = delivered(&app, 2).await;
        assert!(log.iter().all(|d| d["event_type"] == "balance.low"
            && d["attempts"] == 1
            && d["last_status_code"] == 250));
        // Nothing more arrives: one message per alert and address.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got: Vec<Message> = smtp.messages()[before..].to_vec();
        assert_eq!(got.len(), 2, "{}: {got:?}", app.engine());
        let mut to: Vec<String> = got.iter().flat_map(|m| m.to.clone()).collect();
        to.sort();
        assert_eq!(to, vec!["cfo@example.com", "ops@example.com"]);
        for m in &got {
            assert_eq!(m.from, "alerts@tollgate.test");
            assert_eq!(
                m.header("from").as_deref(),
                Some("Tollgate Alerts <alerts@tollgate.test>")
            );
            assert_eq!(
                m.header("subject").as_deref(),
                Some("[Tollgate] alice's balance is down to 4.70 USD")
            );
            let body = m.body();
            for needed in [
                "account \"alice\" fell below 5.00 USD; it is now 4.70 USD",
                "What to do: top the account up",
                &format!("Tenant: {}", app.tenant_id),
            ] {
                assert!(body.contains(needed), "{needed}: {body}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_threshold_email_names_the_period_the_numbers_and_the_currency() {
    let smtp = FakeSmtp::start(0).await;
    for app in TestApp::all_with(mail_to(smtp.port)).await {
        let before = smtp.messages().len();
        recipients(&app, &["ops@example.com"]).await;
        top_up(&app, "bob", "50").await;
        let r = app
            .request_as(
                reqwest::Method::PUT,
                &app.key,
                "/api/v1/billing/settings",
                Some(&json!({"user_id": "bob", "daily_limit": "2"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // 1.6 of 2 is 80%: past 75, short of 90.
        spend(&app, "bob", 1.6).await;
        delivered(&app, 1).await;
        let got: Vec<Message> = smtp.messages()[before..].to_vec();
        assert_eq!(
            subjects(&got),
            vec!["[Tollgate] bob has used 75% of its daily spending limit"]
        );
        let body = got[0].body();
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let needed = format!(
            "account \"bob\" has spent 1.60 USD of its daily limit of 2.00 USD in the day {today} (UTC)"
        );
        assert!(body.contains(&needed), "{needed}: {body}");
        assert!(body.contains("raise the account's daily limit"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_451_is_tried_again_and_the_message_arrives_once() {
    let smtp = FakeSmtp::start(0).await;
    for app in TestApp::all_with(mail_to(smtp.port)).await {
        let before = smtp.messages().len();
        recipients(&app, &["ops@example.com"]).await;
        smtp.refusing.store(1, std::sync::atomic::Ordering::SeqCst);
        top_up(&app, "carol", "5.2").await;
        spend(&app, "carol", 0.5).await;
        let log = delivered(&app, 1).await;
        assert_eq!(log[0]["attempts"], 2, "{}: {log:?}", app.engine());
        assert_eq!(log[0]["last_error"], Value::Null);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = smtp.messages()[before..].to_vec();
        assert_eq!(got.len(), 1, "{}: {got:?}", app.engine());
        assert_eq!(got[0].to, vec!["ops@example.com"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_send_each_alert_to_each_address_once() {
    let smtp = FakeSmtp::start(0).await;
    for a in TestApp::all_with(mail_to(smtp.port)).await {
        let b = a.beside(mail_to(smtp.port)).await;
        let before = smtp.messages().len();
        recipients(&a, &["ops@example.com", "cfo@example.com"]).await;
        let users = ["u1", "u2", "u3", "u4", "u5"];
        for (i, user) in users.iter().enumerate() {
            let app = if i % 2 == 0 { &a } else { &b };
            top_up(app, user, "5.1").await;
            spend(app, user, 0.2).await;
        }
        delivered(&a, 10).await;
        // Both workers keep polling: give them time to send anything twice.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = smtp.messages()[before..].to_vec();
        let mut pairs: Vec<(String, String)> = got
            .iter()
            .map(|m| (m.header("subject").unwrap_or_default(), m.to.join(",")))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(got.len(), 10, "{}: {pairs:?}", a.engine());
        assert_eq!(pairs.len(), 10, "{}", a.engine());
        drop(b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_are_checked_kept_per_tenant_and_refused_where_no_mail_server_is_set() {
    for app in TestApp::all().await {
        let r = app
            .request_as(
                reqwest::Method::PUT,
                &app.key,
                "/api/v1/alerts/email",
                Some(&json!({"recipients": ["ops@example.com"]})),
            )
            .await;
        assert_error(&r, 409, "CONFLICT");
        let r = app.get("/api/v1/alerts/email").await;
        assert_eq!(r.body, json!({"email_enabled": false, "recipients": []}));
    }
    let smtp = FakeSmtp::start(0).await;
    for app in TestApp::all_with(mail_to(smtp.port)).await {
        for bad in [json!(["not an address"]), json!(["a@b\r\nRCPT TO:<x@y>"])] {
            let r = app
                .request_as(
                    reqwest::Method::PUT,
                    &app.key,
                    "/api/v1/alerts/email",
                    Some(&json!({ "recipients": bad })),
                )
                .await;
            assert_error(&r, 422, "INVALID_FIELD");
            assert_eq!(r.body["error"]["field"], "recipients");
        }
        recipients(&app, &["ops@example.com"]).await;
        let (_, other) = app.tenant_key("other", &[Scope::Admin]).await;
        let r = app.get_as(&other, "/api/v1/alerts/email").await;
        assert_eq!(r.body["recipients"], json!([]), "{}", app.engine());
        let (_, reader) = app.tenant_key("reader", &[Scope::Read]).await;
        let r = app.get_as(&reader, "/api/v1/alerts/email").await;
        assert_eq!(r.status, 403);
        let cleared = recipients(&app, &[]).await;
        assert_eq!(cleared["recipients"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_login_is_sent_before_the_message() {
    let smtp = FakeSmtp::start(0).await;
    let settings = |s: &mut Settings| {
        mail_to(smtp.port)(s);
        if let Some(m) = s.notifications.smtp.as_mut() {
            m.username = Some("mailer".into());
            m.password = Some("s3cret".into());
        }
    };
    for app in TestApp::all_with(settings).await {
        let before = smtp.logins().len();
        recipients(&app, &["ops@example.com"]).await;
        top_up(&app, "dan", "5.3").await;
        spend(&app, "dan", 0.5).await;
        delivered(&app, 1).await;
        assert_eq!(smtp.logins()[before..], ["\0mailer\0s3cret".to_string()]);
    }
}
