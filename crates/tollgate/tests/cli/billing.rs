//! `tollgate billing …`, `tollgate authorize` and `tollgate tenants set-plan` against a real
//! server: credits are idempotent, settings take effect, authorization gates on the balance,
//! and the ledger audits clean until a balance is tampered with.

use serde_json::Value;

use super::{api_get, arg, Ran, Sandbox, Server};

/// `tollgate billing ARGS --json` against `server`, expecting `code`.
pub(super) fn billing(sb: &Sandbox, server: &Server, args: &[&str], code: i32) -> Value {
    let mut all = vec!["billing"];
    all.extend(args);
    all.push("--json");
    sb.client(server, &all).expect(code).json()
}

pub(super) fn topup(sb: &Sandbox, server: &Server, user: &str, amount: &str) -> Value {
    billing(
        sb,
        server,
        &["topup", "--user", user, "--amount", amount],
        0,
    )
}

fn balance_usd(sb: &Sandbox, server: &Server, user: &str) -> String {
    let b = billing(sb, server, &["balance", "--user", user], 0);
    b["balance_usd"].as_str().expect("a balance").to_string()
}

pub(super) fn authorize(sb: &Sandbox, server: &Server, args: &[&str]) -> Ran {
    let mut all = vec!["authorize"];
    all.extend(args);
    sb.client(server, &all)
}

fn audit(sb: &Sandbox) -> Ran {
    sb.run(&["billing", "audit", "--data-dir", arg(&sb.data())])
}

#[test]
fn a_top_up_repeated_with_its_idempotency_key_is_recorded_once_and_shows_in_the_balance() {
    let sb = Sandbox::new();
    let server = sb.start();
    let args = [
        "topup",
        "--user",
        "alice",
        "--amount",
        "10",
        "--payment-provider",
        "stripe",
        "--payment-id",
        "pi_1",
        "--idempotency-key",
        "payment-pi_1",
    ];
    let first = billing(&sb, &server, &args, 0);
    assert_eq!(first["replayed"], false);
    assert_eq!(first["transaction"]["balance_after"], "10.000000000");
    let again = billing(&sb, &server, &args, 0);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["transaction"]["id"], first["transaction"]["id"]);

    let history = billing(
        &sb,
        &server,
        &["history", "--user", "alice", "--type", "topup"],
        0,
    );
    let topups = history["transactions"].as_array().expect("transactions");
    assert_eq!(topups.len(), 1, "{history}");
    assert_eq!(topups[0]["payment_id"], "pi_1");
    assert_eq!(balance_usd(&sb, &server, "alice"), "10.000000000");
    let shown = sb
        .client(&server, &["billing", "balance", "--user", "alice"])
        .expect(0);
    assert!(shown.stdout.contains("10.00"), "{}", shown.stdout);

    // The same key with a different amount is someone else's request: refused, not posted.
    let mut other = vec!["billing"];
    other.extend(args);
    other[5] = "11";
    let refused = sb.client(&server, &other).expect(1);
    assert!(refused.stderr.contains("409"), "{}", refused.stderr);
    assert_eq!(balance_usd(&sb, &server, "alice"), "10.000000000");
}

#[test]
fn a_debit_adjustment_lowers_the_balance_and_a_refund_raises_it() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "bob", "10");
    let adjusted = billing(
        &sb,
        &server,
        &["adjust", "--user", "bob", "--amount", "2.5", "--debit"],
        0,
    );
    assert_eq!(adjusted["transaction"]["delta"], "-2.500000000");
    assert_eq!(balance_usd(&sb, &server, "bob"), "7.500000000");
    billing(
        &sb,
        &server,
        &["refund", "--user", "bob", "--amount", "1"],
        0,
    );
    assert_eq!(balance_usd(&sb, &server, "bob"), "8.500000000");
    let shown = sb
        .client(&server, &["billing", "history", "--user", "bob"])
        .expect(0);
    assert!(shown.stdout.contains("-2.50"), "{}", shown.stdout);
    assert!(shown.stdout.contains("3 entries"), "{}", shown.stdout);
}

