//! The workload Tollgate exists for, from two server processes on one database at once:
//! authorize with a hold, settle it by logging the call on the other instance, release it or
//! let it expire, plain logging and top-ups, over a handful of shared users with small
//! balances. Driven by `tollgate bench mixed` for a bounded time, then checked: no 5xx, every
//! hold granted closed exactly once as its client chose, no balance below zero or limit
//! passed, and `tollgate billing audit` clean.
//!
//! On SQLite (always) and PostgreSQL (when `TOLLGATE_TEST_DATABASE_URL` is set; CI sets it,
//! and fails without it). Each run gets a database of its own.

mod instances;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tollgate_store::testing::TestDatabase;

use instances::{tollgate, Instance};

const KEY: &str = "tg_mixed_load_test_key_0123456789";

/// Starts an instance on `database_url`, sharing `data_dir` (the signing key, and on SQLite
/// the database itself) with the other one.
fn start(database_url: &str, data_dir: &Path) -> Instance {
    instances::start(
        database_url,
        KEY,
        Some(data_dir),
        &[("TOLLGATE_BILLING__EXPIRE_HOLDS_SECONDS", "1")],
    )
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the mixed load on two instances of one database and checks the books.
fn two_instances_under_mixed_load(engine: &str, database_url: &str) {
    let data = tempfile::tempdir().expect("data dir");
    let a = start(database_url, data.path());
    let b = start(database_url, data.path());
    let out = tollgate()
        .args([
            "bench",
            "mixed",
            "--json",
            "--seconds",
            "6",
            "--concurrency",
        ])
        .args([
            "24",
            "--users",
            "6",
            "--balance",
            "0.02",
            "--top-up",
            "0.001",
        ])
        .arg("--server")
        .arg(&a.url)
        .arg("--also")
        .arg(&b.url)
        .env("TOLLGATE_API_KEY", KEY)
        .output()
        .expect("runs tollgate bench mixed");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{engine}: bench mixed printed no report\n{}", text(&out)));
    let show = format!("{engine}: {report:#}");
    assert_eq!(report["server_errors"], 0, "{show}");
    assert_eq!(report["unexpected_answers"], 0, "{show}");
    assert!(report["granted"].as_u64() > Some(0), "{show}");
    assert!(report["settled"].as_u64() > Some(0), "{show}");
    assert!(report["released"].as_u64() > Some(0), "{show}");
    // Balances of two cents against holds of one cent, four clients a user, top-ups of a
    // tenth of a cent: some authorizations must be refused, and none may overshoot.
    assert!(report["refused"].as_u64() > Some(0), "{show}");
    assert_eq!(report["books"]["clean"], true, "{show}");
    assert!(out.status.success(), "{show}\n{}", text(&out));

    drop((a, b));
    let audit = tollgate()
        .args(["billing", "audit", "--json", "--database-url", database_url])
        .output()
        .expect("runs tollgate billing audit");
    assert!(audit.status.success(), "{engine}: {}", text(&audit));
}

#[test]
fn two_sqlite_instances_under_mixed_load_answer_no_5xx_and_keep_the_books() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    two_instances_under_mixed_load("sqlite", &url);
}

#[test]
fn two_postgresql_instances_under_mixed_load_answer_no_5xx_and_keep_the_books() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(db) = runtime.block_on(TestDatabase::postgres()) else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    two_instances_under_mixed_load("postgres", &db.url);
    drop(db);
}
