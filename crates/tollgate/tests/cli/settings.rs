//! `tollgate settings reference` and `docs/settings.md`; what `tollgate serve` logs about its
//! settings at start; amounts written as numbers.

use crate::{Sandbox, KEY};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/settings.md");
const FIX: &str = "cargo run -p tollgate -- settings reference -o docs/settings.md";

#[test]
fn docs_settings_md_is_the_reference_the_code_generates() {
    let sandbox = Sandbox::new();
    let printed = sandbox.run(&["settings", "reference"]).expect(0).stdout;
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == printed,
        "docs/settings.md differs from the settings in the code; regenerate it and commit it: `{FIX}`"
    );
}

#[test]
fn the_reference_is_written_to_a_file_or_with_a_dash_to_standard_output() {
    let sandbox = Sandbox::new();
    let printed = sandbox.run(&["settings", "reference"]).expect(0).stdout;
    assert!(
        printed.contains("| `webhooks.balance_low` | `TOLLGATE_WEBHOOKS__BALANCE_LOW` |"),
        "{printed}"
    );
    let file = sandbox.path("settings.md");
    let wrote = sandbox
        .run(&["settings", "reference", "-o", file.to_str().expect("utf-8")])
        .expect(0);
    assert!(wrote.stdout.is_empty(), "{}", wrote.stdout);
    assert_eq!(std::fs::read_to_string(&file).expect("written"), printed);
    let dashed = sandbox.run(&["settings", "reference", "-o", "-"]).expect(0);
    assert_eq!(dashed.stdout, printed);
}

#[test]
fn start_up_logs_a_few_plain_lines_naming_the_version_address_engine_and_changed_settings() {
    let sandbox = Sandbox::new();
    let started = sandbox.serve_once(
        &[],
        &[
            ("RUST_LOG", "info"),
            ("TOLLGATE_WEBHOOKS__BALANCE_LOW", "5"),
            ("TOLLGATE_BILLING__ACCOUNT__DAILY_LIMIT", "2.50"),
        ],
    );
    let log = started.log;
    assert!(started.listening, "{log}");
    assert!(
        !log.contains("\x1b["),
        "colour codes in a redirected log:\n{log}"
    );
    let data = sandbox.data();
    for needed in [
        format!("Tollgate {} starting", env!("CARGO_PKG_VERSION")),
        format!("database: SQLite at {}", data.join("tollgate.db").display()),
        format!("data directory: {}", data.display()),
        "setting listen = \"127.0.0.1:0\"".to_string(),
        "setting webhooks.balance_low = \"5\"".to_string(),
        "setting billing.account.daily_limit = \"2.5\"".to_string(),
        "setting bootstrap_api_key = \"***\"".to_string(),
        "signing key ".to_string(),
        "listening on http://127.0.0.1:".to_string(),
    ] {
        assert!(log.contains(&needed), "{needed}:\n{log}");
    }
    assert!(!log.contains(KEY), "the bootstrap key was logged:\n{log}");
    for dump in ["Settings {", "IngestSettings", "max_commit_events"] {
        assert!(
            !log.contains(dump),
            "the whole settings were logged:\n{log}"
        );
    }
    assert!(
        !log.contains("setting ingest.") && !log.contains("setting http."),
        "a setting left at its default was logged:\n{log}"
    );
}

#[test]
fn an_amount_written_as_a_number_in_the_environment_starts_the_server() {
    let sandbox = Sandbox::new();
    for value in ["5", "5.00", "\"5\""] {
        let started = sandbox.serve_once(&[], &[("TOLLGATE_WEBHOOKS__BALANCE_LOW", value)]);
        assert!(started.listening, "{value}:\n{}", started.log);
    }
}

#[test]
fn an_amount_number_too_long_to_be_exact_stops_start_up_with_a_hint_to_quote_it() {
    let sandbox = Sandbox::new();
    let started = sandbox.serve_once(
        &[],
        &[(
            "TOLLGATE_BILLING__ACCOUNT__MONTHLY_LIMIT",
            "1234.567890123456",
        )],
    );
    assert!(
        !started.listening && started.code == Some(1),
        "{}",
        started.log
    );
    let log = started.log.to_lowercase();
    for needed in [
        "billing.account.monthly_limit",
        "more than 15 significant digits",
        "quote the amount",
    ] {
        assert!(log.contains(needed), "{needed}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_names_a_postgresql_database_without_its_password() {
    let Some(db) = tollgate_store::testing::TestDatabase::postgres().await else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    // A URL without a password connects by trust, which ignores one: give it one to hide.
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user");
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, password.to_string()),
        None => (userinfo, "hunter2-secret".to_string()),
    };
    let url = format!("{scheme}://{user}:{password}@{host}");
    let sandbox = Sandbox::new();
    let started = sandbox.serve_once(&["--database-url", &url], &[("RUST_LOG", "info")]);
    let log = started.log;
    assert!(started.listening, "{log}");
    let shown = format!("database: PostgreSQL at {scheme}://{user}:***@{host}");
    assert!(log.contains(&shown), "{shown}:\n{log}");
    assert!(!log.contains(&password), "the password was logged:\n{log}");
}
