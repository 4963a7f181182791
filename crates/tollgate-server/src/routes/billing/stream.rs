//! `GET /api/v1/billing/balance/stream`: an account's balance, holds and limit use as
//! server-sent events, for a console to show live.
//!
//! A stream sends the account as `GET /api/v1/billing/balance` shows it at once, then again
//! whenever it changes: the store's notice of a committed change (on this instance or, on
//! PostgreSQL, another; see [`crate::live`]) makes the stream read the account from the
//! database, and it sends what it read unless that is what it sent last. Every event is a
//! fresh read, never a delta, so a missed notice costs only time: the stream also reads every
//! `billing.stream.refresh_seconds` (which shows a hold that expired). Events of one stream
//! are at least `billing.stream.min_interval_ms` apart, so a burst of changes is one event,
//! and a keep-alive comment goes out when nothing else has for a while.
//!
//! A stream holds one read at a time and nothing queued: a client that stops reading stalls
//! it, and the connection's write timeout (`http.write_timeout_ms`) closes it. Streams end
//! when the server begins shutting down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream;
use tokio::time::Instant;
use tollgate_api::billing::{Account as AccountView, BalanceEvent, BalanceSnapshot, UserQuery};
use tollgate_core::time::{format_us, now_us};

use super::accounts::balance_view;
use super::query_user;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::live::{Watch, Woken};
use crate::state::AppState;

/// One stream's state between its events.
struct Live {
    state: AppState,
    tenant_id: String,
    user_id: String,
    watch: Watch,
    /// The first event, read before the response began.
    first: Option<AccountView>,
    /// The account as last sent.
    last: Option<AccountView>,
    /// The id of the last event (or the client's `Last-Event-ID`).
    id: u64,
    /// The earliest the next event may go.
    next_at: Instant,
}

impl Live {
    fn event(&mut self, account: AccountView) -> Event {
        // Increasing within a stream and, through Last-Event-ID, across reconnections (to
        // any instance): the clock in microseconds, or one more than the last.
        self.id = (self.id + 1).max(u64::try_from(now_us()).unwrap_or(0));
        self.next_at = Instant::now() + self.min_interval();
        let snapshot = BalanceSnapshot {
            account: account.clone(),
            read_at: format_us(now_us()),
        };
        self.last = Some(account);
        let event = Event::default().event("balance").id(self.id.to_string());
        match event.json_data(&snapshot) {
            Ok(e) => e,
            // A snapshot of strings, numbers and maps always serializes.
            Err(e) => Event::default().comment(format!("unserializable snapshot: {e}")),
        }
    }

    fn min_interval(&self) -> Duration {
        Duration::from_millis(self.state.live().settings().min_interval_ms)
    }

    /// The next event, or None when the stream ends.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Live)> {
        if let Some(account) = self.first.take() {
            let event = self.event(account);
            return Some((Ok(event), self));
        }
        let refresh = Duration::from_secs(self.state.live().settings().refresh_seconds.max(1));
        loop {
            if self.watch.wait(refresh).await == Woken::Closing {
                return None;
            }
            let wait = self.next_at.saturating_duration_since(Instant::now());
            if !wait.is_zero() && self.watch.pause(wait).await == Woken::Closing {
                return None;
            }
            let account = match balance_view(&self.state, &self.tenant_id, &self.user_id).await {
                Ok(a) => a,
                Err(e) => {
                    // The client reconnects (with Last-Event-ID) and is told what is wrong.
                    tracing::warn!(error = ?e, tenant = %self.tenant_id, "a balance stream could not read its account; ending it");
                    return None;
                }
            };
            if self.last.as_ref() != Some(&account) {
                let event = self.event(account);
                return Some((Ok(event), self));
            }
        }
    }
}

/// The `Last-Event-ID` a reconnecting client sends; one that is not ours is ignored.
fn last_event_id(headers: &HeaderMap) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// An account's balance, live
///
/// Server-sent events: `event: balance` with the account as `GET /api/v1/billing/balance`
/// shows it, at once and then whenever it changes (a top-up, a charge, a hold placed,
/// released or expired, a refund, a settings change), at most one every
/// `billing.stream.min_interval_ms`, wherever the change was made; a `:keep-alive` comment
/// when nothing else was sent for `billing.stream.keep_alive_seconds`. Each event has an
/// increasing `id`; a client reconnecting with `Last-Event-ID` gets a fresh snapshot first
/// and ids above the one it sent. For a key with the `read` scope (any account of its tenant)
/// or an end user's token (their own account only).
#[utoipa::path(
    get,
    path = "/api/v1/billing/balance/stream",
    tag = "billing",
    operation_id = "billing_balance_stream",
    params(
        UserQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event a reconnecting client received"),
    ),
    responses(
        (status = 200, description = "A stream of `balance` events, each a snapshot of the account", content_type = "text/event-stream", body = BalanceEvent),
        (status = 404, description = "An end user named another account"),
        (status = 503, description = "Too many streams are open (`billing.stream.max_streams`, `max_streams_per_tenant`), or the server is shutting down"),
    )
)]
pub async fn balance_stream(
    State(state): State<AppState>,
    auth: Can<need::OwnRead>,
    headers: HeaderMap,
    Params(q): Params<UserQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let user_id = auth
        .account_user(query_user(q.user_id.as_deref())?)?
        .unwrap_or_default();
    let tenant_id = auth.tenant_id.clone();
    // Watching before the first read: a change committed in between is read again.
    let watch = state.live().watch(&tenant_id, &user_id)?;
    let first = balance_view(&state, &tenant_id, &user_id).await?;
    let keep_alive = Duration::from_secs(state.live().settings().keep_alive_seconds.max(1));
    let live = Live {
        state,
        tenant_id,
        user_id,
        watch,
        first: Some(first),
        last: None,
        id: last_event_id(&headers),
        next_at: Instant::now(),
    };
    let events = stream::unfold(live, Live::next);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"));
    // Proxies that buffer responses (nginx) would hold the events back.
    let unbuffered = [(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    )];
    Ok((unbuffered, sse))
}
