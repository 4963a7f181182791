//! Notices that a billing account changed: its balance, holds, spend or settings. They let a
//! live view (the balance stream) re-read an account when, and only when, it may show
//! something new. A notice carries no numbers: whoever receives it reads the account again, so
//! what a subscriber sees is always what the database holds.
//!
//! The operations that change accounts announce them after their transaction commits
//! ([`Changes::announce`], called once per operation from `ops`). A notice goes to this
//! process's subscribers at once (a `tokio::sync::broadcast`), and on PostgreSQL to every
//! other instance too, by `NOTIFY` on one channel: a background task gathers what has been
//! announced since its last send and issues one statement for all of it, so the write path
//! never waits for it and a burst of commits costs one round trip. Each instance `LISTEN`s on a
//! connection of its own (opened at the first subscription) and re-broadcasts the accounts
//! other instances named.
//!
//! Notices are hints, not a log: one may be lost (this process stops between a commit and its
//! `NOTIFY`; the listening connection drops). A lost listener connection is reported as
//! [`AccountChange::Everything`], and subscribers re-read on a slow timer besides.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The PostgreSQL channel the notices travel on.
pub const CHANNEL: &str = "tollgate_account_changes";

/// A `NOTIFY` payload must stay under 8000 bytes; larger sets are split.
const MAX_PAYLOAD: usize = 7000;

/// Notices a slow receiver may fall behind by before it is told it lagged.
const CAPACITY: usize = 4096;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountChange {
    /// One account of one tenant.
    Account {
        /// The tenant.
        tenant_id: String,
        /// The account's user (`""`: the tenant's own account).
        user_id: String,
    },
    /// Notices may have been missed: every account may have changed.
    Everything,
}

/// The notices of one store.
#[derive(Debug)]
pub(crate) struct Changes {
    local: broadcast::Sender<AccountChange>,
    origin: Uuid,
    postgres: Option<Bridge>,
}

/// The PostgreSQL side: what waits to be sent, and the tasks that send and listen.
#[derive(Debug)]
struct Bridge {
    pool: PgPool,
    outbox: Arc<Outbox>,
    tasks: Mutex<Tasks>,
}

#[derive(Debug, Default)]
struct Outbox {
    pending: Mutex<BTreeSet<(String, String)>>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Tasks {
    sender: Option<JoinHandle<()>>,
    listener: Option<(PgPool, JoinHandle<()>)>,
}

impl Changes {
    /// Notices for a store on `pool` (PostgreSQL), or for this process alone (None).
    pub(crate) fn new(pool: Option<PgPool>) -> Changes {
        Changes {
            local: broadcast::channel(CAPACITY).0,
            origin: Uuid::new_v4(),
            postgres: pool.map(|pool| Bridge {
                pool,
                outbox: Arc::default(),
                tasks: Mutex::default(),
            }),
        }
    }

    /// Tells subscribers that these accounts changed; called after the commit.
    pub(crate) fn announce<I>(&self, accounts: I)
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let accounts: BTreeSet<(String, String)> = accounts.into_iter().collect();
        if accounts.is_empty() {
            return;
        }
        for (tenant_id, user_id) in &accounts {
            // No receiver is no error: nobody is watching.
            let _ = self.local.send(AccountChange::Account {
                tenant_id: tenant_id.clone(),
                user_id: user_id.clone(),
            });
        }
        let Some(bridge) = &self.postgres else { return };
        lock(&bridge.outbox.pending).extend(accounts);
        let mut tasks = lock(&bridge.tasks);
        if tasks.sender.is_none() {
            let (pool, outbox, origin) = (bridge.pool.clone(), bridge.outbox.clone(), self.origin);
            tasks.sender = Some(tokio::spawn(send_notices(pool, outbox, origin)));
        }
        bridge.outbox.ready.notify_one();
    }

