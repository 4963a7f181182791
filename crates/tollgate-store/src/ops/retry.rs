//! Running a write transaction again when the database aborted it for contention.
//!
//! The lock order (see the `ops` module) rules out deadlocks between Tollgate's own
//! transactions, but PostgreSQL may still abort one (a lock taken by a foreign key check, a
//! serialization failure), and a SQLite snapshot may go stale. Such a transaction wrote
//! nothing, and every operation is
//! idempotent by construction (it reads its state under lock, and repeats are recognised by
//! request id or idempotency key), so it is run again whole, a bounded number of times,
//! after a short randomised pause. Only then does the caller see
//! [`StoreError::Unavailable`] (a 503).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::StoreError;

/// How many times a transaction is tried in all.
pub(crate) const ATTEMPTS: u32 = 8;

/// Runs `op` until it succeeds, fails for another reason, or has been aborted for contention
/// [`ATTEMPTS`] times; counts each new attempt in `retries`.
pub(crate) async fn retrying<T, F, Fut>(
    retries: &AtomicU64,
    what: &'static str,
    mut op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(StoreError::Contention(cause)) if attempt < ATTEMPTS => {
                retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(operation = what, attempt, %cause, "transaction aborted for contention; running it again");
                tokio::time::sleep(pause(attempt)).await;
                attempt += 1;
            }
            Err(StoreError::Contention(cause)) => {
                return Err(StoreError::Unavailable(format!(
                    "{what}: aborted for contention {ATTEMPTS} times in a row (last: {cause})"
                )))
            }
            other => return other,
        }
    }
}

/// Up to 1 ms, 2 ms, 4 ms, … (at most 64 ms) before attempt `attempt + 1`, at random so that
/// the transactions that collided do not collide again.
fn pause(attempt: u32) -> Duration {
    let ceiling_us = 1_000u64 << attempt.min(6);
    Duration::from_micros(rand::thread_rng().gen_range(ceiling_us / 4..=ceiling_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn a_transaction_aborted_for_contention_is_run_again_until_it_succeeds() {
        let tries = Cell::new(0);
        let result = retrying(&AtomicU64::new(0), "test", || {
            tries.set(tries.get() + 1);
            let n = tries.get();
            async move {
                if n < 3 {
                    Err(StoreError::Contention("deadlock detected".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
    }

    #[tokio::test]
    async fn contention_that_never_ends_becomes_unavailable_after_the_last_attempt() {
        let tries = Cell::new(0);
        let result: Result<(), _> = retrying(&AtomicU64::new(0), "test", || {
            tries.set(tries.get() + 1);
            async { Err(StoreError::Contention("deadlock detected".into())) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert_eq!(tries.get(), ATTEMPTS);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let tries = Cell::new(0);
        let result: Result<(), _> = retrying(&AtomicU64::new(0), "test", || {
            tries.set(tries.get() + 1);
            async { Err(StoreError::Conflict("taken".into())) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::Conflict(_))));
        assert_eq!(tries.get(), 1);
    }
}
