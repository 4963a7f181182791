//! Cost summaries: served from the rollups, they must agree with the raw events.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tollgate_core::Nanos;
use tollgate_store::Scope;

use crate::support::{assert_error, TestApp};

/// A price file with one model priced in euros, so that a summary holds two currencies.
pub fn euro_prices() -> std::path::PathBuf {
    let dir = tempfile::tempdir().expect("dir").keep();
    let file = dir.join("prices.toml");
    std::fs::write(
        &file,
        "[[prices]]\nprovider = \"mistral\"\nmodel = \"euro-large\"\neffective_from = \"2020-01-01\"\n\
         input = \"2\"\noutput = \"6\"\ncurrency = \"EUR\"\n",
    )
    .expect("write");
    file
}

/// Events over several days of March 2026 (and one in April), three providers, priced,
/// euro-priced, unpriced, client-priced and cached responses.
pub fn varied_events() -> Vec<Value> {
    let mut events = Vec::new();
    let days = [
        "2026-03-01",
        "2026-03-02",
        "2026-03-15",
        "2026-03-31",
        "2026-04-01",
    ];
    for (d, day) in days.iter().enumerate() {
        for i in 0..6i64 {
            let ts = format!("{day}T{:02}:{:02}:00Z", 1 + i * 3, 7 * i + d as i64);
            let base = json!({"timestamp": ts, "input_tokens": 1000 + 37 * i + d as i64, "output_tokens": 200 + 11 * i,
                              "user_id": format!("u{}", i % 3), "alias": if i % 2 == 0 { "chat" } else { "extract" }});
            let mut e = base.clone();
            let (provider, model) = match i {
                0 => ("openai", "gpt-4o"),
                1 => ("openai", "gpt-4o-mini"),
                2 => ("anthropic", "claude-3-5-sonnet-20241022"),
                3 => ("mistral", "euro-large"),
                4 => ("acme", "mystery-model"),
                _ => ("openai", "gpt-4o"),
            };
            e["provider"] = json!(provider);
            e["model"] = json!(model);
            if i == 4 && d % 2 == 1 {
                e["cost"] = json!(0.0123);
            }
            if i == 5 {
                e["cached_response"] = json!(true);
            }
            events.push(e);
        }
    }
    events
}

/// Sums of the raw events, from `/api/v1/logs`.
#[derive(Default, Debug, PartialEq)]
struct Sums {
    requests: i64,
    cached: i64,
    unpriced: i64,
    cost: BTreeMap<String, i64>,
    by_provider: BTreeMap<String, (i64, BTreeMap<String, i64>)>,
    by_model: BTreeMap<String, (i64, BTreeMap<String, i64>)>,
}

