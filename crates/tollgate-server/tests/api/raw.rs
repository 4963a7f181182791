//! HTTP/1.1 by hand over a socket, for tests of what a client library would hide: half a
//! head, a trickled body, a connection left open and silent.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// Bounded waits: far longer than anything the tests configure, so that only a hang fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A response read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A new connection to the app's server.
pub async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// A new connection whose receive buffer is as small as the kernel allows near `bytes`: a
/// client that stops reading fills it, and then the server's send buffer, sooner.
pub async fn connect_with_small_buffer(app: &TestApp, bytes: u32) -> TcpStream {
    let addr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(bytes).expect("receive buffer");
    socket.connect(addr).await.expect("connect")
}

/// Sends `bytes`.
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
}

/// Reads one response: its head, then as many body bytes as `Content-Length` says.
/// Interim `100 Continue` responses are returned like any other.
pub async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> RawResponse {
    tokio::time::timeout(PATIENCE, async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.expect("read the head");
            assert!(n > 0, "the connection closed before a response: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.expect("read the body");
            assert!(n > 0, "the connection closed inside a body");
            body.extend_from_slice(&chunk[..n]);
        }
        RawResponse {
            status,
            headers,
            body,
        }
    })
    .await
    .expect("a response within the bounded wait")
}

/// Reads up to the end of a response head and returns its status, leaving the body unread
/// (but for the little read with the head).
pub async fn read_status(stream: &mut (impl AsyncRead + Unpin)) -> u16 {
    tokio::time::timeout(PATIENCE, async {
        let mut buf = Vec::new();
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 256];
            let n = stream.read(&mut chunk).await.expect("read the head");
            assert!(n > 0, "the connection closed before a response: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        head.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line")
    })
    .await
    .expect("a response head within the bounded wait")
}

/// Whether the server closes the connection (end of stream or reset) within [`PATIENCE`];
/// whatever it sends before closing is discarded.
pub async fn closed_by_server(stream: &mut (impl AsyncRead + Unpin)) -> bool {
    tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A `GET path` head that keeps the connection alive.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: tollgate\r\n\r\n").into_bytes()
}

/// A `GET path` head authenticated with `key`.
pub fn get_as(path: &str, key: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: tollgate\r\nX-API-Key: {key}\r\n\r\n").into_bytes()
}

/// The head of a JSON `POST path` of `length` bytes, authenticated with `key`, asking for
/// `100 Continue` before the body (which also tells the test the handler has started).
pub fn post_head(path: &str, key: &str, length: usize) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: tollgate\r\nX-API-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\
         Expect: 100-continue\r\n\r\n"
    )
    .into_bytes()
}

/// A usage body padded with spaces to exactly `length` bytes.
pub fn padded_usage(length: usize) -> Vec<u8> {
    let mut body = crate::support::usage("gpt-4o", 10, 5)
        .to_string()
        .into_bytes();
    assert!(body.len() <= length, "the padding is longer than the body");
    body.resize(length, b' ');
    body
}

/// Whether the server's metrics come to hold `line` within [`PATIENCE`].
pub async fn metrics_come_to_hold(app: &TestApp, line: &str) -> bool {
    tokio::time::timeout(PATIENCE, async {
        while !metrics(app).await.contains(line) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok()
}

/// The server's metrics, over a connection of their own.
pub async fn metrics(app: &TestApp) -> String {
    let mut stream = connect(app).await;
    send(&mut stream, &get("/metrics")).await;
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).expect("text")
}
