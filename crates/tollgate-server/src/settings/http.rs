//! How the HTTP server treats connections: its timeouts and its connection cap.

use serde::Deserialize;

/// Connection settings. A slow or silent client holds a socket (a file descriptor) for as
/// long as these allow; together they keep such clients from exhausting the process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// How long a connection may take to send a complete request head, in milliseconds,
    /// counted from the moment it starts waiting for one: when it is opened, or when its
    /// previous response has been sent. Past it the connection is closed. Because the count
    /// includes the wait, this also bounds how long a connection may stay silent. 0: no limit.
    pub header_read_timeout_ms: u64,
    /// How long a connection with no request in flight may stay silent (not one byte of a
    /// next request) before it is closed, in milliseconds; fresh connections too. It only
    /// matters below `header_read_timeout_ms`, which counts the same silence and closes the
    /// connection at its own limit. 0: only `header_read_timeout_ms` applies.
    pub idle_timeout_ms: u64,
    /// How long a request body may take to arrive in full, in milliseconds from the end of
    /// its head: a total, not a limit per read, so trickled bytes cannot keep it open. Past
    /// it the request fails with 408 `REQUEST_TIMEOUT` and the connection is closed.
    /// 0: no limit.
    pub body_timeout_ms: u64,
    /// Most connections open at once. At the cap a new connection closes the one idle
    /// longest (no request in flight), or, when every one is busy, is answered 503 with
    /// `Retry-After` and closed. 0: derived from the process's descriptor limit, less room
    /// for the database pool and files, at most 10,000.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_ms: 30_000,
            idle_timeout_ms: 20_000,
            body_timeout_ms: 60_000,
            max_connections: 0,
        }
    }
}
