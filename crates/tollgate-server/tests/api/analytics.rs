//! Analytics over HTTP on both engines: requests and cost by model, user and tool (per
//! month), the top users and models, peak hours and cohorts, against figures worked out by
//! hand from seeded calls.
//!
//! Every call is 100,000 input tokens: $0.25 on gpt-4o ($2.50 per million) and $0.30 on
//! claude-sonnet-4-6 ($3.00 per million). In 2026 (UTC):
//!
//! | call | user | time          | model  | cost |
//! |------|------|---------------|--------|------|
//! | 1    | -    | Jan 10 10:00  | gpt-4o | 0.25 |
//! | 2    | u1   | Jan 10 10:15  | gpt-4o | 0.25 |
//! | 3    | u1   | Feb 02 10:40  | gpt-4o | 0.25 |
//! | 4    | u2   | Feb 14 10:05  | claude | 0.30 |
//! | 5    | u1   | Mar 05 22:00  | claude | 0.30 |
//! | 6    | u2   | Mar 01 10:30  | gpt-4o | 0.25 |
//! | 7    | u3   | Mar 20 03:00  | gpt-4o | 0.25 |
//!
//! Multi-threaded, as the server runs: see `billing.rs` for why a SQLite append needs it.

use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::support::{assert_error, TestApp};
use crate::tool_calls::tool;

const PERIOD: &str = "start=2026-01-01&end=2026-03-31";
const CLAUDE: &str = "claude-sonnet-4-6";

async fn seed(app: &TestApp) {
    for (user, time, model) in [
        (None, "2026-01-10T10:00:00Z", "gpt-4o"),
        (Some("u1"), "2026-01-10T10:15:00Z", "gpt-4o"),
        (Some("u1"), "2026-02-02T10:40:00Z", "gpt-4o"),
        (Some("u2"), "2026-02-14T10:05:00Z", CLAUDE),
        (Some("u1"), "2026-03-05T22:00:00Z", CLAUDE),
        (Some("u2"), "2026-03-01T10:30:00Z", "gpt-4o"),
        (Some("u3"), "2026-03-20T03:00:00Z", "gpt-4o"),
    ] {
        let provider = if model == CLAUDE {
            "anthropic"
        } else {
            "openai"
        };
        let mut body = json!({"provider": provider, "model": model, "timestamp": time,
                              "input_tokens": 100000, "output_tokens": 0});
        if let Some(u) = user {
            body["user_id"] = json!(u);
        }
        let r = app.post("/api/v1/log", &body).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    }
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    assert_eq!(r.status, 200, "{}: {path}: {}", app.engine(), r.body);
    r.body
}

