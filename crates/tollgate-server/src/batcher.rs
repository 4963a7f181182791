//! Group commit: requests hand their items to one writer task, which gathers whatever has
//! arrived while the previous commit ran and appends it all in one transaction. The fsync
//! (and, on PostgreSQL, the tenant lock) is paid once per batch, and every request is
//! answered only after the commit that holds its items.
//!
//! On SQLite the next batch is gathered while one commits and queued behind it on the writer
//! thread ([`in_flight`]), so the writer goes straight from one commit to the next instead of
//! waiting for this task to be scheduled between them. On PostgreSQL a second commit would
//! only queue for the tenant's lock with a smaller batch, so one commit runs at a time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
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
    tx: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the writer task. It ends when every `Batcher` clone is dropped and the queue
    /// is drained, so awaiting the handle after shutdown finishes in-flight writes.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        max_events: usize,
        capacity: usize,
        linger: Duration,
    ) -> (Batcher, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = tokio::spawn(run(store, metrics, rx, max_events.max(1), linger));
        (Batcher { tx }, handle)
    }

    /// Appends `items` and waits for the commit.
    pub async fn append(&self, items: Vec<AppendItem>) -> Result<Vec<Recorded>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
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

/// How many commits run at once on `dialect` (see the module docs).
fn in_flight(dialect: Dialect) -> u32 {
    match dialect {
        Dialect::Sqlite => 2,
        Dialect::Postgres => 1,
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
    let mut items = Vec::with_capacity(lengths.iter().sum());
    for job in jobs {
        replies.push(job.reply);
        items.extend(job.items);
    }
    let single = replies.len() == 1;
    match timed_append(store, metrics, &items).await {
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
                let _ = reply.send(timed_append(store, metrics, &items[start..start + n]).await);
                start += n;
            }
        }
    }
}

async fn timed_append(
    store: &dyn Store,
    metrics: &Metrics,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    let n = items.len();
    let started = Instant::now();
    let result = store.append_usage(items).await;
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
