//! The live balance stream (`GET /api/v1/billing/balance/stream`): a snapshot at once, another
//! after each change made through the API (on this instance or, on PostgreSQL, another),
//! confined to the caller's own account for an end user and to the key's tenant for a key,
//! capped per tenant, and ended by shutdown. Read off the wire as server-sent events.
//!
//! Multi-threaded, as the server runs: see `billing.rs`.

use std::time::Duration;

use serde_json::{json, Value};
use tollgate_server::Settings;
use tollgate_store::Scope;

use crate::jwt::{token_for, with_hs256};
use crate::support::{assert_error, Reply, TestApp};

/// How long an expected event may take: far above the coalescing interval and far below the
/// periodic re-read, so an event in time came from a notice.
const PATIENCE: Duration = Duration::from_secs(10);

/// Streams read often and refresh rarely, so an event is the effect of a change.
fn quick(s: &mut Settings) {
    s.billing.stream.min_interval_ms = 50;
    s.billing.stream.refresh_seconds = 600;
}

/// A credential: an API key or an end user's token.
enum As<'a> {
    Key(&'a str),
    Token(&'a str),
}

/// An open event stream, read a chunk at a time.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

/// One `balance` event.
struct Snapshot {
    id: u64,
    data: Value,
}

impl Snapshot {
    fn usd(&self) -> &Value {
        &self.data["account"]["balance_usd"]
    }
}

async fn request(
    app: &TestApp,
    who: As<'_>,
    query: &str,
    last_event_id: Option<u64>,
) -> reqwest::Response {
    let mut req = app
        .http
        .get(format!("{}/api/v1/billing/balance/stream{query}", app.base));
    req = match who {
        As::Key(k) => req.header("X-API-Key", k),
        As::Token(t) => req.bearer_auth(t),
    };
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    req.send().await.expect("send")
}

/// Opens a stream that must start.
async fn open(app: &TestApp, who: As<'_>, query: &str, last_event_id: Option<u64>) -> Events {
    let resp = request(app, who, query, last_event_id).await;
    assert_eq!(resp.status(), 200, "{}", app.engine());
    let kind = resp.headers()["content-type"].to_str().expect("ASCII");
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    Events {
        resp,
        buf: String::new(),
    }
}

/// A request that must be refused before any stream starts.
async fn refused(app: &TestApp, who: As<'_>, query: &str) -> Reply {
    let resp = request(app, who, query, None).await;
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply { status, body }
}

impl Events {
    /// The next complete block of the stream, None when it ended.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block = self.buf[..end].to_string();
                self.buf.drain(..end + 2);
                return Some(block);
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self
                    .buf
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next `balance` event (keep-alive comments skipped); fails after [`PATIENCE`].
    async fn next(&mut self) -> Snapshot {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let block = self.block().await.expect("the stream ended");
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<u64>().expect("a numeric id"));
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(v.trim()).expect("JSON data"));
                    }
                }
                if let Some(data) = data {
                    assert_eq!(event.as_deref(), Some("balance"), "{block}");
                    return Snapshot {
                        id: id.expect("every event has an id"),
                        data,
                    };
                }
            }
        })
        .await
        .expect("a balance event in time")
    }

    /// Whether the stream ends within [`PATIENCE`] (events before the end are skipped).
    async fn ends(&mut self) -> bool {
        tokio::time::timeout(PATIENCE, async { while self.block().await.is_some() {} })
            .await
            .is_ok()
    }
}

