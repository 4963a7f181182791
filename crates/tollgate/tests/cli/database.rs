//! A PostgreSQL database that cannot be used is reported at once by every command that opens
//! it, with the address tried and the driver's own reason, and without the password.

use std::time::{Duration, Instant};

use super::{Ran, Sandbox};

/// Well under the pool's 10 s acquire timeout, which used to be the only answer.
const PROMPTLY: Duration = Duration::from_secs(8);

/// Runs `tollgate ARGS`, killing it if it has not finished within 30 s (a `serve` that did
/// start), and says how long it took.
fn run_bounded(sb: &Sandbox, args: &[&str]) -> (Ran, Duration) {
    let started = Instant::now();
    let mut child = sb.spawn(args);
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (Ran::from(out), started.elapsed())
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_postgresql_server_that_is_not_listening_is_named_with_the_refusal_at_once() {
    let sb = Sandbox::new();
    let port = closed_port();
    let url = format!("postgres://postgres:sekrit@127.0.0.1:{port}/x");
    let data = sb.data();
    let data = data.to_str().expect("utf-8 path");
    for args in [
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data][..],
        &["migrate"],
        &["keys", "list"],
        &["tenants", "list"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--database-url", &url]);
        let (out, took) = run_bounded(&sb, &all);
        assert_ne!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(took < PROMPTLY, "{args:?} took {took:?}: {}", out.stderr);
        let address = format!("127.0.0.1:{port}");
        assert!(
            out.stderr
                .contains(&format!("cannot reach PostgreSQL at {address}")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.to_lowercase().contains("refused"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("user postgres, database x"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("sekrit"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn a_database_the_postgresql_server_does_not_have_is_named_in_the_drivers_words() {
    let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!("TOLLGATE_TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    let url = format!("{server}/tollgate_no_such_database");
    let sb = Sandbox::new();
    for args in [&["migrate"][..], &["keys", "list"]] {
        let mut all = args.to_vec();
        all.extend(["--database-url", &url]);
        let (out, took) = run_bounded(&sb, &all);
        assert_ne!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(took < PROMPTLY, "{args:?} took {took:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot reach PostgreSQL at"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("database \"tollgate_no_such_database\" does not exist"),
            "{args:?}: {}",
            out.stderr
        );
    }
}
