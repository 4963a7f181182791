//! Holds from the command line: `authorize --hold -q` gives a script the hold id that
//! `usage log --hold-id` settles, and `billing history` shows what a hold reserves and its
//! release gives back.

use super::billing::{authorize, billing, topup};
use super::{api_post, Sandbox};

fn history_cells(table: &str, kind: &str) -> (String, String) {
    let row = table
        .lines()
        .find(|l| l.split('┆').nth(1).is_some_and(|c| c.trim() == kind))
        .unwrap_or_else(|| panic!("no {kind} row in\n{table}"));
    let cells: Vec<&str> = row.split('┆').map(str::trim).collect();
    (cells[3].to_string(), cells[2].to_string())
}

#[test]
fn billing_history_shows_what_a_hold_reserves_and_its_release_gives_back_instead_of_zero() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "erin", "5");
    let held = authorize(
        &sb,
        &server,
        &["--user", "erin", "--cost", "0.25", "--hold", "--json"],
    )
    .expect(0)
    .json();
    let hold_id = held["hold_id"].as_str().expect("a hold id");

    let shown = sb
        .client(&server, &["billing", "history", "--user", "erin"])
        .expect(0)
        .stdout;
    assert!(!shown.contains("+0.00"), "{shown}");
    assert!(
        shown.contains("│ time") && shown.contains("┆ held"),
        "{shown}"
    );
    assert_eq!(
        history_cells(&shown, "hold"),
        ("+0.25".to_string(), String::new()),
        "held, not charged:\n{shown}"
    );
    assert_eq!(history_cells(&shown, "topup").1, "+5.00");

    let (status, _) = api_post(
        &server,
        &format!("/api/v1/authorize/{hold_id}/release"),
        &serde_json::json!({}),
    );
    assert_eq!(status, 200);
    let shown = sb
        .client(&server, &["billing", "history", "--user", "erin"])
        .expect(0)
        .stdout;
    assert!(!shown.contains("+0.00"), "{shown}");
    assert_eq!(
        history_cells(&shown, "release"),
        ("-0.25".to_string(), String::new()),
        "given back:\n{shown}"
    );
}

#[test]
fn a_quiet_authorize_prints_only_the_hold_id_that_a_quiet_log_settles() {
    let sb = Sandbox::new();
    let server = sb.start();
    topup(&sb, &server, "fay", "1");
    let hold = authorize(
        &sb,
        &server,
        &["--user", "fay", "--cost", "0.4", "--hold", "-q"],
    )
    .expect(0);
    let hold_id = hold.stdout.trim();
    assert!(
        hold_id.starts_with("hold_") && !hold_id.contains(' '),
        "{}",
        hold.stdout
    );

    // Without a hold there is nothing to print; a refusal explains itself on stderr only.
    let plain = authorize(&sb, &server, &["--user", "fay", "--cost", "0.1", "-q"]).expect(0);
    assert_eq!(plain.stdout, "");
    let refused = authorize(&sb, &server, &["--user", "fay", "--cost", "5", "-q"]).expect(1);
    assert_eq!(refused.stdout, "");
    assert!(
        refused.stderr.contains("INSUFFICIENT_BALANCE"),
        "{}",
        refused.stderr
    );

    sb.client(
        &server,
        &[
            "usage",
            "log",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "100",
            "--user",
            "fay",
            "--hold-id",
            hold_id,
        ],
    )
    .expect(0);
    let account = billing(&sb, &server, &["balance", "--user", "fay"], 0);
    assert_eq!(account["balance_usd"], "0.996500000", "{account}");
    assert_eq!(
        account["balances"]["USD"]["held"], "0.000000000",
        "the hold was settled: {account}"
    );
}
