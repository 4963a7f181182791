//! Connections: which engine a URL names, and one driver for each.
//!
//! SQLite goes through rusqlite: one writer thread owns the only write connection and a pool
//! of read-only connections serves reads ([`sqlite`]). PostgreSQL goes through sqlx's native
//! driver, one pool for both ([`postgres`]). The operations are written once, against
//! [`Sql`] statements run [`On`] a [`Db`] or inside a [`Tx`], answering [`Row`]s that decode by
//! column name; [`Dialect`] covers the few statements that differ.

mod decode;
mod postgres;
mod query;
pub(crate) mod sqlite;

use std::sync::Arc;

pub(crate) use decode::{row, FromRow, Row};
pub(crate) use postgres::bound;
pub(crate) use query::{numbered, query, Arg, On, Sql, Tx};

use crate::StoreError;
use query::TxInner;

/// The SQL engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// Recognises the engine of a database URL.
    pub fn of_url(url: &str) -> Result<Dialect, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(StoreError::Unavailable(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://...",
                redact(url)
            )))
        }
    }

    /// The engine's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// How a store connects.
///
/// Pools do not ping a connection before lending it (that would double the round trips of
/// every operation); a broken connection fails its operation instead, and is replaced.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// Pool size: PostgreSQL connections, or SQLite readers.
    pub max_connections: u32,
    /// SQLite only: fsync every commit (`FULL`, durable against power loss) or only at
    /// checkpoints (`NORMAL`, durable against a process crash).
    pub sqlite_synchronous_full: bool,
    /// SQLite only: create the file when it does not exist. Only what deliberately makes a
    /// database (`serve`, `migrate`, tests, benchmarks) sets it; anything else opening a
    /// path where no database is would silently answer from a new, empty one.
    pub create_if_missing: bool,
}

impl ConnectOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            max_connections: 16,
            sqlite_synchronous_full: true,
            create_if_missing: true,
        }
    }
}

/// The connections of one store.
#[derive(Debug, Clone)]
pub struct Db {
    /// The engine.
    pub dialect: Dialect,
    pub(crate) engine: Engine,
}

#[derive(Debug, Clone)]
pub(crate) enum Engine {
    Sqlite(Arc<sqlite::Sqlite>),
    Postgres(sqlx::PgPool),
}

/// What a statement did: how many rows it changed, or the rows it answered.
pub(crate) struct Answer {
    pub(crate) changed: u64,
    pub(crate) rows: Vec<Row>,
}

impl Db {
    /// Connects; a missing SQLite file is created only with `opts.create_if_missing`.
    pub async fn connect(opts: &ConnectOptions) -> Result<Db, StoreError> {
        let dialect = Dialect::of_url(&opts.url)?;
        let engine = match dialect {
            Dialect::Sqlite => {
                let path = sqlite_path(&opts.url).ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "'{}' names no database file: use sqlite://PATH",
                        opts.url
                    ))
                })?;
                let mode = sqlite_mode(&opts.url);
                let sqlite = sqlite::Sqlite::open(&sqlite::Options {
                    path,
                    synchronous_full: opts.sqlite_synchronous_full,
                    create: mode.map_or(opts.create_if_missing, |m| m == "rwc"),
                    readers: opts.max_connections.clamp(1, 8) as usize,
                })?;
                Engine::Sqlite(Arc::new(sqlite))
            }
            Dialect::Postgres => Engine::Postgres(
                postgres::connect(&opts.url, opts.max_connections)
                    .await
                    .map_err(StoreError::Unavailable)?,
            ),
        };
        Ok(Db { dialect, engine })
    }

    /// Starts a write transaction. SQLite's is `BEGIN IMMEDIATE` on the writer thread, taking
    /// the write lock up front, so a transaction that reads before it writes can never fail
    /// to upgrade its lock.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        let inner = match &self.engine {
            Engine::Sqlite(s) => TxInner::Sqlite(s.begin().await?),
            Engine::Postgres(pool) => TxInner::Postgres(Box::new(pool.begin().await?)),
        };
        Ok(Tx { inner })
    }

    /// Where a single write outside any transaction runs: SQLite's writer thread, or the pool.
    pub(crate) fn write(&self) -> On<'_> {
        On::Write(self)
    }

    /// The SQLite engine, for the operations written for it alone (the append, bulk reads).
    pub(crate) fn sqlite(&self) -> Option<&sqlite::Sqlite> {
        match &self.engine {
            Engine::Sqlite(s) => Some(s),
            Engine::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for the operations written for it alone (the append).
    pub(crate) fn postgres(&self) -> Option<&sqlx::PgPool> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(pool) => Some(pool),
        }
    }

    /// Closes every connection, waiting for the work already queued.
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(s) => s.close().await,
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}

/// The `mode=` a SQLite URL chooses, if any.
fn sqlite_mode(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|p| p.strip_prefix("mode="))
}

/// The file a `sqlite://PATH[?…]` (or `sqlite:PATH`) URL names; None for other engines and
/// for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// A URL with its passwords replaced, for messages and logs: the one in its user information
/// (`user:secret@`) and any a driver reads from its query (`?password=`, `?sslpassword=`).
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _))
                    if key.eq_ignore_ascii_case("password")
                        || key.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{key}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&password=hunter2&sslpassword=k"),
            "postgres://u@h/db?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            redact("postgres://u:a@b@h/db?PASSWORD=x"),
            "postgres://u:***@h/db?PASSWORD=***"
        );
    }

    #[test]
    fn a_sqlite_file_is_created_only_when_asked() {
        assert_eq!(sqlite_mode("sqlite:///d/t.db"), None);
        assert_eq!(
            sqlite_mode("sqlite:///d/t.db?cache=shared&mode=rw"),
            Some("rw")
        );
        assert_eq!(
            sqlite_path("sqlite://./data/t.db?mode=rw"),
            Some(std::path::PathBuf::from("./data/t.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn the_engine_comes_from_the_url_scheme() {
        assert_eq!(Dialect::of_url("sqlite://a.db").ok(), Some(Dialect::Sqlite));
        assert_eq!(
            Dialect::of_url("postgresql://h/db").ok(),
            Some(Dialect::Postgres)
        );
        assert!(Dialect::of_url("mysql://h/db").is_err());
    }
}

#[cfg(all(test, feature = "testing"))]
mod engine_tests;
