//! `tollgate costs daily|monthly|report`: the cost summaries as tables showing the server's
//! exact totals, and `--json` printing the API's body as it is.

use serde_json::Value;

use super::{api_get, Sandbox, Server};

/// A wire amount as the tables show it: exact, trailing zeros trimmed to two decimals.
fn shown(amount: &Value) -> String {
    let text = amount.as_str().expect("a decimal string");
    let (whole, fraction) = text.split_once('.').expect("decimals");
    format!("{whole}.{:0<2}", fraction.trim_end_matches('0'))
}

/// `tollgate costs ARGS` as a table and as JSON; asserts the JSON is the body of `path`,
/// and returns the table and that body.
fn both(sb: &Sandbox, server: &Server, args: &[&str], path: &str) -> (String, Value) {
    let mut all = vec!["costs"];
    all.extend(args);
    let table = sb.client(server, &all).expect(0).stdout;
    all.push("--json");
    let printed = sb.client(server, &all).expect(0).json();
    let (status, body) = api_get(server, path);
    assert_eq!(status, 200, "{body}");
    assert_eq!(printed, body, "--json prints the API's body");
    (table, body)
}

/// The cells of the table row whose first cell is `key`.
fn row(table: &str, key: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.trim_start_matches('│').split('┆').next().map(str::trim) == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in\n{table}"));
    line.trim_matches('│')
        .split('┆')
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn costs_daily_monthly_and_report_show_the_exact_totals_and_json_is_the_api_body() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);
    let out = sb
        .client(
            &server,
            &[
                "usage",
                "log",
                "--provider",
                "anthropic",
                "--model",
                "claude-3-5-haiku-20241022",
                "--input-tokens",
                "1200",
                "--output-tokens",
                "90",
                "--kb-id",
                "kb_docs",
            ],
        )
        .expect(0);
    assert!(out.stdout.contains("USD"), "{}", out.stdout);

    let (table, day) = both(&sb, &server, &["daily"], "/api/v1/costs/daily");
    let date = day["date"].as_str().expect("the day");
    assert!(table.contains(&format!("{date} (UTC)")), "{table}");
    let total = shown(&day["totals"]["cost"]["USD"]);
    assert_eq!(row(&table, "cost")[1], format!("{total} USD"), "{table}");
    assert_eq!(row(&table, "requests")[1], "4");
    let openai = row(&table, "openai");
    assert_eq!(openai[1], "3", "{table}");
    assert_eq!(
        openai[5],
        shown(&day["by_provider"]["openai"]["cost"]["USD"])
    );
    assert_eq!(
        row(&table, "claude-3-5-haiku-20241022")[5],
        shown(&day["by_model"]["claude-3-5-haiku-20241022"]["cost"]["USD"])
    );

    let (table, by_kb) = both(
        &sb,
        &server,
        &["daily", "--date", date, "--dimension", "kb_id"],
        &format!("/api/v1/costs/daily?date={date}&dimension=kb_id"),
    );
    assert_eq!(
        row(&table, "kb_docs")[5],
        shown(&by_kb["by_dimension"]["kb_docs"]["cost"]["USD"])
    );

    let month = &date[..7];
    let (year, number) = month.split_once('-').expect("YYYY-MM");
    let (table, monthly) = both(
        &sb,
        &server,
        &["monthly", "--month", month],
        &format!("/api/v1/costs/monthly?year={year}&month={number}"),
    );
    assert!(table.contains(&format!("{month} (UTC)")), "{table}");
    assert_eq!(monthly["totals"], day["totals"], "one day of calls");
    assert_eq!(row(&table, "cost")[1], format!("{total} USD"));
    assert_eq!(row(&table, date)[5], total, "the day's row");

    let (table, report) = both(
        &sb,
        &server,
        &["report", "--range", "all"],
        "/api/v1/billing/cost-report?range=all",
    );
    assert_eq!(report["totals"], day["totals"]);
    assert_eq!(row(&table, "cost")[1], format!("{total} USD"));
    assert_eq!(
        row(&table, "gpt-4o")[5],
        shown(&report["by_model"]["gpt-4o"]["cost"]["USD"])
    );
}

#[test]
fn a_bad_costs_date_or_month_is_refused_naming_its_flag() {
    let sb = Sandbox::new();
    let out = sb
        .run(&["costs", "daily", "--date", "2026-02-30", "--api-key", "k"])
        .expect(2);
    assert!(out.stderr.contains("--date"), "{}", out.stderr);
    assert!(out.stderr.contains("calendar date"), "{}", out.stderr);
    let out = sb
        .run(&["costs", "monthly", "--month", "2026-13", "--api-key", "k"])
        .expect(2);
    assert!(out.stderr.contains("--month"), "{}", out.stderr);
    let out = sb
        .run(&["costs", "daily", "--value", "kb_docs", "--api-key", "k"])
        .expect(2);
    assert!(out.stderr.contains("--dimension"), "{}", out.stderr);
}