#[test]
fn removing_the_daily_limit_lets_through_a_call_the_old_limit_refused() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "carol", "30");
    let refused = authorize(&sb, &server, &["--user", "carol", "--cost", "15"]).expect(1);
    assert!(
        refused.stdout.contains("DAILY_LIMIT_EXCEEDED"),
        "{}",
        refused.stdout
    );
    let account = billing(
        &sb,
        &server,
        &["settings", "--user", "carol", "--daily-limit", "none"],
        0,
    );
    assert_eq!(account["limits"]["daily"], Value::Null, "{account}");
    assert_eq!(account["limits"]["monthly"], "100.000000000");
    authorize(&sb, &server, &["--user", "carol", "--cost", "15"]).expect(0);
}

#[test]
fn authorize_holds_what_the_balance_covers_refuses_what_it_does_not_and_the_ledger_audits_clean() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "dave", "5");
    let held = authorize(
        &sb,
        &server,
        &["--user", "dave", "--cost", "2", "--hold", "--json"],
    )
    .expect(0)
    .json();
    let hold_id = held["hold_id"].as_str().expect("a hold id");
    assert_eq!(held["balance"]["available"], "3.000000000");
    let shown = authorize(&sb, &server, &["--user", "dave", "--cost", "1", "--hold"]).expect(0);
    assert!(shown.stdout.contains("hold "), "{}", shown.stdout);
    assert!(!shown.stdout.contains(hold_id), "a new hold each time");

    let refused = authorize(&sb, &server, &["--user", "dave", "--cost", "2.5"]).expect(1);
    assert!(
        refused.stdout.contains("INSUFFICIENT_BALANCE"),
        "{}",
        refused.stdout
    );
    let refused = authorize(&sb, &server, &["--user", "dave", "--cost", "2.5", "--json"])
        .expect(1)
        .json();
    assert_eq!(refused["code"], "INSUFFICIENT_BALANCE");
    assert_eq!(refused["balance"]["held"], "3.000000000");

    // The server keeps running: SQLite's WAL lets the audit read beside it.
    let clean = audit(&sb).expect(0);
    assert!(clean.stdout.contains('✓'), "{}", clean.stdout);
}

/// The `held` cell of the history row of type `kind`, and its `amount` cell.
#[test]
fn billing_audit_exits_1_and_names_the_account_whose_balance_differs_from_its_ledger() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "erin", "4");
    drop(server);
    let report = sb
        .run(&["billing", "audit", "--data-dir", arg(&sb.data()), "--json"])
        .expect(0)
        .json();
    assert_eq!(report["findings"], serde_json::json!([]));
    assert!(report["checked"].as_i64() >= Some(1), "{report}");

    let db = rusqlite::Connection::open(sb.data().join("tollgate.db")).expect("opens the db");
    let changed = db
        .execute(
            "UPDATE account_balances SET balance_nanos = balance_nanos + 1 WHERE user_id = 'erin'",
            [],
        )
        .expect("tampers");
    assert_eq!(changed, 1);
    drop(db);

    let found = audit(&sb).expect(1);
    assert!(found.stdout.contains("erin"), "{}", found.stdout);
    assert!(found.stdout.contains("4.000000001"), "{}", found.stdout);
}

#[test]
fn authorize_exits_2_when_it_cannot_reach_the_server() {
    let sb = Sandbox::new();
    let out = sb
        .run(&[
            "authorize",
            "--server",
            "http://127.0.0.1:9",
            "--api-key",
            "tg_x",
            "--cost",
            "1",
        ])
        .expect(2);
    assert!(out.stderr.contains("error"), "{}", out.stderr);
}

