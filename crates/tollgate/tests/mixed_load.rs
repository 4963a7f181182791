//! The workload Tollgate exists for, from two server processes on one database at once:
//! authorize with a hold, settle it by logging the call on the other instance, release it or
//! let it expire, plain logging and top-ups, over a handful of shared users with small
//! balances. Driven by `tollgate bench mixed` for a bounded time, then checked: no 5xx, every
//! hold granted closed exactly once as its client chose, no balance below zero or limit
//! passed, and `tollgate billing audit` clean.
//!
//! On SQLite (always) and PostgreSQL (when `TOLLGATE_TEST_DATABASE_URL` is set; CI sets it,
//! and fails without it). Each run gets a database of its own.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_store::testing::TestDatabase;

const KEY: &str = "tg_mixed_load_test_key_0123456789";

/// A `tollgate serve` child; killed when dropped.
struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, with none of the test environment's `TOLLGATE_*` variables.
fn tollgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Starts an instance on `database_url`, sharing `data_dir` (the signing key, and on SQLite
/// the database itself) with the other one.
fn start(database_url: &str, data_dir: &Path) -> Instance {
    let mut child = tollgate()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("TOLLGATE_DATABASE_URL", database_url)
        .env("TOLLGATE_BOOTSTRAP_API_KEY", KEY)
        .env("TOLLGATE_BILLING__EXPIRE_HOLDS_SECONDS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts tollgate serve");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Tollgate listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server prints its address");
    wait_healthy(&url);
    Instance { child, url }
}

fn wait_healthy(url: &str) {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{url} never accepted connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
        .args(["24", "--users", "6", "--balance", "0.02", "--server"])
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
    // Balances of two cents against holds of one cent, four clients a user: some
    // authorizations must be refused, and none may overshoot.
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
