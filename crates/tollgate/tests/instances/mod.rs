//! `tollgate serve` child processes for the tests that run several instances of one
//! deployment.
// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// A `tollgate serve` child; killed when dropped.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _data: Option<tempfile::TempDir>,
    /// Its log lines (stderr), when started with [`start_logged`].
    pub logs: Option<mpsc::Receiver<String>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The signing key file that instances with data directories of their own share, as the
/// instances of one deployment do; made once per test binary.
fn shared_signing_key() -> &'static Path {
    static KEY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("key dir");
        let path = dir.path().join("signing-key.pem");
        tollgate_receipts::keys::load_or_create(&path).expect("a signing key");
        (dir, path)
    });
    path
}

/// The binary, with none of the test environment's `TOLLGATE_*` variables.
pub fn tollgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Starts an instance on `database_url`, bootstrapped with `key`, with extra environment
/// (`TOLLGATE_*` settings), in `data_dir` (shared with other instances: the signing key, and
/// on SQLite the database itself) or a data directory of its own; returns once it accepts
/// connections.
pub fn start(
    database_url: &str,
    key: &str,
    data_dir: Option<&Path>,
    env: &[(&str, &str)],
) -> Instance {
    launch(database_url, key, data_dir, env, false)
}

/// As [`start`], keeping the instance's log lines (JSON, with `RUST_LOG` from `env` or
/// `warn`) in [`Instance::logs`].
pub fn start_logged(database_url: &str, key: &str, env: &[(&str, &str)]) -> Instance {
    launch(database_url, key, None, env, true)
}

fn launch(
    database_url: &str,
    key: &str,
    data_dir: Option<&Path>,
    env: &[(&str, &str)],
    logged: bool,
) -> Instance {
    let own = match data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("data dir")),
    };
    let dir = data_dir.unwrap_or_else(|| own.as_ref().expect("made above").path());
    let mut command = tollgate();
    if own.is_some() {
        // Instances of one deployment share its signing key file.
        command.env("TOLLGATE_RECEIPTS__SIGNING_KEY_FILE", shared_signing_key());
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("TOLLGATE_DATABASE_URL", database_url)
        .env("TOLLGATE_BOOTSTRAP_API_KEY", key)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if logged {
        command
            .args(["--log-format", "json"])
            .stderr(Stdio::piped());
    } else {
        command.stderr(Stdio::null());
    }
    let mut child = command.spawn().expect("starts tollgate serve");
    let logs = child.stderr.take().map(|stderr| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    });
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
    let addr = url.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{url} never accepted connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Instance {
        child,
        url,
        _data: own,
        logs,
    }
}
