//! The open connections, each counted from its accept until its socket is closed, and which
//! one to close when a new connection needs room.
//!
//! Only a silent connection is shed (nothing in flight, nothing left to send, not one byte
//! of a next request received), the one silent longest first: closing it loses nothing, and
//! since no byte of it is unread, the close is a clean end of stream rather than a reset.
//! When none is silent, a connection whose request head has been arriving for longer than
//! [`SLOW_HEAD`] is shed instead, the one whose head began first: a head comes in one round
//! trip, so one still arriving after a second is a slow or hostile client, which would
//! otherwise hold its place until the header timeout, as many such clients would hold the
//! whole cap (slowloris); and a head begun a moment ago is a client about to be served,
//! better left alone while the newcomer gets a clear 503. Connections with a request in
//! flight or output not yet written are never shed.
//!
//! A shed connection makes room for its newcomer at once, but stays on the books (and in
//! `tollgate_http_connections_open`) until its socket is closed: a silent one closes at once,
//! and one whose request began just as it was chosen closes after answering it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::activity::{Activity, Conn, Shed};

/// A request head arriving for longer than this is slow: when no connection is silent, its
/// connection may be shed.
const SLOW_HEAD: Duration = Duration::from_secs(1);

/// What to do with a new connection.
pub(crate) enum Admission {
    /// Serve it.
    Admit(Arc<Conn>),
    /// Serve it; another connection was asked to close to make room.
    Shed(Arc<Conn>),
    /// No connection can make room: refuse it.
    Refuse,
}

/// The connections open, counted against the cap.
pub(crate) struct Registry {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    conns: HashMap<u64, Arc<Conn>>,
    /// How many of `conns` were shed and have not closed yet: their room is already given.
    leaving: usize,
}

impl Open {
    /// Connections open and not leaving: the ones the cap counts.
    fn staying(&self) -> usize {
        self.conns.len() - self.leaving
    }
}

impl Registry {
    /// A registry admitting at most `cap` connections (at least one).
    pub(crate) fn new(cap: usize) -> Registry {
        Registry::since(cap, Instant::now())
    }

    fn since(cap: usize, epoch: Instant) -> Registry {
        Registry {
            cap: cap.max(1),
            epoch,
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
        }
    }

    /// Admits a new connection, shedding one to make room when the cap is reached.
    pub(crate) fn admit(&self) -> Admission {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let shed = if open.staying() >= self.cap {
            if !self.shed_in(&mut open) {
                return Admission::Refuse;
            }
            true
        } else {
            false
        };
        let conn = Arc::new(Conn::new(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            self.epoch,
        ));
        open.conns.insert(conn.id, conn.clone());
        if shed {
            Admission::Shed(conn)
        } else {
            Admission::Admit(conn)
        }
    }

    /// Asks a connection to close, when one may; true if one was.
    pub(crate) fn shed_one(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        self.shed_in(&mut open)
    }

    fn shed_in(&self, open: &mut Open) -> bool {
        let Some((conn, why)) = self.victim(open) else {
            return false;
        };
        if conn.mark_shed(why) {
            open.leaving += 1;
        }
        conn.shed.notify_one();
        true
    }

    /// The connection silent longest, else the one whose slow head began first; ids break
    /// ties (the older connection goes first).
    fn victim(&self, open: &Open) -> Option<(Arc<Conn>, Shed)> {
        let slow_before = self
            .micros_now()
            .saturating_sub(u64::try_from(SLOW_HEAD.as_micros()).unwrap_or(u64::MAX));
        let mut silent: Option<(u64, u64, &Arc<Conn>)> = None;
        let mut slow: Option<(u64, u64, &Arc<Conn>)> = None;
        for conn in open.conns.values().filter(|c| c.shed_as().is_none()) {
            let (best, since) = match conn.activity() {
                Activity::Silent { since } => (&mut silent, since),
                Activity::Head { since } if since <= slow_before => (&mut slow, since),
                Activity::Head { .. } | Activity::Busy => continue,
            };
            if best.is_none_or(|(s, id, _)| (since, conn.id) < (s, id)) {
                *best = Some((since, conn.id, conn));
            }
        }
        match (silent, slow) {
            (Some((_, _, c)), _) => Some((c.clone(), Shed::Silent)),
            (None, Some((_, _, c))) => Some((c.clone(), Shed::SlowHead)),
            (None, None) => None,
        }
    }