fn row(bucket: Option<&str>, key: &str, requests: i64, usd: &str) -> Value {
    json!({"bucket": bucket, "key": key, "requests": requests, "cost": {"USD": usd}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_by_model_and_by_user_per_month_and_the_top_users_and_models_match_the_calls() {
    for app in TestApp::all().await {
        seed(&app).await;
        let r = get_ok(
            &app,
            &format!("/api/v1/analytics/usage?group_by=model&{PERIOD}"),
        )
        .await;
        assert_eq!(r["group_by"], "model");
        assert_eq!(r["bucket"], "none");
        assert_eq!(
            r["rows"],
            json!([
                row(None, CLAUDE, 2, "0.600000000"),
                row(None, "gpt-4o", 5, "1.250000000")
            ]),
            "{}",
            app.engine()
        );

        let r = get_ok(
            &app,
            &format!("/api/v1/analytics/usage?group_by=user&bucket=month&{PERIOD}"),
        )
        .await;
        assert_eq!(
            r["rows"],
            json!([
                row(Some("2026-01"), "u1", 1, "0.250000000"),
                row(Some("2026-02"), "u1", 1, "0.250000000"),
                row(Some("2026-02"), "u2", 1, "0.300000000"),
                row(Some("2026-03"), "u1", 1, "0.300000000"),
                row(Some("2026-03"), "u2", 1, "0.250000000"),
                row(Some("2026-03"), "u3", 1, "0.250000000"),
            ]),
            "{}",
            app.engine()
        );
        let r = get_ok(
            &app,
            "/api/v1/analytics/usage?group_by=user&bucket=day&start=2026-02-01&end=2026-02-28",
        )
        .await;
        assert_eq!(
            r["rows"],
            json!([
                row(Some("2026-02-02"), "u1", 1, "0.250000000"),
                row(Some("2026-02-14"), "u2", 1, "0.300000000"),
            ])
        );

        let r = get_ok(
            &app,
            &format!("/api/v1/analytics/top?by=user&limit=2&{PERIOD}"),
        )
        .await;
        assert_eq!(r["currency"], "USD");
        assert_eq!(
            r["entries"],
            json!([
                {"rank": 1, "key": "u1", "requests": 3, "cost": "0.800000000"},
                {"rank": 2, "key": "u2", "requests": 2, "cost": "0.550000000"},
            ])
        );
        let r = get_ok(&app, &format!("/api/v1/analytics/top?by=model&{PERIOD}")).await;
        assert_eq!(
            r["entries"],
            json!([
                {"rank": 1, "key": "gpt-4o", "requests": 5, "cost": "1.250000000"},
                {"rank": 2, "key": CLAUDE, "requests": 2, "cost": "0.600000000"},
            ])
        );

        // Another tenant sees none of it.
        let (_, other) = app.tenant_key("acme", &[Scope::Read]).await;
        let r = app
            .get_as(&other, &format!("/api/v1/analytics/top?by=user&{PERIOD}"))
            .await;
        assert_eq!(r.body["entries"], json!([]), "{}", r.body);

        for (bad, field) in [
            ("usage?group_by=provider", "group_by"),
            ("usage?bucket=week", "bucket"),
            ("top?by=tool", "group_by"),
            ("top?limit=0", "limit"),
            ("top?currency=dollars", "currency"),
            ("peak-hours?start=yesterday", "start"),
            ("cohorts?start=2026-03-01&end=2026-01-01", "start"),
        ] {
            let r = app.get(&format!("/api/v1/analytics/{bad}")).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{bad}: {}", r.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_hours_count_every_call_by_its_utc_hour_and_cohorts_follow_users_from_their_first_month(
) {
    for app in TestApp::all().await {
        seed(&app).await;
        let r = get_ok(&app, &format!("/api/v1/analytics/peak-hours?{PERIOD}")).await;
        assert_eq!(r["peak_hour"], 10, "{}: {r}", app.engine());
        let hours = r["hours"].as_array().expect("hours");
        assert_eq!(hours.len(), 24);
        assert_eq!(
            hours[10],
            json!({"hour": 10, "requests": 5, "cost": {"USD": "1.300000000"}})
        );
        assert_eq!(
            hours[22],
            json!({"hour": 22, "requests": 1, "cost": {"USD": "0.300000000"}})
        );
        assert_eq!(
            hours[3],
            json!({"hour": 3, "requests": 1, "cost": {"USD": "0.250000000"}})
        );
        assert_eq!(hours[0], json!({"hour": 0, "requests": 0, "cost": {}}));
        let all: i64 = hours
            .iter()
            .map(|h| h["requests"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(all, 7);

        let r = get_ok(&app, &format!("/api/v1/analytics/cohorts?{PERIOD}")).await;
        let month = |m: &str, active: i64, usd: &str| {
            json!({"month": m, "active_users": active, "requests": active,
                   "cost": {"USD": usd}})
        };
        assert_eq!(
            r["cohorts"],
            json!([
                {"cohort": "2026-01", "users": 1, "months": [
                    month("2026-01", 1, "0.250000000"),
                    month("2026-02", 1, "0.250000000"),
                    month("2026-03", 1, "0.300000000"),
                ]},
                {"cohort": "2026-02", "users": 1, "months": [
                    month("2026-02", 1, "0.300000000"),
                    month("2026-03", 1, "0.250000000"),
                ]},
                {"cohort": "2026-03", "users": 1, "months": [
                    month("2026-03", 1, "0.250000000"),
                ]},
            ]),
            "{}",
            app.engine()
        );
        // A cohort is by the first call ever: from February on, u1 is January's, not new.
        let r = get_ok(
            &app,
            "/api/v1/analytics/cohorts?start=2026-02-01&end=2026-03-31",
        )
        .await;
        let names: Vec<&Value> = r["cohorts"]
            .as_array()
            .expect("cohorts")
            .iter()
            .map(|c| &c["cohort"])
            .collect();
        assert_eq!(names, [&json!("2026-02"), &json!("2026-03")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_executions_are_counted_by_tool_and_never_as_a_model() {
    for app in TestApp::all().await {
        let tool_id = tool(&app, Some("0.02"), Some("0.001")).await;
        for i in 0..2 {
            let r = app
                .post(
                    &format!("/api/v1/mcp/tools/{tool_id}/execute"),
                    &json!({"tool_id": tool_id, "input": {}, "output": {"ok": true},
                            "error": null, "duration_ms": 5, "conversation_id": null,
                            "user_id": "u1", "request_id": format!("exec-{i}"), "units": 3}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o", "user_id": "u1",
                        "input_tokens": 100000, "output_tokens": 0}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let r = get_ok(&app, "/api/v1/analytics/usage").await;
        assert_eq!(r["group_by"], "tool");
        assert_eq!(
            r["rows"],
            json!([row(None, "courts/lookup_decision", 2, "0.046000000")]),
            "{}",
            app.engine()
        );
        let r = get_ok(&app, "/api/v1/analytics/usage?group_by=model").await;
        assert_eq!(r["rows"], json!([row(None, "gpt-4o", 1, "0.250000000")]));
        let r = get_ok(&app, "/api/v1/analytics/usage?group_by=user").await;
        assert_eq!(r["rows"], json!([row(None, "u1", 3, "0.296000000")]));
    }
}