async fn topup(app: &TestApp, user: &str, amount: &str) {
    let r = app
        .post(
            "/api/v1/billing/topup",
            &json!({"amount": amount, "user_id": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sends_the_balance_at_once_and_again_after_each_change() {
    for app in TestApp::all_with(quick).await {
        let mut events = open(&app, As::Key(&app.key), "?user_id=alice", None).await;
        let first = events.next().await;
        assert_eq!(first.usd(), "0.000000000", "{}", app.engine());
        assert_eq!(first.data["account"]["user_id"], "alice");
        assert!(first.data["read_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')));

        topup(&app, "alice", "5").await;
        let topped = events.next().await;
        assert_eq!(topped.usd(), "5.000000000", "{}", app.engine());
        assert!(topped.id > first.id, "ids increase");

        // A hold placed, then released.
        let r = app
            .post(
                "/api/v1/authorize",
                &json!({"user_id": "alice", "estimated_cost": "0.5", "hold": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let held = events.next().await;
        let usd = &held.data["account"]["balances"]["USD"];
        assert_eq!(usd["held"], "0.500000000", "{}", app.engine());
        assert_eq!(usd["available"], "4.500000000");
        assert_eq!(usd["balance"], "5.000000000");
        let hold = r.body["hold_id"].as_str().expect("a hold");
        let r = app
            .post(&format!("/api/v1/authorize/{hold}/release"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let released = events.next().await;
        assert_eq!(
            released.data["account"]["balances"]["USD"]["held"],
            "0.000000000"
        );

        // A call charged to the account, and a settings change.
        let r = app
            .post(
                "/api/v1/log",
                &json!({"user_id": "alice", "provider": "openai", "model": "gpt-4o",
                        "input_tokens": 1000, "output_tokens": 100}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let charged = events.next().await;
        assert_ne!(charged.usd(), "5.000000000", "{}", app.engine());
        assert_ne!(charged.data["account"]["usage"]["today"], "0.000000000");
        let r = app
            .request_as(
                reqwest::Method::PUT,
                &app.key,
                "/api/v1/billing/settings",
                Some(&json!({"user_id": "alice", "daily_limit": "3"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let limited = events.next().await;
        assert_eq!(
            limited.data["account"]["limits"]["daily"],
            "3.000000000",
            "{}",
            app.engine()
        );
        assert!(limited.id > charged.id && charged.id > released.id);

        // A client reconnecting with the last id gets the account at once, with a later id.
        drop(events);
        let mut again = open(&app, As::Key(&app.key), "?user_id=alice", Some(limited.id)).await;
        let fresh = again.next().await;
        assert!(fresh.id > limited.id, "{} after {}", fresh.id, limited.id);
        assert_eq!(fresh.data["account"], limited.data["account"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_user_streams_their_own_account_and_no_one_elses() {
    for app in TestApp::all_with(|s| {
        quick(s);
        with_hs256(s);
    })
    .await
    {
        let alice = token_for(&app, "alice");
        let mut events = open(&app, As::Token(&alice), "", None).await;
        assert_eq!(events.next().await.data["account"]["user_id"], "alice");
        topup(&app, "alice", "2").await;
        assert_eq!(events.next().await.usd(), "2.000000000");

        let r = refused(&app, As::Token(&alice), "?user_id=bob").await;
        assert_error(&r, 404, "NOT_FOUND");
        let mut named = open(&app, As::Token(&alice), "?user_id=alice", None).await;
        assert_eq!(named.next().await.usd(), "2.000000000", "naming oneself");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_needs_the_read_scope_and_sees_only_its_own_tenant() {
    for app in TestApp::all_with(quick).await {
        let (_, ingest) = app.tenant_key("writer", &[Scope::Ingest]).await;
        let r = refused(&app, As::Key(&ingest), "?user_id=alice").await;
        assert_error(&r, 403, "FORBIDDEN");

        // Another tenant's "alice" is another account: the first tenant's top-up never shows.
        let (_, other) = app
            .tenant_key("other", &[Scope::Read, Scope::Billing])
            .await;
        let mut theirs = open(&app, As::Key(&other), "?user_id=alice", None).await;
        assert_eq!(theirs.next().await.usd(), "0.000000000");
        topup(&app, "alice", "5").await;
        let r = app
            .post_as(
                &other,
                "/api/v1/billing/topup",
                &json!({"amount": "1", "user_id": "alice"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            theirs.next().await.usd(),
            "1.000000000",
            "{}: the other tenant's stream shows its own top-up alone",
            app.engine()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_tenant_cap_a_stream_is_refused_until_one_closes() {
    for app in TestApp::all_with(|s| {
        quick(s);
        s.billing.stream.max_streams_per_tenant = 1;
        s.billing.stream.keep_alive_seconds = 1;
    })
    .await
    {
        let mut first = open(&app, As::Key(&app.key), "?user_id=a", None).await;
        first.next().await;
        let r = refused(&app, As::Key(&app.key), "?user_id=b").await;
        assert_error(&r, 503, "UNAVAILABLE");
        drop(first);
        // The server notices the closed connection at its next write (a keep-alive).
        let reopened = tokio::time::timeout(PATIENCE, async {
            loop {
                let resp = request(&app, As::Key(&app.key), "?user_id=b", None).await;
                if resp.status() == 200 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        assert!(
            reopened.is_ok(),
            "{}: a closed stream makes room",
            app.engine()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_on_one_instance_reaches_a_stream_on_another() {
    for app in TestApp::all_with(quick).await {
        if app.engine() != "postgres" {
            // One SQLite database has one server.
            continue;
        }
        let beside = app.beside(quick).await;
        let mut events = open(&beside, As::Key(&beside.key), "?user_id=zoe", None).await;
        assert_eq!(events.next().await.usd(), "0.000000000");
        topup(&app, "zoe", "7").await;
        assert_eq!(events.next().await.usd(), "7.000000000");
        // And the other way.
        topup(&beside, "zoe", "1").await;
        let mut here = open(&app, As::Key(&app.key), "?user_id=zoe", None).await;
        assert_eq!(here.next().await.usd(), "8.000000000");
        assert_eq!(events.next().await.usd(), "8.000000000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_and_completes() {
    for mut app in TestApp::all_with(|s| {
        quick(s);
        // Shutdown must not be waiting for the drain deadline.
        s.http.drain_timeout_ms = 600_000;
    })
    .await
    {
        let mut events = open(&app, As::Key(&app.key), "?user_id=alice", None).await;
        events.next().await;
        let stopped = tokio::time::timeout(PATIENCE, app.stop()).await;
        assert!(stopped.is_ok(), "{}: shutdown completed", app.engine());
        assert!(events.ends().await, "the stream ended");
    }
}
