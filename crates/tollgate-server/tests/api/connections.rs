//! Slow and silent clients over real sockets: the header, idle and body timeouts, the
//! connection cap (shedding idle connections, refusing when all are busy) and graceful
//! shutdown. Connection handling does not depend on the engine: SQLite only.

use std::time::Duration;

use tollgate_server::Settings;

use crate::raw::{
    closed_by_server, connect, get, metrics, padded_usage, post_head, read_response, send,
};
use crate::support::{assert_error, usage, Reply, TestApp};

/// Timeouts far beyond any test's run, for the ones a test is not about.
const NEVER_MS: u64 = 600_000;

fn quiet(s: &mut Settings) {
    s.http.header_read_timeout_ms = NEVER_MS;
    s.http.idle_timeout_ms = NEVER_MS;
    s.http.body_timeout_ms = NEVER_MS;
}

#[tokio::test]
async fn a_connection_that_stops_halfway_through_its_head_is_closed_after_the_header_timeout() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.header_read_timeout_ms = 300;
    })
    .await;
    let mut half = connect(&app).await;
    send(&mut half, b"GET /health HTTP/1.1\r\nHost: tollgate\r\n").await;
    assert!(closed_by_server(&mut half).await, "the half head is closed");
    let text = metrics(&app).await;
    assert!(
        text.contains("tollgate_http_timeouts_total{kind=\"header\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout_whether_fresh_or_kept_alive() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.idle_timeout_ms = 300;
    })
    .await;
    let mut kept = connect(&app).await;
    send(&mut kept, &get("/health")).await;
    assert_eq!(read_response(&mut kept).await.status, 200);
    let mut fresh = connect(&app).await;
    assert!(closed_by_server(&mut kept).await, "the kept-alive one");
    assert!(closed_by_server(&mut fresh).await, "the fresh one");
    let text = metrics(&app).await;
    assert!(
        text.contains("tollgate_http_timeouts_total{kind=\"idle\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_trickled_past_the_body_timeout_gets_408_while_a_fast_client_is_served() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.body_timeout_ms = 500;
    })
    .await;
    let mut slow = connect(&app).await;
    send(&mut slow, &post_head("/api/v1/log", &app.key, 1000)).await;
    assert_eq!(read_response(&mut slow).await.status, 100);
    // A byte every 50 ms: never idle long, but 1,000 bytes would take 50 s.
    let (mut reader, mut writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for byte in b"{\"provider\": \"openai\", \"model\": \"gpt-4o\""
            .iter()
            .cycle()
            .take(200)
        {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let fast = app.post("/api/v1/log", &usage("gpt-4o", 10, 5)).await;
    assert_eq!(fast.status, 200, "{}", fast.body);

    let response = read_response(&mut reader).await;
    let reply = Reply {
        status: reqwest::StatusCode::from_u16(response.status).expect("status"),
        body: response.json(),
    };
    assert_error(&reply, 408, "REQUEST_TIMEOUT");
    assert_eq!(response.header("connection"), Some("close"));
    trickle.abort();
    let text = metrics(&app).await;
    assert!(
        text.contains("tollgate_http_timeouts_total{kind=\"body\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn with_the_cap_filled_by_idle_connections_a_new_one_is_served_and_the_oldest_is_shed() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.max_connections = 3;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&app).await);
    }
    // Accepted in order: the newcomer finds the cap full and the first the idlest.
    let health = app.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(closed_by_server(&mut idle[0]).await, "the oldest is shed");
    send(&mut idle[1], &get("/health")).await;
    assert_eq!(
        read_response(&mut idle[1]).await.status,
        200,
        "the others stay"
    );
    // The same client's kept-alive connection: no new one to shed for.
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains("tollgate_http_connections_shed_total 1"),
        "{text}"
    );
    assert!(text.contains("tollgate_http_connections_max 3"), "{text}");
}

#[tokio::test]
async fn with_the_cap_filled_by_busy_connections_a_new_one_gets_503_with_retry_after() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.max_connections = 2;
    })
    .await;
    let length = 200;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        send(&mut stream, &post_head("/api/v1/log", &app.key, length)).await;
        // `100 Continue` comes once the handler reads the body: the request is in flight.
        assert_eq!(read_response(&mut stream).await.status, 100);
        busy.push(stream);
    }
    let mut refused = connect(&app).await;
    send(&mut refused, &get("/health")).await;
    let response = read_response(&mut refused).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.json()["error"]["code"], "UNAVAILABLE");
    assert!(closed_by_server(&mut refused).await, "then closed");

    for stream in &mut busy {
        send(stream, &padded_usage(length)).await;
        let done = read_response(stream).await;
        assert_eq!(
            done.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&done.body)
        );
    }
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains("tollgate_http_connections_refused_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_begins_still_gets_its_answer() {
    let mut app = TestApp::sqlite_with(quiet).await;
    let length = 200;
    let mut stream = connect(&app).await;
    send(&mut stream, &post_head("/api/v1/log", &app.key, length)).await;
    assert_eq!(read_response(&mut stream).await.status, 100);
    app.signal_stop();
    send(&mut stream, &padded_usage(length)).await;
    let done = read_response(&mut stream).await;
    assert_eq!(
        done.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&done.body)
    );
    assert!(
        closed_by_server(&mut stream).await,
        "closed after its answer"
    );
    tokio::time::timeout(crate::raw::PATIENCE, app.stop())
        .await
        .expect("the server stops once its last request is answered");
    let addr = app.base.trim_start_matches("http://");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_head_still_arriving_when_shutdown_begins_does_not_hold_the_server_up() {
    let mut app = TestApp::sqlite_with(quiet).await;
    let mut half = connect(&app).await;
    send(&mut half, b"GET /health HTTP/1.1\r\nHost: tollgate\r\n").await;
    // Connections are accepted in order: once a later one is answered, the first is served.
    let mut later = connect(&app).await;
    send(&mut later, &get("/health")).await;
    assert_eq!(read_response(&mut later).await.status, 200);
    app.signal_stop();
    // The header timeout is ten minutes: only the shutdown's short grace ends this in time.
    tokio::time::timeout(crate::raw::PATIENCE, app.stop())
        .await
        .expect("the server stops");
    assert!(closed_by_server(&mut half).await);
}

