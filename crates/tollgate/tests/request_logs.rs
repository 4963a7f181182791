//! The server's JSON logs follow a request: each is logged in a `request` span naming its
//! method, route, path and tenant, and one slower than `http.slow_request_ms` is a warning.

mod instances;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

const KEY: &str = "tg_request_logs_test_key_0123456789ab";

/// The first JSON log line whose message is `message`, within a few seconds.
fn logged(logs: &Receiver<String>, message: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = logs
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no '{message}' line was logged"));
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["fields"]["message"] == message {
                return v;
            }
        }
    }
}

/// Sends a request over a fresh connection, pausing `pause` between its head and its body,
/// and returns the status line.
fn send(url: &str, head: &str, body: &str, pause: Duration) -> String {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).expect("connects");
    stream.write_all(head.as_bytes()).expect("head sent");
    std::thread::sleep(pause);
    stream.write_all(body.as_bytes()).expect("body sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_request_is_logged_in_a_span_with_its_route_path_and_tenant() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let server = instances::start_logged(&url, KEY, &[("RUST_LOG", "warn,tollgate_server=debug")]);
    let logs = server.logs.as_ref().expect("logged");
    let head = format!(
        "GET /api/v1/logs?limit=1 HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        send(&server.url, &head, "", Duration::ZERO),
        "HTTP/1.1 200 OK"
    );
    let line = logged(logs, "request");
    assert_eq!(line["level"], "DEBUG");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["ms"].as_f64().is_some(), "{line}");
    let span = &line["span"];
    assert_eq!(span["name"], "request");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["route"], "/api/v1/logs");
    assert_eq!(span["path"], "/api/v1/logs");
    assert!(
        span["tenant"]
            .as_str()
            .is_some_and(|t| t.starts_with("tnt_")),
        "the tenant is named: {line}"
    );
}

#[test]
fn a_request_slower_than_the_setting_is_a_warning() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let server = instances::start_logged(
        &url,
        KEY,
        &[
            ("RUST_LOG", "warn"),
            ("TOLLGATE_HTTP__SLOW_REQUEST_MS", "100"),
        ],
    );
    let logs = server.logs.as_ref().expect("logged");
    let body =
        r#"{"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}"#;
    let head = format!(
        "POST /api/v1/log HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The body arrives late, so the handler cannot answer before the threshold.
    assert_eq!(
        send(&server.url, &head, body, Duration::from_millis(300)),
        "HTTP/1.1 200 OK"
    );
    let line = logged(logs, "slow request");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["fields"]["status"], 200);
    assert!(
        line["fields"]["ms"].as_f64().is_some_and(|ms| ms >= 100.0),
        "{line}"
    );
    assert_eq!(line["span"]["route"], "/api/v1/log");
    assert!(line["span"]["tenant"]
        .as_str()
        .is_some_and(|t| t.starts_with("tnt_")));
}
