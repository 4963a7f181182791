//! The request body with a deadline (`http.body_timeout_ms`), and the error it fails with.
//!
//! The deadline is a total from the end of the request head, not a limit per read: a client
//! trickling a byte every few seconds cannot keep a body, and its connection, open forever.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use tollgate_api::ErrorCode;

use crate::error::ApiError;

/// A request body did not arrive in full before its deadline. Extractors answer it with 408
/// (`From<BodyTimedOut> for ApiError`); the connection is then closed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {} ms (http.body_timeout_ms)", .0.as_millis())]
pub struct BodyTimedOut(pub Duration);

impl From<BodyTimedOut> for ApiError {
    /// The body did not arrive in time (`http.body_timeout_ms`): 408. The server closes the
    /// connection after this answer.
    fn from(e: BodyTimedOut) -> ApiError {
        ApiError::new(ErrorCode::RequestTimeout, e.to_string())
    }
}

/// The [`BodyTimedOut`] behind a body error, however many layers (axum's rejections, the
/// body limit) wrap it.
pub(crate) fn timed_out(error: &(dyn Error + 'static)) -> Option<BodyTimedOut> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<BodyTimedOut>() {
            return Some(*t);
        }
        next = e.source();
    }
    None
}

/// hyper's body, failing with [`BodyTimedOut`] once its deadline passes.
pub(crate) struct Deadline {
    inner: Incoming,
    limit: Duration,
    deadline: Instant,
    /// Made on the first read that has to wait: most bodies arrive with their head and never
    /// need a timer.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set when the deadline passed, for the connection to close after the response.
    tripped: Arc<AtomicBool>,
    done: bool,
}

impl Deadline {
    /// `inner`, due `limit` from now; `tripped` is set if it is late.
    pub(crate) fn new(inner: Incoming, limit: Duration, tripped: Arc<AtomicBool>) -> Deadline {
        Deadline {
            inner,
            limit,
            deadline: Instant::now() + limit,
            sleep: None,
            tripped,
            done: false,
        }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        this.tripped.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_found_under_wrapping_errors() {
        let inner: Box<dyn Error + Send + Sync> = Box::new(BodyTimedOut(Duration::from_secs(3)));
        let wrapped = axum::Error::new(axum::Error::new(inner));
        let found = timed_out(&wrapped).expect("found");
        assert_eq!(found.0, Duration::from_secs(3));
        assert!(timed_out(&std::io::Error::other("reset")).is_none());
    }
}
