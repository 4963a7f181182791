//! The store's one error type. Handlers map it to a status once, in the server's `ApiError`.

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
    /// Stored data broke an invariant the code relies on.
    #[error("stored data is inconsistent: {0}")]
    Invariant(String),
    /// The database could not be reached or failed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    StoreError::Conflict(db.message().to_string())
                }
                sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation
                | sqlx::error::ErrorKind::CheckViolation => {
                    StoreError::Invariant(db.message().to_string())
                }
                _ => StoreError::Unavailable(e.to_string()),
            },
            sqlx::Error::RowNotFound => StoreError::NotFound("row".to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::Invariant(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}
