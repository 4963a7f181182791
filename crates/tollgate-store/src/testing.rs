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

    /// SQLite, and PostgreSQL when configured, each a fresh database migrated up to `version`
    /// only (0: none), its `store` a [`SqlStore`] that has not applied the rest.
    pub async fn all_at(version: i64) -> Vec<TestDatabase> {
        let (dir, url) = sqlite_location();
        let mut dbs = vec![TestDatabase::at(url, "sqlite", Some(dir), None, version).await];
        if let Some((admin, name, url)) = postgres_location().await {
            dbs.push(TestDatabase::at(url, "postgres", None, Some((admin, name)), version).await);
        }
        dbs
    }

    /// A store on this database that applies no migration on connecting, for tests of the
    /// migrations themselves.
    pub async fn sql_store(&self) -> SqlStore {
        SqlStore::connect(&ConnectOptions::new(&self.url))
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.engine))
    }

    async fn at(
        url: String,
        engine: &'static str,
        dir: Option<tempfile::TempDir>,
        drop_pg: Option<(String, String)>,
        version: i64,
    ) -> TestDatabase {
        let mut opts = ConnectOptions::new(&url);
        opts.create_if_missing = true;
        let store = SqlStore::connect(&opts)
            .await
            .unwrap_or_else(|e| panic!("connect {engine}: {e}"));
        store
            .migrate_up_to(version)
            .await
            .unwrap_or_else(|e| panic!("migrate {engine} up to {version}: {e}"));
        TestDatabase {
            store: Arc::new(store),
            url,
            engine,
            _dir: dir,
            drop_pg,
        }
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

impl SqlStore {
    /// The database's schema, one normalised line per object, sorted: SQLite's
    /// `sqlite_master` (type, name, table and its SQL without comments or layout); in
    /// PostgreSQL the columns, indexes, constraints and triggers of the current schema.
    /// Two databases with the same lines have the same schema.
    pub async fn schema(&self) -> Result<Vec<String>, StoreError> {
        use crate::db::{query, Dialect};
        let mut lines = Vec::new();
        match self.db.dialect {
            Dialect::Sqlite => {
                let rows = query(
                    "SELECT type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '') \
                     AS line FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(&self.db)
                .await?;
                for row in rows {
                    lines.push(normalised_sql(&row.get::<String>("line")?));
                }
            }
            Dialect::Postgres => {
                for sql in [
                    "SELECT 'column ' || table_name::text || '.' || column_name::text || ' ' \
                     || data_type::text || ' nullable=' || is_nullable::text || ' default=' \
                     || COALESCE(column_default::text, '') || ' after ' || COALESCE((\
                         SELECT c2.column_name::text FROM information_schema.columns c2 \
                         WHERE c2.table_schema = c.table_schema AND c2.table_name = c.table_name \
                           AND c2.ordinal_position < c.ordinal_position \
                         ORDER BY c2.ordinal_position DESC LIMIT 1), '') AS line \
                     FROM information_schema.columns c WHERE table_schema = current_schema()",
                    "SELECT 'index ' || indexname::text || ': ' || indexdef AS line \
                     FROM pg_indexes WHERE schemaname = current_schema()",
                    "SELECT 'constraint ' || conrelid::regclass::text || '.' || conname::text \
                     || ': ' || pg_get_constraintdef(oid) AS line FROM pg_constraint \
                     WHERE connamespace = current_schema()::regnamespace",
                    "SELECT 'trigger ' || tgname::text || ': ' || pg_get_triggerdef(oid) AS line \
                     FROM pg_trigger WHERE NOT tgisinternal",
                    "SELECT 'function ' || p.proname::text || ': ' || pg_get_functiondef(p.oid) \
                     AS line FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace",
                ] {
                    for row in query(sql).fetch_all(&self.db).await? {
                        lines.push(row.get::<String>("line")?);
                    }
                }
            }
        }
        lines.sort();
        Ok(lines)
    }
}

/// `sql` without comments, quotes around names, or layout: the text SQLite keeps for an
/// object, in a form that `ALTER TABLE` rewriting it does not change.
fn normalised_sql(sql: &str) -> String {
    let uncommented: String = sql
        .lines()
        .map(|line| match line.find("--") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::new();
    for word in uncommented.replace('"', "").split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    for p in ["(", ")", ","] {
        out = out
            .replace(&format!(" {p}"), p)
            .replace(&format!("{p} "), p);
    }
    out
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
