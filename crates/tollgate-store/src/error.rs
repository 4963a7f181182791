//! The store's one error type. Handlers map it to a status once, in the server's `ApiError`.
//!
//! Driver errors are classified here, by SQLSTATE on PostgreSQL and by result code on
//! SQLite, never by message text: a transaction the engine aborted to break a deadlock or a
//! serialization conflict is [`StoreError::Contention`] (the store retries it whole); a lost
//! connection, a timeout or a full disk is [`StoreError::Unavailable`]; a value the database
//! refuses is [`StoreError::Rejected`]; anything else is a bug, [`StoreError::Invariant`].

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The operation conflicts with what is stored (a duplicate name, a changed price).
    #[error("{0}")]
    Conflict(String),
    /// A concurrent change made the operation's reads stale; running it again from the start
    /// may succeed (a receipt "since the last receipt" that another receipt overtook).
    #[error("{0}")]
    Stale(String),
    /// The database aborted the transaction to resolve a deadlock or a serialization
    /// conflict (or a SQLite snapshot went stale). Nothing was written; the whole
    /// transaction may be run again.
    #[error("transaction aborted by a concurrent one: {0}")]
    Contention(String),
    /// The database refused a value (a data error, or a constraint other than uniqueness):
    /// bad input that got past validation.
    #[error("the database refused a value: {0}")]
    Rejected(String),
    /// Stored data broke an invariant the code relies on, or the code sent the database
    /// something it does not understand.
    #[error("stored data is inconsistent: {0}")]
    Invariant(String),
    /// The database could not be reached, timed out or ran out of resources.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether running the whole transaction again may succeed (nothing was committed).
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }
}

/// What a database error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Contention,
    Unavailable,
    Conflict,
    Rejected,
    Bug,
}

/// Classifies a PostgreSQL SQLSTATE (Appendix A of the PostgreSQL manual).
fn postgres_class(code: &str) -> Class {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Class::Contention,
        // lock_not_available (lock_timeout), query_canceled (statement_timeout)
        "55P03" | "57014" => Class::Unavailable,
        // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped,
        // idle_session_timeout
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" => Class::Unavailable,
        // read_only_sql_transaction (a primary that became a standby after a failover),
        // idle_in_transaction_session_timeout
        "25006" | "25P03" => Class::Unavailable,
        // unique_violation; foreign_key_violation (the row referred to went away
        // concurrently): both a conflict with what is stored
        "23505" | "23503" => Class::Conflict,
        _ => match code.get(..2) {
            // connection_exception, insufficient_resources, system_error
            Some("08" | "53" | "58") => Class::Unavailable,
            // data_exception (a NUL byte, a bad encoding, a number out of range),
            // integrity_constraint_violation, program_limit_exceeded (a value too large for
            // an index): bad input that got past validation, never worth a retry
            Some("22" | "23" | "54") => Class::Rejected,
            _ => Class::Bug,
        },
    }
}

/// Classifies a SQLite extended result code (https://sqlite.org/rescode.html).
fn sqlite_class(extended: i32) -> Class {
    match extended {
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
        2067 | 1555 => return Class::Conflict,
        // SQLITE_BUSY_SNAPSHOT: a read transaction's snapshot went stale before it could
        // write; running it again reads afresh.
        517 => return Class::Contention,
        _ => {}
    }
    match extended & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED: another connection held the lock past the busy
        // timeout, which already waited; waiting again would stall the only writer.
        5 | 6 => Class::Unavailable,
        // SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY
        7 | 10 | 13 | 14 | 8 => Class::Unavailable,
        // SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE
        18 | 19 | 20 | 25 => Class::Rejected,
        _ => Class::Bug,
    }
}

impl Class {
    fn error(self, message: String) -> StoreError {
        match self {
            Class::Contention => StoreError::Contention(message),
            Class::Unavailable => StoreError::Unavailable(message),
            Class::Conflict => StoreError::Conflict(message),
            Class::Rejected => StoreError::Rejected(message),
            Class::Bug => StoreError::Invariant(message),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let class = postgres_class(&code);
                class.error(db.message().to_string())
            }
            sqlx::Error::RowNotFound => StoreError::NotFound("row".to_string()),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Invariant(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, message) => {
                let message = message.clone().unwrap_or_else(|| e.to_string());
                sqlite_class(f.extended_code).error(message)
            }
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("row".to_string()),
            _ => StoreError::Invariant(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_deadlocks_and_serialization_failures_are_contention() {
        assert_eq!(postgres_class("40P01"), Class::Contention);
        assert_eq!(postgres_class("40001"), Class::Contention);
    }

    #[test]
    fn postgres_bad_values_are_rejected_not_unavailable() {
        // invalid_byte_sequence_for_encoding: a NUL byte in a text value
        assert_eq!(postgres_class("22021"), Class::Rejected);
        assert_eq!(postgres_class("22003"), Class::Rejected);
        assert_eq!(postgres_class("23514"), Class::Rejected);
        assert_eq!(postgres_class("23505"), Class::Conflict);
        assert_eq!(postgres_class("23503"), Class::Conflict);
        // index row size exceeds the btree maximum: input too large, not an outage
        assert_eq!(postgres_class("54000"), Class::Rejected);
    }

    #[test]
    fn postgres_lost_connections_and_timeouts_are_unavailable() {
        for code in [
            "08006", "08003", "57P01", "57014", "53300", "55P03", "25006",
        ] {
            assert_eq!(postgres_class(code), Class::Unavailable, "{code}");
        }
    }

    #[test]
    fn postgres_errors_of_the_code_itself_are_bugs() {
        // syntax_error, undefined_column
        assert_eq!(postgres_class("42601"), Class::Bug);
        assert_eq!(postgres_class("42703"), Class::Bug);
    }

    #[test]
    fn sqlite_codes_are_classified_by_their_primary_code() {
        assert_eq!(sqlite_class(5), Class::Unavailable);
        assert_eq!(sqlite_class(517), Class::Contention); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(sqlite_class(13), Class::Unavailable);
        assert_eq!(sqlite_class(778), Class::Unavailable); // SQLITE_IOERR_WRITE
        assert_eq!(sqlite_class(2067), Class::Conflict);
        assert_eq!(sqlite_class(275), Class::Rejected); // SQLITE_CONSTRAINT_CHECK
        assert_eq!(sqlite_class(1), Class::Bug); // SQLITE_ERROR: bad SQL
    }
}
