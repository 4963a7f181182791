//! End-to-end tests of the `tollgate` binary: each test runs `tollgate serve` as a child
//! process on a fresh SQLite data directory and drives it with the CLI's own commands.

mod admin;
mod billing;
mod costs;
mod database;
mod deploy;
mod export;
mod holds;
mod malloc;
mod openapi;
mod pipes;
mod plans;
mod pricing;
mod readme;
mod receipts;
mod retention;
mod settings;
mod signing_key;
mod signing_key_instances;
mod transparency;
mod usage;
mod webhooks;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The API key the test servers are bootstrapped with.
pub(crate) const KEY: &str = "tg_cli_test_key_0123456789";

/// A temporary directory to run commands in; the server's data lives in `data/` inside it.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

/// A running `tollgate serve`; killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl Server {
    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, with no `TOLLGATE_*` variable of the test environment leaking in.
fn tollgate(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// How a `tollgate serve` run went (see [`Sandbox::serve_once`]).
pub(crate) struct Started {
    /// Whether it listened (it was then stopped).
    pub(crate) listening: bool,
    /// Its exit code when it stopped by itself.
    pub(crate) code: Option<i32>,
    /// What it wrote to standard error.
    pub(crate) log: String,
}

/// What a finished command did.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    pub(crate) fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A path inside the sandbox.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The server's data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// Runs `tollgate ARGS` in the sandbox.
    pub(crate) fn run(&self, args: &[&str]) -> Ran {
        Ran::from(
            tollgate(self.dir.path())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("runs tollgate"),
        )
    }

    /// Starts `tollgate ARGS` in the sandbox with no input and both outputs piped, for a test
    /// that watches it run.
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        tollgate(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs tollgate")
    }

    /// Runs `tollgate ARGS` with standard output a pipe that is read up to its first line and
    /// then closed, as `tollgate ARGS | head -1` does; returns that line and what the command
    /// did after.
    pub(crate) fn run_into_closed_pipe(&self, args: &[&str]) -> (String, Ran) {
        let mut child = self.spawn(args);
        // Byte by byte, so the reader takes no more than the first line: the command's output
        // beyond the pipe's buffer (64 KiB on Linux) then always meets a closed pipe.
        let mut first = Vec::new();
        {
            let mut stdout = child.stdout.take().expect("piped");
            let mut byte = [0u8];
            while stdout.read(&mut byte).expect("reads") == 1 {
                first.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
        }
        let first = String::from_utf8(first).expect("a UTF-8 line");
        let out = child.wait_with_output().expect("waits for tollgate");
        (first, Ran::from(out))
    }

    /// Runs a client command against `server` with the test key.
    pub(crate) fn client(&self, server: &Server, args: &[&str]) -> Ran {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &server.url, "--api-key", KEY]);
        self.run(&all)
    }

    /// Starts `tollgate serve` on a free port over the sandbox's data directory and waits
    /// until it answers `/health`.
    pub(crate) fn start(&self) -> Server {
        self.start_with_env(&[])
    }

    /// As [`Sandbox::start`], with extra environment variables (`TOLLGATE_*` settings).
    pub(crate) fn start_with_env(&self, env: &[(&str, &str)]) -> Server {
        self.start_serving(&["--data-dir", arg(&self.data())], env)
    }

    /// Starts `tollgate serve --listen 127.0.0.1:0 ARGS` in the sandbox, as
    /// [`Sandbox::start`] does; with no `--data-dir`, the data lands in `./tollgate-data`, as
    /// for a person who runs `tollgate serve` with no settings.
    pub(crate) fn start_serving(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = tollgate(self.dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("TOLLGATE_BOOTSTRAP_API_KEY", KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the server");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Reads the listening address, then keeps draining so the server never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Tollgate listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its address");
        let server = Server { child, url };
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(&server.url, "/health").0 != 200 {
            assert!(Instant::now() < deadline, "the server never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Starts `tollgate serve` over the sandbox's data, waits until it listens, stops it and
    /// returns what it logged.
    pub(crate) fn serve_log(&self) -> String {
        let started = self.serve_once(&[], &[]);
        assert!(
            started.listening,
            "the server did not start:\n{}",
            started.log
        );
        started.log
    }

    /// Runs `tollgate serve ARGS` (on a free port, over the sandbox's data unless `args` say
    /// otherwise) with extra environment until it listens or exits; stops it if it listens.
    pub(crate) fn serve_once(&self, args: &[&str], env: &[(&str, &str)]) -> Started {
        let mut child = tollgate(self.dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data())
            .args(args)
            .env("TOLLGATE_BOOTSTRAP_API_KEY", KEY)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts the server");
        let stdout = child.stdout.take().expect("piped");
        // Ends at the address line, or when the server exits without one.
        let listening = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("Tollgate listening on "));
        if listening {
            let _ = child.kill();
        }
        let status = child.wait().expect("the server ends");
        let mut log = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        Started {
            listening,
            code: if listening { None } else { status.code() },
            log,
        }
    }

    /// Logs `n` calls; returns their log ids.
    pub(crate) fn log_usage(&self, server: &Server, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let tokens = (1000 + 37 * i).to_string();
                let out = self
                    .client(
                        server,
                        &[
                            "usage",
                            "log",
                            "--provider",
                            "openai",
                            "--model",
                            "gpt-4o",
                            "--input-tokens",
                            &tokens,
                            "--output-tokens",
                            "250",
                            "--json",
                        ],
                    )
                    .expect(0);
                out.json()["log_id"].as_str().expect("a log id").to_string()
            })
            .collect()
    }

    /// Signs a receipt for every uncertified log, written to `file`; returns it.
    pub(crate) fn generate(&self, server: &Server, file: &str) -> Value {
        let path = self.path(file);
        self.client(
            server,
            &[
                "receipts",
                "generate",
                "--since-last",
                "-o",
                path.to_str().expect("utf-8 path"),
            ],
        )
        .expect(0);
        serde_json::from_str(&std::fs::read_to_string(&path).expect("receipt file"))
            .expect("receipt JSON")
    }
}

