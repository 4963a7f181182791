//! Connections: which engine a URL names, and the pools for it.
//!
//! SQLite gets one writer connection (SQLite has one writer anyway; a single connection
//! avoids busy retries inside the process) and a pool of readers, in WAL mode. PostgreSQL
//! gets one pool for both. Both are reached through sqlx's `Any` driver, so the operations
//! are written once; [`Dialect`] covers the few statements that differ.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::StoreError;

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

/// The pools of one store.
#[derive(Debug, Clone)]
pub struct Db {
    /// Where writes go.
    pub writer: AnyPool,
    /// Where reads go.
    pub reader: AnyPool,
    /// The engine.
    pub dialect: Dialect,
    /// PostgreSQL only: native connections for the append path, which binds arrays.
    pub pg: Option<sqlx::PgPool>,
}

impl Db {
    /// Connects; a missing SQLite file is created only with `opts.create_if_missing`.
    pub async fn connect(opts: &ConnectOptions) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(&opts.url)?;
        let unavailable =
            |e: sqlx::Error| StoreError::Unavailable(format!("{} ({e})", redact(&opts.url)));
        match dialect {
            Dialect::Sqlite => {
                let url = sqlite_url(&opts.url, opts.create_if_missing);
                let connect = AnyConnectOptions::from_str(&url).map_err(unavailable)?;
                let sync = if opts.sqlite_synchronous_full {
                    "FULL"
                } else {
                    "NORMAL"
                };
                let pragmas = format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -4000;"
                );
                let writer = pool_with_pragmas(1, pragmas.clone())
                    .connect_with(connect.clone())
                    .await
                    .map_err(unavailable)?;
                let reader = pool_with_pragmas(opts.max_connections.clamp(1, 8), pragmas)
                    .connect_with(connect)
                    .await
                    .map_err(unavailable)?;
                Ok(Db {
                    writer,
                    reader,
                    dialect,
                    pg: None,
                })
            }
            Dialect::Postgres => {
                let connect = AnyConnectOptions::from_str(&opts.url).map_err(unavailable)?;
                let pool = AnyPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(connect)
                    .await
                    .map_err(unavailable)?;
                let pg = sqlx::postgres::PgPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&opts.url)
                    .await
                    .map_err(unavailable)?;
                Ok(Db {
                    writer: pool.clone(),
                    reader: pool,
                    dialect,
                    pg: Some(pg),
                })
            }
        }
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }
}

fn pool_with_pragmas(max: u32, pragmas: String) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(&pragmas)).await?;
                Ok(())
            })
        })
}

/// Adds the open mode, unless the URL chooses one: `rwc` creates a missing file, `rw` refuses
/// to.
fn sqlite_url(url: &str, create: bool) -> String {
    let mode = if create { "rwc" } else { "rw" };
    match url.split_once('?') {
        Some((_, query)) if query.split('&').any(|p| p.starts_with("mode=")) => url.to_string(),
        Some(_) => format!("{url}&mode={mode}"),
        None => format!("{url}?mode={mode}"),
    }
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

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
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
    }

    #[test]
    fn a_sqlite_file_is_created_only_when_asked() {
        assert_eq!(
            sqlite_url("sqlite:///d/t.db", true),
            "sqlite:///d/t.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite:///d/t.db", false),
            "sqlite:///d/t.db?mode=rw"
        );
        assert_eq!(
            sqlite_url("sqlite:///d/t.db?cache=shared", false),
            "sqlite:///d/t.db?cache=shared&mode=rw"
        );
        assert_eq!(
            sqlite_url("sqlite://t.db?mode=ro", true),
            "sqlite://t.db?mode=ro"
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
