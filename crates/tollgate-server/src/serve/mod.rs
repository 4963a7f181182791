//! The HTTP server's accept loop, in place of `axum::serve`, which sets no timer at all: an
//! idle connection, a request head that never ends and a body that trickles in would each
//! hold a file descriptor forever, until the process could open no file and accept no one.
//!
//! It owns the connections' lives: how long a head, a silence, a body and a stalled write may
//! take (`http.*` settings, [`conn`]), how many connections are open at once and which one
//! makes room for a newcomer ([`registry`]), how a failed accept backs off, and graceful
//! shutdown with a deadline. It knows nothing of routes: it serves the router it is given.

mod activity;
mod body;
mod conn;
pub mod limits;
mod registry;
mod socket;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub(crate) use body::timed_out as body_timed_out;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::settings::HttpSettings;
use registry::{Admission, Registry};
use tollgate_api::ErrorCode;

/// Connections being refused at once; beyond it a refused connection is closed unanswered,
/// so refusing cannot itself run the process out of descriptors.
const REFUSING_AT_ONCE: usize = 32;
/// How long a refused connection may take to send its head and read the 503.
const REFUSE_WITHIN: Duration = Duration::from_secs(2);
/// The first and the longest pause after a failed accept.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// The timeouts and the cap in force.
pub(crate) struct Limits {
    header_read: Option<Duration>,
    idle: Option<Duration>,
    body: Option<Duration>,
    write: Option<Duration>,
    drain: Duration,
    max_connections: usize,
}

impl Limits {
    /// The limits `http` describes; a cap of 0 is derived from the descriptor limit and the
    /// database pool size.
    pub(crate) fn new(http: &HttpSettings, pool: u32) -> Limits {
        let ms = |n: u64| (n > 0).then(|| Duration::from_millis(n));
        let fds = limits::descriptor_limit();
        let max_connections = match http.max_connections {
            0 => limits::default_max_connections(fds, pool),
            n => n,
        };
        tracing::info!(
            max_connections,
            descriptor_limit = ?fds,
            "serving at most {max_connections} connections at once"
        );
        if let Some(fds) = fds.filter(|&f| max_connections as u64 >= f) {
            tracing::warn!(
                "http.max_connections ({max_connections}) is not below the descriptor limit \
                 ({fds}): many connections may still exhaust it"
            );
        }
        Limits {
            header_read: ms(http.header_read_timeout_ms),
            idle: ms(http.idle_timeout_ms),
            body: ms(http.body_timeout_ms),
            write: ms(http.write_timeout_ms),
            drain: Duration::from_millis(http.drain_timeout_ms),
            max_connections,
        }
    }
}

/// Where the server is in its life, as every connection's task follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Accepting and serving.
    Serving,
    /// Shutdown began: no more accepts; requests in flight are answered, then connections
    /// close.
    Draining,
    /// The drain deadline passed: every connection still open closes now.
    Closing,
}

/// What every connection's task shares.
struct Shared {
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    registry: Registry,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish (a head still arriving gets a second to become one) and returns
/// once every connection has closed (and so dropped its handle on the router), closing those
/// still open at the drain deadline (`http.drain_timeout_ms`).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Registry::new(limits.max_connections);
    metrics
        .connections
        .max
        .store(limits.max_connections as u64, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        router,
        limits,
        metrics,
        registry,
    });
    let (phase, phases) = watch::channel(Phase::Serving);
    // Every connection's task holds a receiver: the channel closes when the last one ends.
    let (all_closed, open) = watch::channel(());
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let mut errors = AcceptErrors::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                let pause = errors.failed(&e, &shared);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        errors.recovered();
        // Answers are small and must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let counters = &shared.metrics.connections;
        let conn = match shared.registry.admit() {
            Admission::Admit(conn) => conn,
            Admission::Shed(conn) => {
                counters.shed.fetch_add(1, Ordering::Relaxed);
                conn
            }
            Admission::Refuse => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                refuse(tcp, &refusing);
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let (shared, phases, open) = (shared.clone(), phases.clone(), open.clone());
        tokio::spawn(async move {
            conn::serve(tcp, conn, shared, phases).await;
            drop(open);
        });
    }
    drop(listener);
    phase.send_replace(Phase::Draining);
    drop(open);
    let drain = shared.limits.drain;
    if tokio::time::timeout(drain, all_closed.closed())
        .await
        .is_err()
    {
        // A client that reads nothing, or a handler that never ends, must not keep the
        // process from stopping.
        let open = shared.metrics.connections.open.load(Ordering::Relaxed);
        tracing::warn!(
            open,
            "closing {open} connections still open at the drain deadline \
             (http.drain_timeout_ms = {} ms)",
            drain.as_millis()
        );
        phase.send_replace(Phase::Closing);
        all_closed.closed().await;
    }
}

/// Failed accepts: each followed by a pause that grows while they come in a row, so a
/// process out of descriptors does not spin; logged once per burst (failures less than
/// [`QUIET`] apart), since shedding lets every other accept succeed.
#[derive(Default)]
struct AcceptErrors {
    in_a_row: u32,
    last: Option<Instant>,
}

/// A failed accept this long after the last one starts a new burst, and is logged.
const QUIET: Duration = Duration::from_secs(10);

impl AcceptErrors {
    /// Counts `e` and returns the pause before the next accept.
    fn failed(&mut self, e: &io::Error, shared: &Shared) -> Duration {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        // The client gave up before it was accepted: nothing is wrong here.
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return Duration::ZERO;
        }
        let counters = &shared.metrics.connections;
        counters.accept_errors.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if self
            .last
            .is_none_or(|last| now.duration_since(last) > QUIET)
        {
            tracing::error!(
                error = %e,
                "accepting connections failed; backing off (tollgate_http_accept_errors_total \
                 counts the failures that follow)"
            );
        }
        self.last = Some(now);
        if out_of_descriptors(e) && shared.registry.shed_one() {
            // A silent connection gives its descriptor to the next accept.
            counters.shed.fetch_add(1, Ordering::Relaxed);
        }
        let pause = BACKOFF
            .0
            .saturating_mul(1 << self.in_a_row.min(7))
            .min(BACKOFF.1);
        self.in_a_row += 1;
        pause
    }

    /// An accept succeeded: the next failure pauses briefly again.
    fn recovered(&mut self) {
        self.in_a_row = 0;
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        let errno = e.raw_os_error().map(Errno::from_raw_os_error);
        matches!(errno, Some(Errno::MFILE | Errno::NFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Answers a connection the cap has no room for with 503 and `Retry-After`, and closes it;
/// closes it unanswered when too many are being refused already.
fn refuse(tcp: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let answer = hyper::service::service_fn(|_: Request<Incoming>| async {
            Ok::<_, Infallible>(busy())
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(REFUSE_WITHIN)
            .keep_alive(false);
        let answering = builder.serve_connection(TokioIo::new(tcp), answer);
        let _ = tokio::time::timeout(REFUSE_WITHIN, answering).await;
    });
}

fn busy() -> Response<Body> {
    let mut response = ApiError::new(
        ErrorCode::Unavailable,
        "every connection the server serves at once is busy (http.max_connections); retry shortly",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
