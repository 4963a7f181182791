//! Monthly statements: per currency, the opening balance, the month's top-ups, charges by
//! model and by tool, refunds and adjustments, and a closing balance that equals the ledger,
//! as JSON, CSV and a printable page, each adding up to the same figures.
//!
//! The month before this one is written straight into the ledger (no operation posts an entry
//! in the past), before anything else touches the account, so its balances chain on.
//!
//! Multi-threaded, as the server runs: see `billing.rs` for why a SQLite append needs it.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use tollgate_core::time::{month_of, month_start_us, month_string, next_month, now_us, DAY_US};
use tollgate_core::Nanos;
use tollgate_store::Scope;

use crate::support::{assert_error, TestApp};
use crate::tool_calls::tool;

/// A user id that is markup, and a description that is a script.
const HOSTILE_USER: &str = "<i>eve</i>&\"q\"";
const HOSTILE_NOTE: &str = "<script>alert('paid')</script>";

fn nanos(text: &str) -> Nanos {
    Nanos::parse_exact(text).unwrap_or_else(|_| panic!("'{text}' is an amount"))
}

fn the_month_before(month: i64) -> i64 {
    if month % 100 == 1 {
        (month / 100 - 1) * 100 + 12
    } else {
        month - 1
    }
}

/// Writes last month's ledger of `user` straight into the database: a $5 top-up and a $1
/// debit adjustment, leaving $4.
async fn seed_last_month(app: &TestApp, user: &str) {
    let last = the_month_before(month_of(now_us()));
    let (t1, t2) = (
        month_start_us(last) + DAY_US,
        month_start_us(last) + 2 * DAY_US,
    );
    let t = &app.tenant_id;
    let sql = format!(
        "INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
           limit_currency, total_requests, created_us, updated_us) \
           VALUES ('{t}', '{user}', 1, 1, 'USD', 0, {t1}, {t1}); \
         INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, held_nanos, \
           spent_nanos) VALUES ('{t}', '{user}', 'USD', 4000000000, 0, 0); \
         INSERT INTO ledger_entries (tenant_id, id, user_id, kind, amount_nanos, delta_nanos, \
           currency, balance_before_nanos, balance_after_nanos, description, flags, created_us) \
           VALUES ('{t}', 'txn_last_1', '{user}', 'topup', 5000000000, 5000000000, 'USD', 0, \
           5000000000, 'opening deposit', 0, {t1}); \
         INSERT INTO ledger_entries (tenant_id, id, user_id, kind, amount_nanos, delta_nanos, \
           currency, balance_before_nanos, balance_after_nanos, description, flags, created_us) \
           VALUES ('{t}', 'txn_last_2', '{user}', 'adjustment', 1000000000, -1000000000, 'USD', \
           5000000000, 4000000000, 'correction', 0, {t2})"
    );
    app.db
        .sql_store()
        .await
        .execute_script(&sql)
        .await
        .unwrap_or_else(|e| panic!("{}: seeding last month: {e}", app.engine()));
}

fn path(user: &str, month: i64, format: &str) -> String {
    format!(
        "/api/v1/billing/statement?user_id={}&month={}&format={format}",
        utf8_percent_encode(user, NON_ALPHANUMERIC),
        month_string(month)
    )
}

/// A GET with the app's key: status, content type and body text.
async fn fetch(app: &TestApp, path: &str) -> (u16, String, String) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("X-API-Key", &app.key)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, resp.text().await.expect("text"))
}

async fn post_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, &body).await;
    assert_eq!(r.status, 200, "{}: {path}: {}", app.engine(), r.body);
    r.body
}

/// This month of `user`: a top-up, two calls to gpt-4o, one to a Claude model, one tool
/// execution, a refund and a debit adjustment. Returns the log ids of the calls by model.
async fn this_month(app: &TestApp, user: &str) -> BTreeMap<String, Vec<String>> {
    post_ok(
        app,
        "/api/v1/billing/topup",
        json!({"amount": "10", "user_id": user, "description": HOSTILE_NOTE,
               "payment_provider": "stripe", "payment_id": "pi_1"}),
    )
    .await;
    let mut logs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (provider, model) in [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-6"),
    ] {
        let r = post_ok(
            app,
            "/api/v1/log",
            json!({"provider": provider, "model": model, "user_id": user,
                   "input_tokens": 120000, "output_tokens": 30000}),
        )
        .await;
        let id = r["log_id"].as_str().expect("log_id").to_string();
        logs.entry(model.to_string()).or_default().push(id);
    }
    let tool_id = tool(app, Some("0.02"), Some("0.001")).await;
    post_ok(
        app,
        &format!("/api/v1/mcp/tools/{tool_id}/execute"),
        json!({"tool_id": tool_id, "input": {"case": "C-1/24"}, "output": {"found": true},
               "error": null, "duration_ms": 80, "conversation_id": null, "user_id": user,
               "request_id": "exec-statement", "units": 3}),
    )
    .await;
    let refunded = logs["gpt-4o"][0].clone();
    post_ok(
        app,
        "/api/v1/billing/refund",
        json!({"amount": "0.5", "user_id": user, "log_id": refunded}),
    )
    .await;
    post_ok(
        app,
        "/api/v1/billing/adjustment",
        json!({"amount": "1.25", "user_id": user, "direction": "debit",
               "description": "chargeback at the card issuer"}),
    )
    .await;
    logs
}

