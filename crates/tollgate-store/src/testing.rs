//! Throwaway databases for tests (feature `testing`).
//!
//! Every test gets a fresh SQLite file in a temporary directory and, when
//! `TOLLGATE_TEST_DATABASE_URL` names a PostgreSQL server (any database on it), a fresh
//! PostgreSQL database created for the test and dropped afterwards. Under `CI=true` a missing
//! or unreachable PostgreSQL fails the test instead of skipping it.

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};

use crate::{open, ConnectOptions, SqlStore, Store, StoreError};

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
        let (dir, url) = sqlite_location();
        TestDatabase::opened(url, "sqlite", Some(dir), None).await
    }

    /// A fresh PostgreSQL database, when the test server is configured.
    pub async fn postgres() -> Option<TestDatabase> {
        let (admin, name, url) = postgres_location().await?;
        Some(TestDatabase::opened(url, "postgres", None, Some((admin, name))).await)
    }

    /// SQLite, and PostgreSQL when configured: the engines a contract test runs on.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![TestDatabase::sqlite().await];
        dbs.extend(TestDatabase::postgres().await);
        dbs
    }

    /// As [`TestDatabase::all`], but each database as an older Tollgate left it: migrated up to
    /// `version`, with `sql` (rows in that schema; SQL both engines accept) run on it, then
    /// opened as this version opens a database, applying the migrations after `version`.
    pub async fn all_upgraded(version: i64, sql: &str) -> Vec<TestDatabase> {
        let (dir, url) = sqlite_location();
        older(&url, version, sql).await;
        let mut dbs = vec![TestDatabase::opened(url, "sqlite", Some(dir), None).await];
        if let Some((admin, name, url)) = postgres_location().await {
            older(&url, version, sql).await;
            dbs.push(TestDatabase::opened(url, "postgres", None, Some((admin, name))).await);
        }
        dbs
    }

    /// Another store on this database, as a second process sharing it opens it. Dropping it
    /// leaves the database alone; it must not outlive `self`, which owns it.
    pub async fn another(&self) -> TestDatabase {
        TestDatabase::opened(self.url.clone(), self.engine, None, None).await
    }

    async fn opened(
        url: String,
        engine: &'static str,
        dir: Option<tempfile::TempDir>,
        drop_pg: Option<(String, String)>,
    ) -> TestDatabase {
        let store = open(&ConnectOptions::new(&url))
            .await
            .unwrap_or_else(|e| panic!("open {engine}: {e}"));
        TestDatabase {
            store,
            url,
            engine,
            _dir: dir,
            drop_pg,
        }
    }
}

/// A temporary directory and the URL of a SQLite file in it.
fn sqlite_location() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    (dir, url)
}

/// Creates an empty PostgreSQL database on the test server: (server URL, name, its URL).
async fn postgres_location() -> Option<(String, String, String)> {
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
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", crate::redact(&admin)));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    let url = with_database(&admin, &name);
    Some((admin, name, url))
}

impl SqlStore {
    /// Runs statements separated by semicolons in one write transaction, bypassing the
    /// store's operations: a test's way to build a state no operation makes (an older schema's
    /// rows) or to prove the database itself refuses a change.
    pub async fn execute_script(&self, sql: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        tx.script(sql).await?;
        tx.commit().await
    }
}

/// Migrates the database at `url` up to `version` and runs `sql` on it.
async fn older(url: &str, version: i64, sql: &str) {
    let store = SqlStore::connect(&ConnectOptions::new(url))
        .await
        .expect("connect");
    store
        .migrate_up_to(version)
        .await
        .expect("older migrations");
    store
        .execute_script(sql)
        .await
        .expect("rows of the older schema");
    store.db.close().await;
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
