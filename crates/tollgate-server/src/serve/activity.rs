//! What one connection is doing, as its task, its requests, its socket and the acceptor see
//! it: a request in flight, output not yet written, a next request arriving, or silence; and
//! since when. The registry sheds by it and the connection's task times out by it.
//!
//! The fields are written by the connection's own task (the socket, hyper's calls into the
//! service and its drops of response bodies) and read by the acceptor on another thread. The
//! acceptor may see a connection a moment out of date; the task checks again before it acts
//! on a shed ([`super::conn`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// "Not now" for the instants kept as microseconds since the epoch.
const NEVER: u64 = u64::MAX;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// A request is in flight, or a response is not yet all written to the socket.
    Busy,
    /// Bytes of a next request have arrived (the first at `since`, microseconds since the
    /// epoch), and no complete head yet.
    Head { since: u64 },
    /// Nothing to send and nothing received since it became idle at `since`.
    Silent { since: u64 },
}

/// Why the registry asked a connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// It was silent: it closes at once unless a request began meanwhile, which it answers
    /// first.
    Silent = 1,
    /// Its head had been arriving for a long time and no connection was silent: it closes at
    /// once.
    SlowHead = 2,
}

/// One connection's state, shared by its task, its requests, its socket and the acceptor.
pub(crate) struct Conn {
    pub(crate) id: u64,
    epoch: Instant,
    /// Requests whose handler has started and whose response body hyper has not finished.
    in_flight: AtomicUsize,
    /// Output handed to the socket that hyper has not yet seen all written: hyper takes a
    /// response body before it has written it, and may hold much of it in its buffer.
    unflushed: AtomicBool,
    /// Since when the socket has refused output with none written since; NEVER when it is
    /// not stalled.
    stalled_since: AtomicU64,
    /// When it last became idle: opened, or its last response all written.
    idle_since: AtomicU64,
    /// When the last byte arrived; NEVER before the first.
    last_read: AtomicU64,
    /// When the first byte of a next request arrived since it became idle; NEVER if none.
    head_since: AtomicU64,
    /// Why it was shed (a [`Shed`]), 0 while it is not; set under the registry's lock.
    shed_as: AtomicU8,
    /// Set once the connection is to close after its current request: a next response says
    /// `Connection: close`.
    closing: AtomicBool,
    /// Wakes the connection's task when it is shed.
    pub(crate) shed: Notify,
}

impl Conn {
    /// A new connection, idle from now.
    pub(crate) fn new(id: u64, epoch: Instant) -> Conn {
        Conn {
            id,
            epoch,
            in_flight: AtomicUsize::new(0),
            unflushed: AtomicBool::new(false),
            stalled_since: AtomicU64::new(NEVER),
            idle_since: AtomicU64::new(micros(epoch)),
            last_read: AtomicU64::new(NEVER),
            head_since: AtomicU64::new(NEVER),
            shed_as: AtomicU8::new(0),
            closing: AtomicBool::new(false),
            shed: Notify::new(),
        }
    }

    /// What it is doing now.
    pub(crate) fn activity(&self) -> Activity {
        if self.in_flight.load(Ordering::Acquire) > 0 || self.unflushed.load(Ordering::Acquire) {
            return Activity::Busy;
        }
        match self.head_since.load(Ordering::Acquire) {
            NEVER => Activity::Silent {
                since: self.idle_since.load(Ordering::Acquire),
            },
            since => Activity::Head { since },
        }
    }

    /// A request's handler starts.
    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NEVER, Ordering::Release);
    }

    /// Hyper is done with a response body (or the request was abandoned). What it took of
    /// the body may still be in its buffer: the socket's next flush says when it is written.
    pub(crate) fn end(&self) {
        self.unflushed.store(true, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Bytes arrived from the client.
    pub(crate) fn read_some(&self) {
        let now = micros(self.epoch);
        self.last_read.store(now, Ordering::Release);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            // Only the first byte of a head marks its start.
            let _ =
                self.head_since
                    .compare_exchange(NEVER, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// A write to the socket wrote something (`progress`) or found its buffer full.
    pub(crate) fn wrote(&self, progress: bool) {
        self.unflushed.store(true, Ordering::Release);
        if progress {
            self.stalled_since.store(NEVER, Ordering::Release);
        } else {
            let now = micros(self.epoch);
            let _ = self.stalled_since.compare_exchange(
                NEVER,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Everything hyper had to send is written: hyper flushes the socket only once its own
    /// buffer is empty.
    pub(crate) fn flushed(&self) {
        self.stalled_since.store(NEVER, Ordering::Release);
        // Only this connection's task writes these: the date first, so that the acceptor
        // never sees it silent since before this response.
        if self.unflushed.load(Ordering::Acquire) {
            self.idle_since.store(micros(self.epoch), Ordering::Release);
            self.unflushed.store(false, Ordering::Release);
        }
    }

    /// How long output has waited on a socket that takes none; None when it is not waiting.
    pub(crate) fn stalled_for(&self) -> Option<Duration> {
        match self.stalled_since.load(Ordering::Acquire) {
            NEVER => None,
            since => Some(self.since(since)),
        }
    }

    /// How long it has received nothing with nothing in flight or to send: a head that stops
    /// arriving is as quiet as a connection between requests. None while busy.
    pub(crate) fn quiet_for(&self) -> Option<Duration> {
        if self.activity() == Activity::Busy {
            return None;
        }
        let idle = self.idle_since.load(Ordering::Acquire);
        let read = match self.last_read.load(Ordering::Acquire) {
            NEVER => 0,
            read => read,
        };
        Some(self.since(idle.max(read)))
    }

    /// Marks it shed for `why`; false if it was already. Under the registry's lock.
    pub(crate) fn mark_shed(&self, why: Shed) -> bool {
        self.shed_as.swap(why as u8, Ordering::AcqRel) == 0
    }

    /// Why it was shed, if it was.
    pub(crate) fn shed_as(&self) -> Option<Shed> {
        match self.shed_as.load(Ordering::Acquire) {
            1 => Some(Shed::Silent),
            2 => Some(Shed::SlowHead),
            _ => None,
        }
    }

    /// The connection is to close after its current request (or the one arriving).
    pub(crate) fn close_after_request(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Whether the connection is to close after its current request.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn since(&self, then: u64) -> Duration {
        Duration::from_micros(micros(self.epoch).saturating_sub(then))
    }
}

fn micros(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(NEVER - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_silent_only_with_nothing_in_flight_to_send_or_arriving() {
        let c = Conn::new(0, Instant::now());
        assert!(matches!(c.activity(), Activity::Silent { .. }));
        c.read_some();
        assert!(matches!(c.activity(), Activity::Head { .. }));
        c.begin();
        c.read_some();
        assert_eq!(c.activity(), Activity::Busy);
        // Hyper took the whole body, but it is not written yet.
        c.end();
        assert_eq!(c.activity(), Activity::Busy);
        assert!(c.quiet_for().is_none());
        c.wrote(false);
        assert!(c.stalled_for().is_some());
        c.wrote(true);
        assert!(c.stalled_for().is_none());
        c.flushed();
        assert!(matches!(c.activity(), Activity::Silent { .. }));
        assert!(c.quiet_for().is_some());
    }

    #[test]
    fn a_head_is_dated_by_its_first_byte() {
        let c = Conn::new(0, Instant::now());
        c.read_some();
        let Activity::Head { since: first } = c.activity() else {
            panic!("a head");
        };
        std::thread::sleep(Duration::from_millis(2));
        c.read_some();
        assert_eq!(c.activity(), Activity::Head { since: first });
    }
}