    fn micros_now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A connection's socket is closed.
    pub(crate) fn remove(&self, conn: &Conn) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.conns.remove(&conn.id).is_some() && conn.shed_as().is_some() {
            open.leaving -= 1;
        }
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
    fn at_the_cap_the_connection_silent_longest_makes_room_and_busy_ones_stay() {
        let r = Registry::new(2);
        let busy = admitted(r.admit()).expect("first");
        busy.begin();
        let idle = admitted(r.admit()).expect("second");
        assert!(matches!(r.admit(), Admission::Shed(_)));
        assert_eq!(idle.shed_as(), Some(Shed::Silent));
        assert_eq!(busy.shed_as(), None);
    }

    #[test]
    fn with_every_connection_busy_a_new_one_is_refused() {
        let r = Registry::new(1);
        let busy = admitted(r.admit()).expect("first");
        busy.begin();
        assert!(matches!(r.admit(), Admission::Refuse));
        // Its response is taken by hyper but not yet written: still busy.
        busy.end();
        assert!(matches!(r.admit(), Admission::Refuse));
        busy.flushed();
        assert!(matches!(r.admit(), Admission::Shed(_)));
    }

    #[test]
    fn a_connection_that_began_a_request_is_passed_over_for_a_silent_one() {
        let r = Registry::new(2);
        let begun = admitted(r.admit()).expect("first, idle longest");
        let silent = admitted(r.admit()).expect("second");
        begun.read_some();
        assert!(matches!(r.admit(), Admission::Shed(_)));
        assert_eq!(silent.shed_as(), Some(Shed::Silent));
        assert_eq!(begun.shed_as(), None);
    }

    #[test]
    fn a_head_is_shed_only_when_none_is_silent_and_only_once_it_is_slow() {
        // The registry's clock started ten seconds ago.
        let epoch = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .expect("the clock is past ten seconds");
        let r = Registry::since(3, epoch);
        let fresh = admitted(r.admit()).expect("first");
        fresh.read_some();
        // A connection whose clock starts now: on the registry's clock its head began ten
        // seconds ago.
        let slow = Arc::new(Conn::new(100, Instant::now()));
        slow.read_some();
        r.open
            .lock()
            .expect("lock")
            .conns
            .insert(slow.id, slow.clone());
        let busy = admitted(r.admit()).expect("third");
        busy.begin();
        let newcomer = match r.admit() {
            Admission::Shed(c) => c,
            _ => panic!("the slow head makes room"),
        };
        assert_eq!(slow.shed_as(), Some(Shed::SlowHead));
        // With no silent connection, a head begun a moment ago is not shed.
        newcomer.begin();
        assert!(matches!(r.admit(), Admission::Refuse));
        assert_eq!(fresh.shed_as(), None);
    }

    #[test]
    fn a_shed_connection_counts_until_it_closes_and_its_room_is_given_once() {
        let r = Registry::new(1);
        let first = admitted(r.admit()).expect("first");
        let second = admitted(r.admit()).expect("second, shedding the first");
        assert_eq!(first.shed_as(), Some(Shed::Silent));
        assert_eq!(r.open.lock().expect("lock").conns.len(), 2, "both open");
        // The room the first leaves is the second's: a third sheds the second, not the first
        // again.
        let _third = admitted(r.admit()).expect("third");
        assert_eq!(second.shed_as(), Some(Shed::Silent));
        assert_eq!(r.open.lock().expect("lock").leaving, 2);
        r.remove(&first);
        r.remove(&second);
        let open = r.open.lock().expect("lock");
        assert_eq!((open.conns.len(), open.leaving), (1, 0));
    }
}
