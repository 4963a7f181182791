//! PostgreSQL through sqlx's native driver: one pool, statements prepared and cached per
//! connection, rows kept as sqlx answers them and decoded by name (see `decode`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::decode::{Inner, Row};
use super::query::{Arg, Sql};
use super::redact;
use super::sqlite::Want;
use super::Answer;
use crate::StoreError;

/// How long the first connection may take before start-up gives up: well under the pool's
/// acquire timeout, so an unreachable server is reported at once, not after the pool retried.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the pool, after one direct connection that proves the server is reachable. The pool
/// alone retries a refused connection until its acquire timeout and then reports only that it
/// timed out; the direct attempt reports the driver's own reason (connection refused, unknown
/// host, authentication failed, no such database) with the address it tried.
pub(super) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, String> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("{} is not a PostgreSQL URL: {e}", redact(url)))?;
    let place = place(&options);
    let first = tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            format!(
                "cannot reach PostgreSQL at {place}: no answer within {} s",
                FIRST_CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("cannot reach PostgreSQL at {place}: {}", reason(&e)))?;
    // Closing is a courtesy to the server; the pool opens its own connections.
    let _ = first.close().await;
    PgPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(max_connections.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| {
            format!(
                "cannot open a pool on PostgreSQL at {place}: {}",
                reason(&e)
            )
        })
}

/// `host:port (user U, database D)`: where a connection goes, without the password.
fn place(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or(options.get_username());
    format!(
        "{}:{} (user {}, database {database})",
        options.get_host(),
        options.get_port(),
        options.get_username()
    )
}

/// The driver's own words for why a connection failed, without sqlx's generic prefix
/// ("error communicating with database: ").
fn reason(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// The statement with its values bound.
pub(crate) fn bound(sql: &Sql) -> Query<'_, Postgres, PgArguments> {
    let mut q = sqlx::query(sql.text());
    for a in sql.args() {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_deref()),
            Arg::Bytes(v) => q.bind(v.as_slice()),
            Arg::Float(v) => q.bind(*v),
        };
    }
    q
}

/// Runs `sql` on `executor` (the pool or a transaction's connection).
pub(super) async fn run<'e, E>(executor: E, sql: &Sql, want: Want) -> Result<Answer, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    match want {
        Want::Count => Ok(Answer {
            changed: bound(sql).execute(executor).await?.rows_affected(),
            rows: Vec::new(),
        }),
        Want::First => Ok(Answer {
            changed: 0,
            rows: bound(sql)
                .fetch_optional(executor)
                .await?
                .map(|r| Row(Inner::Postgres(r)))
                .into_iter()
                .collect(),
        }),
        Want::Rows => {
            let rows = bound(sql).fetch_all(executor).await?;
            Ok(Answer {
                changed: 0,
                rows: rows.into_iter().map(|r| Row(Inner::Postgres(r))).collect(),
            })
        }
    }
}
