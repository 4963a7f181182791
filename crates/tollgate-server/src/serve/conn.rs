//! One connection: hyper's HTTP/1 with the header, idle, body and write timeouts; how it
//! ends when it is shed or the server shuts down; and what the registry needs to know of it
//! ([`Conn`]: a request in flight, output not yet written, a next request arriving).

use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use super::activity::{Activity, Conn, Shed};
use super::body::Deadline;
use super::socket::Watched;
use super::{Limits, Phase, Shared};
use crate::conn_metrics::Timeout;

/// How long, once shutdown begins, a request head still arriving may take to become a request
/// (which is then answered) before its connection is closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves `tcp` until the client leaves, a timeout closes it, the registry sheds it, or the
/// server shuts down: then a request in flight is answered first, unless the drain deadline
/// comes before.
pub(super) async fn serve(
    tcp: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    mut phases: watch::Receiver<Phase>,
) {
    let _open = Open::new(shared.clone(), conn.clone());
    let peer = tcp.peer_addr().ok();
    let io = TokioIo::new(Watched::new(tcp, conn.clone()));
    let service = Service {
        shared: shared.clone(),
        conn: conn.clone(),
        peer,
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read);
    let mut served = pin!(builder.serve_connection(io, service));
    let mut phase = Phase::Serving;
    // When shutdown began with a head arriving: by when it must have become a request.
    let mut head_due: Option<Instant> = None;
    loop {
        let watchdog = watchdog(&conn, &shared.limits);
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        shared.metrics.connections.timeout(Timeout::Header);
                    }
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            next = next_phase(&mut phases, phase) => {
                phase = next;
                match phase {
                    Phase::Serving => {}
                    Phase::Draining => match wind_down(&conn, served.as_mut()) {
                        Winding::Closed => break,
                        Winding::AfterHead => head_due = Some(Instant::now() + SHUTDOWN_GRACE),
                        Winding::AfterResponse => {}
                    },
                    Phase::Closing => {
                        tracing::debug!("connection closed at the drain deadline");
                        break;
                    }
                }
            }
            () = until(head_due) => {
                head_due = None;
                // A head still arriving is no request in flight: it must not hold shutdown
                // up for the whole header timeout. One that became a request is answered.
                if conn.activity() != Activity::Busy {
                    break;
                }
            }
            () = conn.shed.notified() => {
                if conn.shed_as() == Some(Shed::SlowHead) {
                    break;
                }
                // Chosen silent; a request may have begun since.
                if let Winding::Closed = wind_down(&conn, served.as_mut()) {
                    break;
                }
            }
            fired = watchdog => {
                if let Some(kind) = fired {
                    shared.metrics.connections.timeout(kind);
                    tracing::debug!(?kind, "connection timed out");
                    break;
                }
            }
        }
    }
}

/// How a connection asked to close goes on.
enum Winding {
    /// It is silent: close it now.
    Closed,
    /// A head is arriving: the request it becomes is answered with `Connection: close`.
    AfterHead,
    /// A request is in flight or its response is being written: hyper closes the
    /// connection once it is sent.
    AfterResponse,
}

/// Makes `conn` close after its current request, and says whether it may close at once.
fn wind_down(
    conn: &Conn,
    served: Pin<&mut http1::Connection<TokioIo<Watched>, Service>>,
) -> Winding {
    conn.close_after_request();
    match conn.activity() {
        Activity::Silent { .. } => Winding::Closed,
        // Not hyper's graceful shutdown here: it counts a connection with half a head as
        // idle and would close it, unread bytes and all (a reset for the client).
        Activity::Head { .. } => Winding::AfterHead,
        Activity::Busy => {
            served.graceful_shutdown();
            Winding::AfterResponse
        }
    }
}

/// The next phase of the server's life after `now`; Closing if the acceptor is gone.
async fn next_phase(phases: &mut watch::Receiver<Phase>, now: Phase) -> Phase {
    match phases.wait_for(|p| *p > now).await {
        Ok(p) => *p,
        Err(_) => Phase::Closing,
    }
}

/// Resolves at `at`; never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves with the timeout that closes `conn` once one has passed (output stalled, or
/// quiet with nothing in flight), or None when it is time to look again.
async fn watchdog(conn: &Conn, limits: &Limits) -> Option<Timeout> {
    let checks = [
        (Timeout::Write, limits.write, conn.stalled_for()),
        (Timeout::Idle, limits.idle, conn.quiet_for()),
    ];
    let mut look_again: Option<Duration> = None;
    for (kind, limit, elapsed) in checks {
        let Some(limit) = limit else { continue };
        let wait = match elapsed {
            Some(e) if e >= limit => return Some(kind),
            Some(e) => limit - e,
            // Not counting now; it cannot pass sooner than this once it starts.
            None => limit,
        };
        look_again = Some(look_again.map_or(wait, |w| w.min(wait)));
    }
    match look_again {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
    None
}

/// Counts a connection open until its task ends, however it ends (a handler's panic too),
/// and then takes it off the registry. Made before the socket's owner, it is dropped after
/// it: the connection counts until its socket is closed.
struct Open {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
}

impl Open {
    fn new(shared: Arc<Shared>, conn: Arc<Conn>) -> Open {
        shared
            .metrics
            .connections
            .open
            .fetch_add(1, Ordering::Relaxed);
        Open { shared, conn }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.registry.remove(&self.conn);
        self.shared
            .metrics
            .connections
            .open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The router behind one connection: each request's body gets its deadline, the connection
/// counts as busy until the response is sent, and a connection asked to close says so in
/// its response.
struct Service {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    /// The client's address, for handlers that need it (per-IP rate limits).
    peer: Option<std::net::SocketAddr>,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.conn.begin();
        let guard = InFlight(self.conn.clone());
        let shared = self.shared.clone();
        let tripped = Arc::new(AtomicBool::new(false));
        let mut req = match shared.limits.body {
            Some(limit) => req.map(|b| Body::new(Deadline::new(b, limit, tripped.clone()))),
            None => req.map(Body::new),
        };
        if let Some(peer) = self.peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let router = shared.router.clone();
        let conn = self.conn.clone();
        Box::pin(async move {
            let Ok(mut response) = router.oneshot(req).await;
            let late = tripped.load(Ordering::Relaxed);
            if late {
                shared.metrics.connections.timeout(Timeout::Body);
            }
            // Late: the rest of the body may still be on its way, not to be read as a
            // request. Closing: shed, or the server is shutting down.
            if late || conn.is_closing() {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        })
    }
}

/// Marks a request in flight until dropped: with its response body, once hyper has taken all
/// of it (writing it may take longer: [`Conn::end`]), or with the request, if the connection
/// closed first.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body holding its request's [`InFlight`].
pub(super) struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
