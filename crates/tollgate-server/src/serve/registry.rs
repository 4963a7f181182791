//! The open connections counted against the cap: who is busy, who is idle and since when,
//! and which one to close when a new connection needs room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// One connection's state, shared by its task, its requests and the acceptor.
pub(crate) struct Conn {
    id: u64,
    epoch: Instant,
    /// Requests whose handler has started and whose response body is not yet sent.
    in_flight: AtomicUsize,
    /// When it last became idle (opened, or its last response finished), in microseconds
    /// since `epoch`.
    idle_since: AtomicU64,
    /// Whether a byte arrived since it became idle: a next request has begun.
    started: AtomicBool,
    /// Asks the connection's task to close it.
    pub(crate) shed: Notify,
}

impl Conn {
    /// Whether no request is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// A request's handler starts.
    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.started.store(false, Ordering::Release);
    }

    /// A request's response has been sent (or abandoned).
    pub(crate) fn end(&self) {
        self.idle_since.store(micros(self.epoch), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Bytes arrived from the client.
    pub(crate) fn read_some(&self) {
        if self.is_idle() {
            self.started.store(true, Ordering::Release);
        }
    }

    /// How long it has been silent with no request in flight; None while a request is in
    /// flight or the next one has begun to arrive.
    pub(crate) fn silent_for(&self) -> Option<Duration> {
        if !self.is_idle() || self.started.load(Ordering::Acquire) {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_micros(
            micros(self.epoch).saturating_sub(since),
        ))
    }
}

fn micros(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// What to do with a new connection.
pub(crate) enum Admission {
    /// Serve it.
    Admit(Arc<Conn>),
    /// Serve it; an idle connection was asked to close to make room.
    Shed(Arc<Conn>),
    /// Every connection is busy: refuse it.
    Refuse,
}

/// The connections counted against the cap.
pub(crate) struct Registry {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    /// A registry admitting at most `cap` connections (at least one).
    pub(crate) fn new(cap: usize) -> Registry {
        Registry {
            cap: cap.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a new connection, making room by shedding the connection idle longest when
    /// the cap is reached.
    pub(crate) fn admit(&self) -> Admission {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let shed = if conns.len() >= self.cap {
            match self.shed_idlest(&mut conns) {
                Some(()) => true,
                None => return Admission::Refuse,
            }
        } else {
            false
        };
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(micros(self.epoch)),
            started: AtomicBool::new(false),
            shed: Notify::new(),
        });
        conns.insert(conn.id, conn.clone());
        if shed {
            Admission::Shed(conn)
        } else {
            Admission::Admit(conn)
        }
    }

    /// Asks the connection idle longest to close, when one is idle; it stops counting at
    /// once (its task closes it without waiting).
    pub(crate) fn shed_one(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        self.shed_idlest(&mut conns).is_some()
    }

    fn shed_idlest(&self, conns: &mut HashMap<u64, Arc<Conn>>) -> Option<()> {
        let victim = conns
            .values()
            .filter(|c| c.is_idle())
            // Ids break ties: the older connection goes first.
            .min_by_key(|c| (c.idle_since.load(Ordering::Acquire), c.id))?
            .id;
        let conn = conns.remove(&victim)?;
        conn.shed.notify_one();
        Some(())
    }

    /// A connection closed.
    pub(crate) fn remove(&self, conn: &Conn) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.remove(&conn.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission) -> Option<Arc<Conn>> {
        match a {
            Admission::Admit(c) | Admission::Shed(c) => Some(c),
            Admission::Refuse => None,
        }
    }

    #[test]
    fn at_the_cap_the_connection_idle_longest_makes_room_and_busy_ones_stay() {
        let r = Registry::new(2);
        let busy = admitted(r.admit()).expect("first");
        busy.begin();
        let idle = admitted(r.admit()).expect("second");
        assert!(matches!(r.admit(), Admission::Shed(_)));
        // `idle` was shed; the newcomer is idle now, and `busy` is still counted.
        let conns = r.conns.lock().expect("lock");
        assert!(conns.contains_key(&busy.id) && !conns.contains_key(&idle.id));
    }

    #[test]
    fn with_every_connection_busy_a_new_one_is_refused() {
        let r = Registry::new(1);
        let busy = admitted(r.admit()).expect("first");
        busy.begin();
        assert!(matches!(r.admit(), Admission::Refuse));
        busy.end();
        assert!(matches!(r.admit(), Admission::Shed(_)));
    }

    #[test]
    fn a_connection_is_silent_only_while_idle_and_no_request_has_begun() {
        let r = Registry::new(4);
        let c = admitted(r.admit()).expect("admitted");
        assert!(c.silent_for().is_some());
        c.read_some();
        assert!(c.silent_for().is_none());
        c.begin();
        c.read_some();
        assert!(c.silent_for().is_none());
        c.end();
        assert!(c.silent_for().is_some());
    }
}
