//! Clients that stop reading what the server sends: the write timeout, the drain deadline at
//! shutdown, and a response still being written counting as activity, not idleness. Over
//! real sockets with small receive buffers; SQLite only (connections do not depend on the
//! engine).
//!
//! The kernel buffers megabytes between the server and a client that stops reading, so each
//! test sends more than that: an export page of about 12 MB, or many `/openapi.json`s.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tollgate_server::Settings;

use crate::raw::{
    closed_by_server, connect_with_small_buffer, get, get_as, metrics, metrics_come_to_hold,
    read_status, send, PATIENCE,
};
use crate::support::TestApp;

/// Timeouts far beyond any test's run, for the ones a test is not about.
const NEVER_MS: u64 = 600_000;
/// A client's receive buffer: the kernel rounds it up, but it stays small.
const SMALL_BUFFER: u32 = 4096;
/// Events of the large export: one more than a page, so its body has a frame left to send
/// while the first is stuck.
const EVENTS: usize = 1001;

fn quiet(s: &mut Settings) {
    s.http.header_read_timeout_ms = NEVER_MS;
    s.http.idle_timeout_ms = NEVER_MS;
    s.http.body_timeout_ms = NEVER_MS;
    s.http.write_timeout_ms = NEVER_MS;
    s.http.drain_timeout_ms = NEVER_MS;
    // The seeding batches are large.
    s.max_body_bytes = 32 << 20;
}

/// Logs [`EVENTS`] events with 12 KB of metadata each: their JSON-lines export is a first
/// page (1,000 events, one frame of the body) of about 12 MB, then a second.
async fn seed_large_export(app: &TestApp) {
    let note = "x".repeat(12_000);
    let event = json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 10,
                       "output_tokens": 5, "metadata": {"note": note}});
    for size in [1000, EVENTS - 1000] {
        let r = app
            .post(
                "/api/v1/log/batch",
                &json!({"events": vec![event.clone(); size]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// A connection that asked for the large export and read only the response's head: the
/// server is then writing a body the client does not read.
async fn stalled_export(app: &TestApp) -> TcpStream {
    let mut stream = connect_with_small_buffer(app, SMALL_BUFFER).await;
    send(
        &mut stream,
        &get_as("/api/v1/export/usage?format=jsonl", &app.key),
    )
    .await;
    assert_eq!(read_status(&mut stream).await, 200);
    stream
}

/// The next of pipelined answers, read exactly (its head, then `Content-Length` bytes), so
/// that none of the following answer is taken with it.
async fn next_answer(stream: &mut BufReader<TcpStream>) -> (u16, Vec<u8>) {
    let mut status = 0;
    let mut length = 0;
    loop {
        let mut line = String::new();
        let n = stream.read_line(&mut line).await.expect("read a head line");
        assert!(n > 0, "the connection closed before an answer");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(code) = line.strip_prefix("HTTP/1.1 ") {
            status = code[..3].parse().expect("a status");
        } else if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a length");
            }
        }
    }
    let mut body = vec![0; length];
    stream
        .read_exact(&mut body)
        .await
        .expect("the whole body before the connection closes");
    (status, body)
}

#[tokio::test]
async fn a_client_that_stops_reading_a_response_is_closed_after_the_write_timeout() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.write_timeout_ms = 300;
    })
    .await;
    seed_large_export(&app).await;
    let mut stalled = stalled_export(&app).await;
    // Reading would let the write go on: wait for the server to give up first.
    assert!(
        metrics_come_to_hold(&app, "tollgate_http_timeouts_total{kind=\"write\"} 1").await,
        "{}",
        metrics(&app).await
    );
    assert!(closed_by_server(&mut stalled).await, "the reader is closed");
    let health = app.get("/health").await;
    assert_eq!(health.status, 200, "others are served");
}

#[tokio::test]
async fn shutdown_returns_within_the_drain_deadline_while_a_client_has_stopped_reading() {
    let mut app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.drain_timeout_ms = 500;
    })
    .await;
    seed_large_export(&app).await;
    let mut stalled = stalled_export(&app).await;
    app.signal_stop();
    // The write timeout is ten minutes: only the drain deadline ends this in time.
    tokio::time::timeout(PATIENCE, app.stop())
        .await
        .expect("the server stops at the drain deadline");
    assert!(closed_by_server(&mut stalled).await, "the reader is closed");
}

#[tokio::test]
async fn a_response_still_being_written_is_not_closed_as_idle() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.idle_timeout_ms = 300;
    })
    .await;
    // Each answer is one frame (127 KB) that hyper takes at once; together they are more
    // than the kernel buffers, so the last ones wait on the socket while the client sleeps.
    let answers = 64;
    let mut stream = connect_with_small_buffer(&app, SMALL_BUFFER).await;
    let pipelined: Vec<u8> = (0..answers).flat_map(|_| get("/openapi.json")).collect();
    send(&mut stream, &pipelined).await;
    // Several idle timeouts pass while the server waits for the client to read.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut stream = BufReader::new(stream);
    for i in 0..answers {
        let (status, body) = tokio::time::timeout(PATIENCE, next_answer(&mut stream))
            .await
            .expect("an answer within the bounded wait");
        assert_eq!(status, 200, "answer {i}");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert!(json["paths"].is_object(), "answer {i} is whole");
    }
}
