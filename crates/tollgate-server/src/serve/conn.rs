//! One connection: hyper's HTTP/1 with the header timeout, the idle timeout, the request
//! body deadline, and what the registry needs to know (a request in flight, silence).

use std::convert::Infallible;
use std::future::Future;
use std::io;
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
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use super::body::Deadline;
use super::counters::Timeout;
use super::registry::Conn;
use super::Shared;

/// How long, once shutdown begins, a connection with no request in flight (one still sending
/// its head) may stay before it is closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves `tcp` until the client leaves, a timeout closes it, the registry sheds it, or the
/// server shuts down (then requests in flight finish first).
pub(super) async fn serve(
    tcp: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _open = Open::new(shared.clone(), conn.clone());
    let io = TokioIo::new(Watched {
        tcp,
        conn: conn.clone(),
    });
    let service = Service {
        shared: shared.clone(),
        conn: conn.clone(),
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read);
    let mut served = pin!(builder.serve_connection(io, service));
    let mut stop = Stop::Serving;
    loop {
        let silence = silence(&conn, shared.limits.idle);
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
            _ = shutdown.wait_for(|stop| *stop), if matches!(stop, Stop::Serving) => {
                // hyper closes an idle connection at once and any other after its response.
                served.as_mut().graceful_shutdown();
                stop = Stop::Draining(Instant::now() + SHUTDOWN_GRACE);
            }
            () = stop.grace_ends() => {
                // A head still arriving is no request in flight: it must not hold shutdown
                // up for the whole header timeout. One in flight closes after its response.
                if conn.is_idle() {
                    break;
                }
                stop = Stop::AfterResponse;
            }
            () = conn.shed.notified() => {
                if conn.is_idle() {
                    break;
                }
                // A request began since the acceptor chose it: answer it, then close.
                served.as_mut().graceful_shutdown();
            }
            closing = silence => {
                if closing {
                    shared.metrics.connections.timeout(Timeout::Idle);
                    break;
                }
            }
        }
    }
}

/// Counts a connection open until its task ends, however it ends (a handler's panic too),
/// and then takes it off the registry.
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

/// Where a connection is in the server's shutdown.
enum Stop {
    /// No shutdown yet.
    Serving,
    /// Shutdown began: without a request in flight by then, the connection closes.
    Draining(Instant),
    /// A request was in flight: the connection closes after its response.
    AfterResponse,
}

impl Stop {
    /// Resolves when the grace for heads still arriving ends; never outside it.
    async fn grace_ends(&self) {
        match self {
            Stop::Draining(at) => tokio::time::sleep_until(*at).await,
            Stop::Serving | Stop::AfterResponse => std::future::pending().await,
        }
    }
}

/// Resolves true once `conn` has been silent for `idle`, or false when it is time to look
/// again (a request came and went meanwhile).
async fn silence(conn: &Conn, idle: Option<Duration>) -> bool {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    match conn.silent_for() {
        Some(silent) if silent >= idle => true,
        Some(silent) => {
            tokio::time::sleep(idle - silent).await;
            false
        }
        None => {
            tokio::time::sleep(idle).await;
            false
        }
    }
}

/// The router behind one connection: each request's body gets its deadline, and the
/// connection counts as busy until the response is sent.
struct Service {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
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
        let req = match shared.limits.body {
            Some(limit) => req.map(|b| Body::new(Deadline::new(b, limit, tripped.clone()))),
            None => req.map(Body::new),
        };
        let router = shared.router.clone();
        Box::pin(async move {
            let Ok(mut response) = router.oneshot(req).await;
            if tripped.load(Ordering::Relaxed) {
                // The rest of the body may still be on its way: do not read it as a request.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                shared.metrics.connections.timeout(Timeout::Body);
            }
            Ok(response.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        })
    }
}

/// Marks a request in flight until dropped: with its response body, once hyper has sent it,
/// or with the request, if the connection closed first.
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

/// The socket, noting when bytes arrive on an idle connection (a next request begins, so
/// the idle timeout stops and the header timeout alone applies).
struct Watched {
    tcp: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.conn.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
