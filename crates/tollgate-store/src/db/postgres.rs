//! PostgreSQL through sqlx's native driver: one pool, statements prepared and cached per
//! connection, rows kept as sqlx answers them and decoded by name (see `decode`).

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres};

use super::decode::{Inner, Row};
use super::query::{Arg, Sql};
use super::sqlite::Want;
use super::Answer;
use crate::StoreError;

/// Opens the pool.
pub(super) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(max_connections.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
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