#[tokio::test]
async fn a_head_that_completes_soon_after_shutdown_begins_is_answered_and_then_closed() {
    let mut app = TestApp::sqlite_with(quiet).await;
    // Kept alive: hyper counts a connection between requests as idle, half a head or not.
    let mut half = connect(&app).await;
    send(&mut half, &get("/health")).await;
    assert_eq!(read_response(&mut half).await.status, 200);
    let head = get("/health");
    let (first, rest) = head.split_at(10);
    send(&mut half, first).await;
    // Once a later connection is answered, the server has read what came before.
    let mut later = connect(&app).await;
    send(&mut later, &get("/health")).await;
    assert_eq!(read_response(&mut later).await.status, 200);
    app.signal_stop();
    send(&mut half, rest).await;
    let answer = read_response(&mut half).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(closed_by_server(&mut half).await, "closed after its answer");
    tokio::time::timeout(crate::raw::PATIENCE, app.stop())
        .await
        .expect("the server stops");
}

#[tokio::test]
async fn at_the_cap_a_connection_that_began_a_request_is_kept_and_a_silent_one_is_shed() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.max_connections = 2;
    })
    .await;
    // `begun` has been idle longest, since its first answer; `silent` opened after it.
    let mut begun = connect(&app).await;
    send(&mut begun, &get("/health")).await;
    assert_eq!(read_response(&mut begun).await.status, 200);
    let mut silent = connect(&app).await;
    let head = get("/health");
    let (first, rest) = head.split_at(10);
    send(&mut begun, first).await;
    // Lets the server read those bytes (the test and the server share one thread).
    tokio::time::sleep(Duration::from_millis(100)).await;

    let health = app.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(
        closed_by_server(&mut silent).await,
        "the silent one is shed"
    );
    send(&mut begun, rest).await;
    let answer = read_response(&mut begun).await;
    assert_eq!(answer.status, 200, "the request begun is answered");
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains("tollgate_http_connections_shed_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn without_a_header_timeout_a_head_that_stops_arriving_is_closed_after_the_idle_timeout() {
    let app = TestApp::sqlite_with(|s| {
        quiet(s);
        s.http.header_read_timeout_ms = 0;
        s.http.idle_timeout_ms = 300;
    })
    .await;
    let mut one_byte = connect(&app).await;
    send(&mut one_byte, b"G").await;
    assert!(
        closed_by_server(&mut one_byte).await,
        "the stalled head is closed"
    );
    let text = metrics(&app).await;
    assert!(
        text.contains("tollgate_http_timeouts_total{kind=\"idle\"} 1"),
        "{text}"
    );
}
