//! Throwaway databases for tests (feature `testing`).
//!
//! Every test gets a fresh SQLite file in a temporary directory and, when
//! `TOLLGATE_TEST_DATABASE_URL` names a PostgreSQL server (any database on it), a fresh
//! PostgreSQL database created for the test and dropped afterwards. Under `CI=true` a missing
//! or unreachable PostgreSQL fails the test instead of skipping it.

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};

use crate::{open, ConnectOptions, Store};

/// The environment variable naming the PostgreSQL server for tests.
pub const TEST_DATABASE_URL: &str = "TOLLGATE_TEST_DATABASE_URL";

/// A database that exists for one test.
pub struct TestDatabase {
    /// The store over it, migrated.
    pub store: Arc<dyn Store>,
    /// Its URL, for tests that start a server process on it.
    pub url: String,
    /// The engine's name, for assertion messages.
    pub engine: &'static str,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        let store = open(&ConnectOptions::new(&url)).await.expect("open sqlite");
        TestDatabase {
            store,
            url,
            engine: "sqlite",
            _dir: Some(dir),
            drop_pg: None,
        }
    }

    /// A fresh PostgreSQL database, when the test server is configured.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{TEST_DATABASE_URL} must name a PostgreSQL server when CI=true");
                }
                return None;
            }
        };
        let name = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at {}: {e}", crate::redact(&admin))
        });
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        let store = open(&ConnectOptions::new(&url))
            .await
            .expect("open postgres");
        Some(TestDatabase {
            store,
            url,
            engine: "postgres",
            _dir: None,
            drop_pg: Some((admin, name)),
        })
    }

    /// SQLite, and PostgreSQL when configured: the engines a contract test runs on.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![TestDatabase::sqlite().await];
        dbs.extend(TestDatabase::postgres().await);
        dbs
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.drop_pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which is blocked here; the clean-up needs a
        // runtime of its own, and must not wait on the pool (its tasks live on the blocked
        // runtime): FORCE ends the pool's connections instead.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host = match path_start {
        Some(p) => &base[..p],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}
