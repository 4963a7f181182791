//! How the HTTP server treats connections: its timeouts, its connection cap and how long
//! shutdown waits for them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Connection settings. A slow or silent client holds a socket (a file descriptor) for as
/// long as these allow; together they keep such clients from exhausting the process.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// How long a connection may take to send a complete request head, in milliseconds,
    /// counted from the moment it starts waiting for one: when it is opened, or when its
    /// previous response has been sent. Past it the connection is closed. Because the count
    /// includes the wait, this also bounds how long a connection may stay silent. 0: no
    /// limit (a head that stops arriving is still closed by `idle_timeout_ms`, but one
    /// trickled in a byte at a time is bounded only by the connection cap, which may shed
    /// it as a slow head).
    pub header_read_timeout_ms: u64,
    /// How long a connection with no request in flight and nothing left to send may receive
    /// nothing before it is closed, in milliseconds: between requests, on a fresh connection,
    /// and within a request head that stops arriving (each byte starts the count again).
    /// Between requests it only matters below `header_read_timeout_ms`, which counts the
    /// same silence. 0: only `header_read_timeout_ms` applies.
    pub idle_timeout_ms: u64,
    /// How long a request body may take to arrive in full, in milliseconds from the end of
    /// its head: a total, not a limit per read, so trickled bytes cannot keep it open. Past
    /// it the request fails with 408 `REQUEST_TIMEOUT` and the connection is closed.
    /// 0: no limit.
    pub body_timeout_ms: u64,
    /// How long output may wait on a client that takes none of it, in milliseconds: when a
    /// write to the socket has made no progress for this long (the client stopped reading
    /// and the kernel's buffers are full), the connection is closed, mid-response or not.
    /// A client reading slowly but steadily is not cut. 0: no limit.
    pub write_timeout_ms: u64,
    /// How long shutdown waits for connections, in milliseconds from when it begins: requests
    /// in flight are answered meanwhile; connections still open after it are closed, whatever
    /// they are doing, so that shutdown always ends. 0: close them at once.
    pub drain_timeout_ms: u64,
    /// Most connections open at once. At the cap a new connection closes the one silent
    /// longest (nothing in flight or left to send, no byte of a next request received);
    /// when none is silent, one whose request head has been arriving for over a second;
    /// else it is answered 503 with `Retry-After` and closed. A connection closed to make
    /// room counts until its socket is closed. 0: derived from the process's descriptor
    /// limit, less room for the database pool and files, at most 10,000.
    pub max_connections: usize,
    /// A request answered after this many milliseconds is logged at `warn` as a slow
    /// request, with its route, status, duration and the tenant (every request is logged at
    /// `debug`). 0: never.
    pub slow_request_ms: u64,
    /// Reverse proxies whose `X-Forwarded-For` header is believed, as addresses or CIDR
    /// blocks (`10.0.0.0/8`, `::1`). The client's IP (for per-IP rate limits) is then the
    /// rightmost address in that header that is not itself a trusted proxy. Empty: the
    /// connection's own peer address, whatever the header says.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_ms: 30_000,
            idle_timeout_ms: 20_000,
            body_timeout_ms: 60_000,
            write_timeout_ms: 30_000,
            drain_timeout_ms: 30_000,
            max_connections: 0,
            slow_request_ms: 1_000,
            trusted_proxies: Vec::new(),
        }
    }
}