/// A plain HTTP/1.0 GET (never chunked); returns the status and body.
pub(crate) fn http_get(base: &str, path: &str) -> (u16, String) {
    get_with_headers(base, path, "")
}

/// A POST of JSON with the test key; returns the status and the body as JSON.
pub(crate) fn api_post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let host = server.url.trim_start_matches("http://");
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(host).expect("connects");
    stream.write_all(request.as_bytes()).expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {response}"));
    (status, json)
}

/// A GET with the test key; returns the status and the body as JSON.
pub(crate) fn api_get(server: &Server, path: &str) -> (u16, Value) {
    let (status, body) = get_with_headers(&server.url, path, &format!("X-API-Key: {KEY}\r\n"));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

fn get_with_headers(base: &str, path: &str, headers: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(host) else {
        return (0, String::new());
    };
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Logs `n` calls through `POST /api/v1/log/batch`, 1,000 per request.
pub(crate) fn log_batch(server: &Server, n: usize) {
    let host = server.url.trim_start_matches("http://");
    for start in (0..n).step_by(1000) {
        let events: Vec<Value> = (start..n.min(start + 1000))
            .map(|i| {
                serde_json::json!({
                    "provider": "anthropic", "model": "claude-3-5-haiku-20241022",
                    "input_tokens": 100 + i, "output_tokens": 7 + i % 13,
                })
            })
            .collect();
        let body = serde_json::json!({ "events": events }).to_string();
        let request = format!(
            "POST /api/v1/log/batch HTTP/1.0\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(host).expect("connects");
        stream.write_all(request.as_bytes()).expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        assert!(
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
            "{response}"
        );
    }
}

/// The repository's root, where the README and the deployment files live.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file's path as a string argument.
pub(crate) fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