#[test]
fn set_plan_moves_a_tenant_to_growth_and_an_unknown_plan_is_refused() {
    let sb = Sandbox::new();
    let server = sb.start();
    let data = sb.data();
    sb.run(&[
        "tenants",
        "set-plan",
        "default",
        "growth",
        "--data-dir",
        arg(&data),
    ])
    .expect(0);
    let (status, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["plan"], "growth");
    assert_eq!(limits["limit"], 5000);

    let refused = sb
        .run(&[
            "tenants",
            "set-plan",
            "default",
            "platinum",
            "--data-dir",
            arg(&data),
        ])
        .expect(1);
    assert!(
        refused.stderr.contains("'platinum' is not a plan")
            && refused.stderr.contains("growth, pro, starter"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        api_get(&server, "/api/v1/billing/limits").1["plan"],
        "growth"
    );

    sb.run(&[
        "tenants",
        "set-plan",
        "default",
        "default",
        "--data-dir",
        arg(&data),
    ])
    .expect(0);
    let (_, limits) = api_get(&server, "/api/v1/billing/limits");
    assert_eq!(limits["plan"], "starter");
    assert_eq!(limits["limit"], 500);
}

#[test]
fn a_statement_is_printed_for_people_or_written_as_the_servers_json_csv_or_page() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "dora", "10");
    billing(
        &sb,
        &server,
        &["adjust", "--user", "dora", "--amount", "2.5", "--debit"],
        0,
    );
    let call = sb
        .client(
            &server,
            &[
                "usage",
                "log",
                "--provider",
                "openai",
                "--model",
                "gpt-4o",
                "--user",
                "dora",
                "--input-tokens",
                "100000",
                "--output-tokens",
                "0",
                "--json",
            ],
        )
        .expect(0)
        .json();
    assert_eq!(call["cost"], 0.25, "{call}");
    let month = tollgate_core::time::month_string(tollgate_core::time::month_of(
        tollgate_core::time::now_us(),
    ));
    let base = ["billing", "statement", "--user", "dora", "--month", &month];

    let mut json_args = base.to_vec();
    json_args.push("--json");
    let s = sb.client(&server, &json_args).expect(0).json();
    let usd = &s["currencies"][0];
    assert_eq!(usd["topups"]["amount"], "10.000000000", "{s}");
    assert_eq!(usd["adjustments"]["net"], "-2.500000000");
    assert_eq!(
        usd["charges"]["by_model"],
        serde_json::json!([{"provider": "openai", "model": "gpt-4o", "entries": 1,
                            "amount": "0.250000000"}])
    );
    assert_eq!(usd["closing_balance"], "7.250000000");
    assert_eq!(balance_usd(&sb, &server, "dora"), "7.250000000");

    let shown = sb.client(&server, &base).expect(0);
    assert!(shown.stdout.contains("closing balance"), "{}", shown.stdout);
    assert!(shown.stdout.contains("7.25"), "{}", shown.stdout);
    assert!(shown.stdout.contains("openai/gpt-4o"), "{}", shown.stdout);

    let file = sb.path("statement.csv");
    let mut csv_args = base.to_vec();
    csv_args.extend(["--format", "csv", "-o", arg(&file)]);
    sb.client(&server, &csv_args).expect(0);
    let text = std::fs::read_to_string(&file).expect("the CSV was written");
    assert!(text.starts_with("currency,line,"), "{text}");
    assert!(text.contains("closing_balance"), "{text}");

    let mut html_args = base.to_vec();
    html_args.extend(["--format", "html", "-o", "-"]);
    let page = sb.client(&server, &html_args).expect(0).stdout;
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("7.250000000"), "{page}");

    let mut future = base.to_vec();
    future[5] = "2999-01";
    let refused = sb.client(&server, &future).expect(1);
    assert!(refused.stderr.contains("month"), "{}", refused.stderr);
}

#[test]
fn billing_overrides_lets_an_overdraft_through_suspends_and_shows_the_audit_trail() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "ozzy", "1");
    authorize(&sb, &server, &["--user", "ozzy", "--cost", "3"]).expect(1);
    let set = billing(
        &sb,
        &server,
        &[
            "overrides",
            "--user",
            "ozzy",
            "--overdraft",
            "5",
            "--reason",
            "invoiced monthly",
        ],
        0,
    );
    assert_eq!(set["overrides"]["overdraft"]["USD"], "5.000000000", "{set}");
    authorize(&sb, &server, &["--user", "ozzy", "--cost", "3"]).expect(0);

    billing(
        &sb,
        &server,
        &["overrides", "--user", "ozzy", "--suspend"],
        0,
    );
    let refused = authorize(&sb, &server, &["--user", "ozzy", "--cost", "0.01"]).expect(1);
    assert!(
        refused.stdout.contains("ACCOUNT_DISABLED"),
        "{}",
        refused.stdout
    );

    let shown = sb
        .client(&server, &["billing", "overrides", "--user", "ozzy"])
        .expect(0);
    for needed in [
        "5.000000000 USD",
        "suspend",
        "overdraft",
        "invoiced monthly",
    ] {
        assert!(shown.stdout.contains(needed), "{needed}: {}", shown.stdout);
    }
}