/// Every ledger entry of `user` this month, newest first, from the history route.
async fn ledger(app: &TestApp, user: &str, month: i64) -> Vec<Value> {
    let start = format!("{}-01T00:00:00Z", month_string(month));
    let end = format!("{}-01T00:00:00Z", month_string(next_month(month)));
    let r = app
        .get(&format!(
            "/api/v1/billing/history?user_id={}&start={start}&end={end}&limit=500",
            utf8_percent_encode(user, NON_ALPHANUMERIC)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["transactions"].as_array().expect("entries").clone()
}

fn amount_of(v: &Value) -> Nanos {
    nanos(
        v.as_str()
            .unwrap_or_else(|| panic!("{v} is a decimal string")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_adds_up_to_the_ledger_by_model_and_tool_and_continues_last_month() {
    for app in TestApp::all().await {
        let user = HOSTILE_USER;
        seed_last_month(&app, user).await;
        let logs = this_month(&app, user).await;
        let month = month_of(now_us());
        let entries = ledger(&app, user, month).await;

        let r = app.get(&path(user, month, "json")).await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        let s = &r.body;
        assert_eq!(s["user_id"], user);
        assert_eq!(s["month"], month_string(month));
        assert_eq!(s["complete"], false, "this month is not over");
        let currencies = s["currencies"].as_array().expect("currencies");
        assert_eq!(currencies.len(), 1, "{s}");
        let usd = &currencies[0];
        assert_eq!(usd["currency"], "USD");
        assert_eq!(usd["opening_balance"], "4.000000000", "{}", app.engine());
        assert_eq!(
            usd["topups"],
            json!({"entries": 1, "amount": "10.000000000"})
        );
        assert_eq!(
            usd["refunds"],
            json!({"entries": 1, "amount": "0.500000000"})
        );
        assert_eq!(
            usd["adjustments"],
            json!({"credits": {"entries": 0, "amount": "0.000000000"},
                   "debits": {"entries": 1, "amount": "1.250000000"},
                   "net": "-1.250000000"})
        );

        // Each model's charges are the ledger's charges of that model's calls.
        let charged = |ids: &[String]| -> Nanos {
            entries
                .iter()
                .filter(|e| e["type"] == "charge")
                .filter(|e| ids.iter().any(|id| e["log_id"] == id.as_str()))
                .map(|e| amount_of(&e["amount"]))
                .fold(Nanos::ZERO, |a, b| Nanos(a.0 + b.0))
        };
        let by_model = usd["charges"]["by_model"].as_array().expect("by_model");
        assert_eq!(by_model.len(), 2, "{by_model:?}");
        for m in by_model {
            let model = m["model"].as_str().expect("model");
            let ids = &logs[model];
            assert_eq!(m["entries"], ids.len(), "{model}");
            assert_eq!(amount_of(&m["amount"]), charged(ids), "{model}");
            assert!(amount_of(&m["amount"]).0 > 0, "{model} was priced");
        }
        assert_eq!(
            usd["charges"]["by_tool"],
            json!([{"tool": "courts/lookup_decision", "entries": 1, "amount": "0.023000000"}])
        );
        assert_eq!(usd["charges"]["unattributed"]["entries"], 0);
        let all_charges = entries
            .iter()
            .filter(|e| e["type"] == "charge")
            .map(|e| amount_of(&e["amount"]).0)
            .sum::<i64>();
        assert_eq!(usd["charges"]["entries"], 4);
        assert_eq!(amount_of(&usd["charges"]["amount"]).0, all_charges);

        // Opening plus every movement is the closing balance, which is the balance after
        // the month's last ledger entry, and the account's balance now.
        let moved: i64 = entries.iter().map(|e| amount_of(&e["delta"]).0).sum();
        let closing = amount_of(&usd["closing_balance"]);
        assert_eq!(closing.0, nanos("4").0 + moved, "{}", app.engine());
        assert_eq!(amount_of(&usd["net_change"]).0, moved);
        assert_eq!(usd["closing_balance"], entries[0]["balance_after"]);
        let b = app
            .get(&format!(
                "/api/v1/billing/balance?user_id={}",
                utf8_percent_encode(user, NON_ALPHANUMERIC)
            ))
            .await;
        assert_eq!(usd["closing_balance"], b.body["balance_usd"]);

        // The credits one by one, oldest first, with what the poster said.
        let lines = usd["lines"].as_array().expect("lines");
        let kinds: Vec<&str> = lines
            .iter()
            .map(|l| l["type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["topup", "refund", "adjustment"]);
        assert_eq!(lines[0]["description"], HOSTILE_NOTE);
        assert_eq!(lines[0]["payment_id"], "pi_1");
        assert_eq!(lines[2]["delta"], "-1.250000000");

        // Last month closed at what this month opened with.
        let last = the_month_before(month);
        let r = app.get(&path(user, last, "json")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let before = &r.body["currencies"][0];
        assert_eq!(r.body["complete"], true);
        assert_eq!(before["opening_balance"], "0.000000000");
        assert_eq!(before["topups"]["amount"], "5.000000000");
        assert_eq!(before["adjustments"]["debits"]["amount"], "1.000000000");
        assert_eq!(before["charges"]["entries"], 0);
        assert_eq!(before["closing_balance"], usd["opening_balance"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_and_the_page_carry_the_same_figures_and_escape_what_users_wrote() {
    for app in TestApp::all().await {
        let user = HOSTILE_USER;
        seed_last_month(&app, user).await;
        this_month(&app, user).await;
        let month = month_of(now_us());
        let json = app.get(&path(user, month, "json")).await.body;
        let usd = &json["currencies"][0];

        let (status, kind, text) = fetch(&app, &path(user, month, "csv")).await;
        assert_eq!(status, 200, "{text}");
        assert!(kind.starts_with("text/csv"), "{kind}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_string)
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name).expect(name);
        let (line, amount, effect) = (col("line"), col("amount"), col("balance_effect"));
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
        let first = &rows[0];
        let last = &rows[rows.len() - 1];
        assert_eq!(&first[line], "opening_balance");
        assert_eq!(&last[line], "closing_balance");
        assert_eq!(
            first[amount],
            *usd["opening_balance"].as_str().expect("opening")
        );
        assert_eq!(
            last[amount],
            *usd["closing_balance"].as_str().expect("closing")
        );
        let moved: i64 = rows[1..rows.len() - 1]
            .iter()
            .map(|r| nanos(&r[effect]).0)
            .sum();
        assert_eq!(
            nanos(&first[amount]).0 + moved,
            nanos(&last[amount]).0,
            "{}: the rows add up: {text}",
            app.engine()
        );
        let lines: Vec<&str> = rows.iter().map(|r| &r[line]).collect();
        assert_eq!(
            lines,
            [
                "opening_balance",
                "topup",
                "refund",
                "adjustment",
                "charge",
                "charge",
                "tool_charge",
                "closing_balance"
            ]
        );

        let (status, kind, page) = fetch(&app, &path(user, month, "html")).await;
        assert_eq!(status, 200, "{page}");
        assert!(kind.starts_with("text/html"), "{kind}");
        for figure in [
            usd["opening_balance"].as_str().expect("opening"),
            usd["closing_balance"].as_str().expect("closing"),
            usd["charges"]["by_model"][0]["amount"]
                .as_str()
                .expect("a model"),
            "0.023000000",
            "courts/lookup_decision",
            "gpt-4o",
        ] {
            assert!(page.contains(figure), "{figure} is on the page");
        }
        assert!(
            page.contains("&lt;i&gt;eve&lt;/i&gt;&amp;&quot;q&quot;"),
            "{page}"
        );
        assert!(page.contains("&lt;script&gt;alert(&#39;paid&#39;)&lt;/script&gt;"));
        assert!(!page.contains("<i>eve"), "the user id is escaped");
        assert!(!page.contains("<script"), "the description is escaped");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing to load"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_account_another_tenants_and_a_bad_month_are_refused() {
    for app in TestApp::all().await {
        post_ok(
            &app,
            "/api/v1/billing/topup",
            json!({"amount": "1", "user_id": "dana"}),
        )
        .await;
        let month = month_of(now_us());
        let r = app.get(&path("dana", month, "json")).await;
        assert_eq!(r.status, 200, "{}", r.body);

        let (_, other) = app.tenant_key("acme", &[Scope::Read]).await;
        let r = app.get_as(&other, &path("dana", month, "json")).await;
        assert_error(&r, 404, "NOT_FOUND");
        let r = app.get(&path("nobody", month, "json")).await;
        assert_error(&r, 404, "NOT_FOUND");

        let future = month_string(next_month(month));
        for bad in ["2026-13", "2026-1", "november", "1969-12", future.as_str()] {
            let r = app
                .get(&format!(
                    "/api/v1/billing/statement?user_id=dana&month={bad}"
                ))
                .await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], "month", "{bad}: {}", r.body);
        }
        let r = app
            .get("/api/v1/billing/statement?user_id=dana&format=pdf")
            .await;
        assert_eq!(r.body["error"]["field"], "format", "{}", r.body);
        let r = app
            .get("/api/v1/billing/statement?user_id=dana&currency=dollars")
            .await;
        assert_eq!(r.body["error"]["field"], "currency", "{}", r.body);

        // Only the currency asked for; one the account does not hold is all zeros.
        let r = app
            .get("/api/v1/billing/statement?user_id=dana&currency=uah")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let uah = &r.body["currencies"];
        assert_eq!(uah.as_array().map(Vec::len), Some(1), "{uah}");
        assert_eq!(uah[0]["currency"], "UAH");
        assert_eq!(uah[0]["closing_balance"], "0.000000000");
    }
}
