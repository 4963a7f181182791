//! Who is watching which account, for the live balance stream.
//!
//! The store announces committed account changes (see `tollgate_store::changes`: this
//! process's and, on PostgreSQL, every instance's). One task takes them and wakes the streams
//! of the account named, through a `watch` per watched account: a watch keeps only that
//! something changed, never a queue, so however fast changes come a stream holds nothing
//! but its next read. The [`Hub`] also counts open streams against the caps
//! (`billing.stream`) and tells every stream to end when the server shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tollgate_store::{AccountChange, Store};

use crate::error::ApiError;
use crate::settings::BalanceStreamSettings;
use tollgate_api::ErrorCode;

/// An account: (tenant, user).
type Key = (String, String);

/// The watched accounts and the open streams.
#[derive(Clone)]
pub(crate) struct Hub(Arc<Inner>);

struct Inner {
    settings: BalanceStreamSettings,
    open: Mutex<Open>,
    closing: watch::Sender<bool>,
}

#[derive(Default)]
struct Open {
    accounts: HashMap<Key, Watched>,
    tenants: HashMap<String, usize>,
    total: usize,
}

struct Watched {
    changed: watch::Sender<u64>,
    streams: usize,
}

impl Hub {
    /// A hub with no stream open.
    pub(crate) fn new(settings: BalanceStreamSettings) -> Hub {
        Hub(Arc::new(Inner {
            settings,
            open: Mutex::default(),
            closing: watch::channel(false).0,
        }))
    }

    /// The caps and timings of the streams.
    pub(crate) fn settings(&self) -> &BalanceStreamSettings {
        &self.0.settings
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent whatever a panicking holder did.
        self.0.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts taking the store's notices; the task ends when aborted.
    pub(crate) fn start(&self, store: &dyn Store) -> JoinHandle<()> {
        let mut changes = store.account_changes();
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(AccountChange::Account { tenant_id, user_id }) => {
                        if let Some(w) = hub.open().accounts.get(&(tenant_id, user_id)) {
                            w.changed.send_modify(|n| *n = n.wrapping_add(1));
                        }
                    }
                    // Notices were missed: any account may have changed.
                    Ok(AccountChange::Everything) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        for w in hub.open().accounts.values() {
                            w.changed.send_modify(|n| *n = n.wrapping_add(1));
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Opens a stream on an account, within the caps (503 past them).
    pub(crate) fn watch(&self, tenant_id: &str, user_id: &str) -> Result<Watch, ApiError> {
        if *self.0.closing.borrow() {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the server is shutting down",
            ));
        }
        let s = &self.0.settings;
        let mut open = self.open();
        if open.total >= s.max_streams {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "this server has {} balance streams open, its most (billing.stream.max_streams); retry shortly",
                    open.total
                ),
            ));
        }
        let tenant_streams = open.tenants.get(tenant_id).copied().unwrap_or(0);
        if tenant_streams >= s.max_streams_per_tenant {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "this tenant has {tenant_streams} balance streams open on this server, its most (billing.stream.max_streams_per_tenant); close one or retry shortly"
                ),
            ));
        }
        open.total += 1;
        *open.tenants.entry(tenant_id.to_string()).or_default() += 1;
        let key = (tenant_id.to_string(), user_id.to_string());
        let watched = open.accounts.entry(key.clone()).or_insert_with(|| Watched {
            changed: watch::channel(0).0,
            streams: 0,
        });
        watched.streams += 1;
        let changed = watched.changed.subscribe();
        Ok(Watch {
            hub: self.clone(),
            key,
            changed,
            closing: self.0.closing.subscribe(),
        })
    }

    /// Tells every stream to end (the server is shutting down) and refuses new ones.
    pub(crate) fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Streams open now.
    #[cfg(test)]
    fn streams(&self) -> usize {
        self.open().total
    }
}

/// One open stream's view of its account; dropping it closes the stream's place.
pub(crate) struct Watch {
    hub: Hub,
    key: Key,
    changed: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
}

/// Why a stream stops waiting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// A notice said the account changed (or the wait for one timed out).
    Read,
    /// The server is shutting down.
    Closing,
}

impl Watch {
    /// Waits until a notice names the account, `timeout` passes, or the server shuts down.
    pub(crate) async fn wait(&mut self, timeout: std::time::Duration) -> Woken {
        if *self.closing.borrow() {
            return Woken::Closing;
        }
        tokio::select! {
            _ = self.closing.changed() => Woken::Closing,
            r = self.changed.changed() => match r {
                Ok(()) => Woken::Read,
                // The hub is gone: so is the server.
                Err(_) => Woken::Closing,
            },
            () = tokio::time::sleep(timeout) => Woken::Read,
        }
    }

    /// Sleeps `pause` (a burst of notices meanwhile counts as one), unless the server shuts
    /// down first.
    pub(crate) async fn pause(&mut self, pause: std::time::Duration) -> Woken {
        tokio::select! {
            _ = self.closing.changed() => return Woken::Closing,
            () = tokio::time::sleep(pause) => {}
        }
        // What arrived during the pause is covered by the read that follows it.
        self.changed.borrow_and_update();
        Woken::Read
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut open = self.hub.open();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.tenants.get_mut(&self.key.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.tenants.remove(&self.key.0);
            }
        }
        if let Some(w) = open.accounts.get_mut(&self.key) {
            w.streams = w.streams.saturating_sub(1);
            if w.streams == 0 {
                open.accounts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn hub(total: usize, per_tenant: usize) -> Hub {
        Hub::new(BalanceStreamSettings {
            max_streams: total,
            max_streams_per_tenant: per_tenant,
            ..BalanceStreamSettings::default()
        })
    }

    #[test]
    fn the_caps_count_open_streams_and_a_closed_one_makes_room() {
        let hub = hub(3, 2);
        let a = hub.watch("t1", "alice").expect("first");
        let _b = hub.watch("t1", "bob").expect("second of t1");
        assert!(hub.watch("t1", "carol").is_err(), "t1 is at its cap");
        let _c = hub.watch("t2", "alice").expect("another tenant");
        assert!(hub.watch("t3", "dave").is_err(), "the server is at its cap");
        drop(a);
        assert_eq!(hub.streams(), 2);
        hub.watch("t1", "carol").expect("room again");
    }

    #[tokio::test]
    async fn a_stream_wakes_for_a_change_to_its_account_and_ends_at_shutdown() {
        let hub = hub(10, 10);
        let mut w = hub.watch("t1", "alice").expect("watch");
        let other = hub.watch("t1", "bob").expect("watch");
        if let Some(x) = hub.open().accounts.get(&("t1".into(), "alice".into())) {
            x.changed.send_modify(|n| *n += 1);
        }
        assert_eq!(w.wait(Duration::from_secs(60)).await, Woken::Read);
        hub.close();
        assert_eq!(w.wait(Duration::from_secs(60)).await, Woken::Closing);
        assert!(
            hub.watch("t1", "carol").is_err(),
            "closing refuses new streams"
        );
        drop(other);
    }
}
