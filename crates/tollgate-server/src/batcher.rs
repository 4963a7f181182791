//! Group commit: requests hand their items to a writer task (a lane), which gathers whatever
//! has arrived while its previous commit ran and appends it all in one transaction. The fsync
//! (and, on PostgreSQL, the tenant lock) is paid once per batch, and every request is
//! answered only after the commit that holds its items.
//!
//! On SQLite the next batch is gathered while one commits and queued behind it on the writer
//! thread ([`in_flight`]), so the writer goes straight from one commit to the next instead of
//! waiting for this task to be scheduled between them. On PostgreSQL a second commit of the
//! same tenants would only wait for the first on their log heads, with half the batch (and a
//! commit's time is mostly its WAL flush, which the wait does not overlap), so each lane runs
//! one commit at a time. Tenants are dealt out over several lanes ([`lanes`]) in the order
//! they are first seen, so that different tenants commit in parallel, each lane on its own
//! connection. A request's items belong to one tenant, so a request goes to exactly one lane,
//! and one tenant's requests always queue behind each other.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tollgate_store::{AppendItem, Dialect, Recorded, Store, StoreError};

use crate::error::ApiError;
use crate::metrics::Metrics;
use tollgate_api::ErrorCode;

type Reply = oneshot::Sender<Result<Vec<Recorded>, StoreError>>;

struct Job {
    items: Vec<AppendItem>,
    reply: Reply,
}

/// The handle requests use to append.
#[derive(Clone)]
pub struct Batcher {
    lanes: Arc<[mpsc::Sender<Job>]>,
    assigned: Arc<Assigned>,
}

/// Each tenant's lane, given when its first request arrives: the next lane in turn, so that
/// as many tenants as there are lanes each get one of their own.
#[derive(Debug)]
struct Assigned {
    lanes: usize,
    by_tenant: Mutex<HashMap<String, usize>>,
}

impl Assigned {
    fn new(lanes: usize) -> Assigned {
        Assigned {
            lanes: lanes.max(1),
            by_tenant: Mutex::default(),
        }
    }

    fn lane(&self, tenant: &str) -> usize {
        if self.lanes == 1 {
            return 0;
        }
        let mut by_tenant = self.by_tenant.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&lane) = by_tenant.get(tenant) {
            return lane;
        }
        let lane = by_tenant.len() % self.lanes;
        by_tenant.insert(tenant.to_string(), lane);
        lane
    }
}

impl Batcher {
    /// Starts the writer tasks, one per lane. The handle ends when every `Batcher` clone is
    /// dropped and the queues are drained, so awaiting it after shutdown finishes in-flight
    /// writes. `max_connections` is the database pool's size, which bounds the lanes.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        max_events: usize,
        capacity: usize,
        linger: Duration,
        max_connections: u32,
    ) -> (Batcher, JoinHandle<()>) {
        let mut senders = Vec::new();
        let mut writers = Vec::new();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        for _ in 0..lanes(store.dialect(), max_connections, cores) {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            senders.push(tx);
            writers.push(tokio::spawn(run(
                store.clone(),
                metrics.clone(),
                rx,
                max_events.max(1),
                linger,
            )));
        }
        let handle = tokio::spawn(async move {
            for writer in writers {
                let _ = writer.await;
            }
        });
        let batcher = Batcher {
            assigned: Arc::new(Assigned::new(senders.len())),
            lanes: senders.into(),
        };
        (batcher, handle)
    }

    /// Appends `items` and waits for the commit.
    pub async fn append(&self, items: Vec<AppendItem>) -> Result<Vec<Recorded>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let tenant = items.first().map_or("", |i| i.event.tenant_id.as_str());
        self.lanes[self.assigned.lane(tenant)]
            .try_send(Job { items, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    overloaded("the ingestion queue is full; retry shortly")
                }
                mpsc::error::TrySendError::Closed(_) => overloaded("the server is shutting down"),
            })?;
        match answer.await {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(overloaded(
                "the write was interrupted; retry with the same request_id",
            )),
        }
    }
}

/// How many commits of one lane run at once on `dialect` (see the module docs).
fn in_flight(dialect: Dialect) -> u32 {
    match dialect {
        Dialect::Sqlite => 2,
        Dialect::Postgres => 1,
    }
}

/// How many commit lanes `dialect` gets: SQLite has one writer. On PostgreSQL a commit
/// gathers every tenant queued on its lane (their log heads locked in one statement, their
/// rows written in one), so a lane per core keeps the cores busy while one commit waits on
/// the network or the disk; more lanes only spread the same events over more, smaller
/// commits (docs/benchmarks.md). Each lane holds at most one of the pool's
/// `max_connections` while it commits, and half of the pool is left to reads,
/// authorizations and the background tasks.
fn lanes(dialect: Dialect, max_connections: u32, cores: usize) -> usize {
    match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres => cores.clamp(1, (max_connections as usize / 2).max(1)),
    }
}