async fn raw_sums(app: &TestApp, start: &str, end: &str) -> Sums {
    let logs = app
        .get(&format!(
            "/api/v1/logs?start_date={start}&end_date={end}&limit=500"
        ))
        .await;
    assert_eq!(logs.status, 200, "{}", logs.body);
    let mut s = Sums::default();
    for l in logs.body.as_array().expect("logs") {
        let currency = l["currency"].as_str().expect("currency").to_string();
        let cost = Nanos::parse_exact(l["cost_exact"].as_str().expect("cost"))
            .expect("exact")
            .0;
        let flags: Vec<&str> = l["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        s.requests += 1;
        s.cached += i64::from(flags.contains(&"cached_response"));
        s.unpriced += i64::from(flags.contains(&"unpriced"));
        *s.cost.entry(currency.clone()).or_default() += cost;
        for (map, key) in [(&mut s.by_provider, "provider"), (&mut s.by_model, "model")] {
            let g = map
                .entry(l[key].as_str().expect("key").to_string())
                .or_default();
            g.0 += 1;
            *g.1.entry(currency.clone()).or_default() += cost;
        }
    }
    s
}

fn costs(v: &Value) -> BTreeMap<String, i64> {
    v.as_object()
        .expect("cost per currency")
        .iter()
        .map(|(c, n)| {
            (
                c.clone(),
                Nanos::parse_exact(n.as_str().expect("decimal string"))
                    .expect("exact")
                    .0,
            )
        })
        .collect()
}

fn summary_sums(body: &Value) -> Sums {
    let groups = |v: &Value| {
        v.as_object()
            .expect("groups")
            .iter()
            .map(|(k, g)| {
                (
                    k.clone(),
                    (g["requests"].as_i64().expect("requests"), costs(&g["cost"])),
                )
            })
            .collect()
    };
    let t = &body["totals"];
    Sums {
        requests: t["requests"].as_i64().expect("requests"),
        cached: t["cached_responses"].as_i64().expect("cached"),
        unpriced: t["unpriced_requests"].as_i64().expect("unpriced"),
        cost: costs(&t["cost"]),
        by_provider: groups(&body["by_provider"]),
        by_model: groups(&body["by_model"]),
    }
}

async fn seed(app: &TestApp) {
    let r = app
        .post("/api/v1/log/batch", &json!({"events": varied_events()}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_daily_summary_equals_the_sum_of_that_days_events_per_currency() {
    let prices = euro_prices();
    for app in TestApp::all_with(|s| s.pricing.file = Some(prices.clone())).await {
        seed(&app).await;
        for day in [
            "2026-03-01",
            "2026-03-02",
            "2026-03-15",
            "2026-04-01",
            "2026-05-05",
        ] {
            let r = app.get(&format!("/api/v1/costs/daily?date={day}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.body["date"], day);
            let raw = raw_sums(&app, day, day).await;
            assert_eq!(summary_sums(&r.body), raw, "{day} on {}", app.engine());
        }
        let one = app.get("/api/v1/costs/daily?date=2026-03-02").await;
        let t = &one.body["totals"];
        assert_eq!(t["requests"], 6);
        assert_eq!(t["cached_responses"], 1, "a cached response is a request");
        assert_eq!(
            t["unpriced_requests"], 0,
            "the client priced the unknown model"
        );
        assert!(
            t["cost"]["EUR"].is_string() && t["cost"]["USD"].is_string(),
            "{t}"
        );
        let first = app.get("/api/v1/costs/daily?date=2026-03-01").await;
        assert_eq!(first.body["totals"]["unpriced_requests"], 1);
    }
}

#[tokio::test]
async fn a_monthly_summary_equals_the_sum_of_the_months_events_and_of_its_days() {
    let prices = euro_prices();
    for app in TestApp::all_with(|s| s.pricing.file = Some(prices.clone())).await {
        seed(&app).await;
        let r = app.get("/api/v1/costs/monthly?year=2026&month=3").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["month"], "2026-03");
        let raw = raw_sums(&app, "2026-03-01", "2026-03-31").await;
        assert_eq!(raw.requests, 24, "April's events stay out");
        assert_eq!(summary_sums(&r.body), raw, "{}", app.engine());
        let days = r.body["by_day"].as_array().expect("by_day");
        let dates: Vec<&str> = days.iter().filter_map(|d| d["date"].as_str()).collect();
        assert_eq!(
            dates,
            ["2026-03-01", "2026-03-02", "2026-03-15", "2026-03-31"]
        );
        let mut day_cost: BTreeMap<String, i64> = BTreeMap::new();
        for d in days {
            let daily = app
                .get(&format!(
                    "/api/v1/costs/daily?date={}",
                    d["date"].as_str().expect("date")
                ))
                .await;
            assert_eq!(
                daily.body["totals"]["cost"], d["cost"],
                "a day of the month is that day's summary"
            );
            assert_eq!(daily.body["totals"]["requests"], d["requests"]);
            for (c, n) in costs(&d["cost"]) {
                *day_cost.entry(c).or_default() += n;
            }
        }
        assert_eq!(day_cost, raw.cost, "the days add up to the month");
        let april = app.get("/api/v1/costs/monthly?year=2026&month=04").await;
        assert_eq!(april.body["totals"]["requests"], 6);
    }
}

#[tokio::test]
async fn summaries_default_to_today_and_this_month_and_see_only_the_callers_tenant() {
    for app in TestApp::all().await {
        let now = chrono_like_today();
        let r = app
            .post("/api/v1/log", &crate::support::usage("gpt-4o", 1000, 500))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let day = app.get("/api/v1/costs/daily").await;
        assert_eq!(day.body["date"], now.0);
        assert_eq!(day.body["totals"]["requests"], 1);
        assert_eq!(day.body["totals"]["cost"], json!({"USD": "0.007500000"}));
        let month = app.get("/api/v1/costs/monthly").await;
        assert_eq!(month.body["month"], now.1);
        assert_eq!(month.body["totals"]["requests"], 1);

        let (_, other) = app.tenant_key("other", &[Scope::Read]).await;
        let theirs = app.get_as(&other, "/api/v1/costs/daily").await;
        assert_eq!(theirs.status, 200);
        assert_eq!(theirs.body["totals"]["requests"], 0);
        assert_eq!(theirs.body["totals"]["cost"], json!({}));
        let (_, ingest_only) = app.tenant_key("writer", &[Scope::Ingest]).await;
        assert_error(
            &app.get_as(&ingest_only, "/api/v1/costs/monthly").await,
            403,
            "FORBIDDEN",
        );
    }
}

/// Today's date and month (UTC) as the server names them.
fn chrono_like_today() -> (String, String) {
    let us = tollgate_core::time::now_us();
    let day = tollgate_core::time::day_string(tollgate_core::time::day_of(us));
    let month = tollgate_core::time::month_string(tollgate_core::time::month_of(us));
    (day, month)
}

#[tokio::test]
async fn bad_dates_and_months_are_400_naming_the_field() {
    for app in TestApp::all().await {
        for (path, field) in [
            ("/api/v1/costs/daily?date=2026-02-30", "date"),
            ("/api/v1/costs/daily?date=yesterday", "date"),
            ("/api/v1/costs/daily?date=2026-03-01T00:00:00Z", "date"),
            ("/api/v1/costs/monthly?year=2026&month=13", "month"),
            ("/api/v1/costs/monthly?year=2026&month=0", "month"),
            ("/api/v1/costs/monthly?year=20x6&month=1", "year"),
            ("/api/v1/costs/monthly?year=2026", "month"),
        ] {
            let r = app.get(path).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{path}: {}", r.body);
        }
        let r = app.get("/api/v1/costs/daily?day=2026-03-01").await;
        assert_error(&r, 400, "INVALID_QUERY");
    }
}