    /// A receiver of every notice from now on: this process's, and on PostgreSQL every other
    /// instance's (the first call starts listening).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<AccountChange> {
        let receiver = self.local.subscribe();
        if let Some(bridge) = &self.postgres {
            let mut tasks = lock(&bridge.tasks);
            if tasks.listener.is_none() {
                // A connection of its own, outside the pool: listening holds it for good.
                let options = (*bridge.pool.connect_options()).clone();
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(options);
                let task = tokio::spawn(listen(own.clone(), self.local.clone(), self.origin));
                tasks.listener = Some((own, task));
            }
        }
        receiver
    }

    /// Sends what is pending and stops the tasks (the store is closing).
    pub(crate) async fn close(&self) {
        let Some(bridge) = &self.postgres else { return };
        let (sender, listener) = {
            let mut tasks = lock(&bridge.tasks);
            (tasks.sender.take(), tasks.listener.take())
        };
        if let Some(sender) = sender {
            sender.abort();
            flush(&bridge.pool, &bridge.outbox, self.origin).await;
        }
        if let Some((own, task)) = listener {
            own.close().await;
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded sets stay consistent whatever a panicking holder did.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends the pending notices whenever some are announced, until aborted.
async fn send_notices(pool: PgPool, outbox: Arc<Outbox>, origin: Uuid) {
    loop {
        outbox.ready.notified().await;
        flush(&pool, &outbox, origin).await;
    }
}

/// One statement notifying every pending account (in payloads under the size limit).
async fn flush(pool: &PgPool, outbox: &Outbox, origin: Uuid) {
    let accounts: Vec<(String, String)> = std::mem::take(&mut *lock(&outbox.pending))
        .into_iter()
        .collect();
    if accounts.is_empty() {
        return;
    }
    let payloads = payloads(origin, accounts);
    let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(CHANNEL)
        .bind(&payloads)
        .execute(pool)
        .await;
    if let Err(e) = sent {
        // Subscribers elsewhere see the change at their next periodic read.
        tracing::warn!(error = %e, "could not notify other instances of account changes");
    }
}

/// The accounts as JSON payloads, each under [`MAX_PAYLOAD`] bytes.
fn payloads(origin: Uuid, accounts: Vec<(String, String)>) -> Vec<String> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0;
    for (tenant, user) in accounts {
        let cost = tenant.len() + user.len() + 8;
        if size + cost > MAX_PAYLOAD && !batch.is_empty() {
            out.push(encode(origin, std::mem::take(&mut batch)));
            size = 0;
        }
        size += cost;
        batch.push((tenant, user));
    }
    if !batch.is_empty() {
        out.push(encode(origin, batch));
    }
    out
}

/// A payload: `{"from": the sending instance (which skips its own), "accounts": [[tenant,
/// user], ...]}`.
fn encode(from: Uuid, accounts: Vec<(String, String)>) -> String {
    json!({"from": from.to_string(), "accounts": accounts}).to_string()
}

/// The sender and the accounts of a payload; None for one that is not Tollgate's.
fn decode(payload: &str) -> Option<(String, Vec<(String, String)>)> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let from = v["from"].as_str()?.to_string();
    let accounts = serde_json::from_value(v["accounts"].clone()).ok()?;
    Some((from, accounts))
}

/// Listens on `pool`'s one connection and re-broadcasts the accounts other instances name,
/// until the pool is closed. Whenever the connection had to be opened again, notices may
/// have been missed: [`AccountChange::Everything`].
async fn listen(pool: PgPool, local: broadcast::Sender<AccountChange>, origin: Uuid) {
    let mut first = true;
    loop {
        if pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for account changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for account changes; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if !first {
            let _ = local.send(AccountChange::Everything);
        }
        first = false;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => relay(n.payload(), &local, origin),
                // The connection dropped and was opened again.
                Ok(None) => {
                    let _ = local.send(AccountChange::Everything);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for account changes failed; reconnecting");
                    break;
                }
            }
        }
    }
}

fn relay(payload: &str, local: &broadcast::Sender<AccountChange>, origin: Uuid) {
    let Some((from, accounts)) = decode(payload) else {
        tracing::warn!("an account change notice that is not Tollgate's: {payload:.200}");
        return;
    };
    if from == origin.to_string() {
        // Announced here already.
        return;
    }
    for (tenant_id, user_id) in accounts {
        let _ = local.send(AccountChange::Account { tenant_id, user_id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_sets_are_split_into_payloads_under_the_limit_and_lose_no_account() {
        let origin = Uuid::new_v4();
        let accounts: Vec<(String, String)> = (0..2000)
            .map(|i| ("tnt_0123456789".to_string(), format!("user-{i}")))
            .collect();
        let out = payloads(origin, accounts.clone());
        assert!(out.len() > 1);
        let mut back = Vec::new();
        for p in &out {
            assert!(p.len() < 8000, "{} bytes", p.len());
            let (from, accounts) = decode(p).expect("a payload");
            assert_eq!(from, origin.to_string());
            back.extend(accounts);
        }
        assert_eq!(back, accounts);
    }
}