fn overloaded(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, message)
}

async fn run(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Job>,
    max_events: usize,
    linger: Duration,
) {
    let in_flight = in_flight(store.dialect());
    let slots = Arc::new(Semaphore::new(in_flight as usize));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let deadline = Instant::now() + linger;
        let mut events = first.items.len();
        let mut jobs = vec![first];
        // Take what is queued; then, for up to `linger` after the first request, wait for
        // more: a fuller commit writes each page of the indexes once for more events.
        while events < max_events {
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(_) if linger.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                },
            };
            events += job.items.len();
            jobs.push(job);
        }
        let (store, metrics) = (store.clone(), metrics.clone());
        tokio::spawn(async move {
            commit(&*store, &metrics, jobs).await;
            drop(slot);
        });
    }
    // The task ends only once the last commits have.
    let _ = slots.acquire_many(in_flight).await;
}

async fn commit(store: &dyn Store, metrics: &Metrics, jobs: Vec<Job>) {
    let lengths: Vec<usize> = jobs.iter().map(|j| j.items.len()).collect();
    let mut replies = Vec::with_capacity(jobs.len());
    let total: usize = lengths.iter().sum();
    let mut items = Vec::new();
    for job in jobs {
        replies.push(job.reply);
        // A request that is the whole commit (a batch of a thousand) is taken as it is: its
        // items are not copied.
        if job.items.len() == total {
            items = job.items;
        } else {
            items.reserve(total - items.len());
            items.extend(job.items);
        }
    }
    let single = replies.len() == 1;
    let items = Arc::new(items);
    match timed_append(store, metrics, items.clone()).await {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (reply, n) in replies.into_iter().zip(lengths) {
                let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
            }
        }
        Err(e) if single || matches!(e, StoreError::Unavailable(_)) => {
            // A lost connection may have lost the commit or only its answer: retrying items
            // without a request id could record them twice, so each request gets the error.
            let message = e.to_string();
            let mut first = Some(e);
            for reply in replies {
                let err = first
                    .take()
                    .unwrap_or_else(|| StoreError::Unavailable(message.clone()));
                let _ = reply.send(Err(err));
            }
        }
        Err(e) => {
            // One request's bad items must not fail the others: retry each request alone.
            tracing::warn!(error = %e, requests = replies.len(), "group commit failed; retrying requests one by one");
            let mut start = 0;
            for (reply, n) in replies.into_iter().zip(lengths) {
                let own = Arc::new(items[start..start + n].to_vec());
                let _ = reply.send(timed_append(store, metrics, own).await);
                start += n;
            }
        }
    }
}

async fn timed_append(
    store: &dyn Store,
    metrics: &Metrics,
    items: Arc<Vec<AppendItem>>,
) -> Result<Vec<Recorded>, StoreError> {
    let n = items.len();
    let started = Instant::now();
    let result = store.append_shared(items).await;
    metrics
        .commit_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.commit_batch_events.observe(n as f64);
    match &result {
        Ok(outcomes) => {
            let dup = outcomes.iter().filter(|o| o.duplicate).count() as u64;
            metrics
                .ingested_events
                .fetch_add(n as u64 - dup, Ordering::Relaxed);
            metrics.duplicate_events.fetch_add(dup, Ordering::Relaxed);
        }
        Err(_) => {
            metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_take_the_lanes_in_turn_and_keep_theirs() {
        let assigned = Assigned::new(3);
        let first: Vec<usize> = ["a", "b", "c", "d"]
            .iter()
            .map(|t| assigned.lane(t))
            .collect();
        assert_eq!(first, vec![0, 1, 2, 0]);
        assert_eq!(
            (assigned.lane("c"), assigned.lane("a"), assigned.lane("e")),
            (2, 0, 1)
        );
    }

    #[test]
    fn one_lane_takes_every_tenant() {
        let assigned = Assigned::new(1);
        assert!(["a", "b", "c"].iter().all(|t| assigned.lane(t) == 0));
    }

    #[test]
    fn postgresql_gets_a_lane_per_core_within_half_the_pool_and_sqlite_one() {
        assert_eq!(lanes(Dialect::Sqlite, 16, 8), 1);
        assert_eq!(lanes(Dialect::Postgres, 16, 2), 2);
        assert_eq!(lanes(Dialect::Postgres, 16, 32), 8);
        assert_eq!(lanes(Dialect::Postgres, 64, 32), 32);
        assert_eq!(lanes(Dialect::Postgres, 6, 8), 3);
        assert_eq!(lanes(Dialect::Postgres, 1, 8), 1);
        assert_eq!(lanes(Dialect::Postgres, 16, 0), 1);
    }
}
