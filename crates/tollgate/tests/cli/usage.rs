//! `tollgate usage stats | logs`: the client reads the server's answers as their API types,
//! for scripts (`--json`) and for people (tables).

use super::Sandbox;

#[test]
fn usage_stats_and_logs_read_back_what_was_logged_as_json_and_as_tables() {
    let sb = Sandbox::new();
    let server = sb.start();
    let ids = sb.log_usage(&server, 3);

    let stats = sb
        .client(
            &server,
            &["usage", "stats", "--group-by", "model", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(stats["summary"]["total_requests"], 3, "{stats}");
    assert_eq!(stats["group_by"], "model");
    assert_eq!(stats["groups"][0]["key"], "gpt-4o");
    assert_eq!(stats["groups"][0]["requests"], 3);
    assert_eq!(
        stats["by_day"][0]["requests"], 3,
        "the day row holds its totals"
    );
    assert_eq!(stats["by_day"][0]["top_model"], "gpt-4o");

    let table = sb
        .client(&server, &["usage", "stats", "--group-by", "model"])
        .expect(0)
        .stdout;
    assert!(table.starts_with("3 requests, "), "{table}");
    assert!(table.contains("gpt-4o"), "{table}");

    let logs = sb
        .client(&server, &["usage", "logs", "--limit", "2", "--json"])
        .expect(0)
        .json();
    assert_eq!(logs["count"], 2, "{logs}");
    assert_eq!(logs["limit"], 2);
    assert_eq!(logs["logs"][0]["id"], ids[2].as_str(), "newest first");
    assert_eq!(logs["logs"][0]["source"], "usage");
    assert_eq!(
        logs["start_date"],
        serde_json::Value::Null,
        "no range applied"
    );

    let table = sb
        .client(&server, &["usage", "logs", "--limit", "1"])
        .expect(0)
        .stdout;
    assert!(
        table.contains("gpt-4o") && table.contains("openai"),
        "{table}"
    );
}

#[test]
fn without_a_server_the_cli_names_the_address_it_tried_and_how_to_start_one() {
    let sb = Sandbox::new();
    let out = sb
        .run(&[
            "usage",
            "stats",
            "--server",
            "http://127.0.0.1:9",
            "--api-key",
            "tg_any",
        ])
        .expect(1);
    for needed in [
        "could not reach the Tollgate server at http://127.0.0.1:9",
        "Connection refused",
        "tollgate serve",
        "TOLLGATE_URL",
    ] {
        assert!(out.stderr.contains(needed), "{needed}: {}", out.stderr);
    }
    assert_eq!(
        out.stderr.matches("Connection refused").count(),
        1,
        "the cause is said once: {}",
        out.stderr
    );
}

#[test]
fn without_a_key_the_cli_names_the_flag_and_the_variable() {
    let sb = Sandbox::new();
    let out = sb.run(&["usage", "stats"]).expect(1);
    for needed in ["--api-key", "TOLLGATE_API_KEY"] {
        assert!(out.stderr.contains(needed), "{needed}: {}", out.stderr);
    }
}
