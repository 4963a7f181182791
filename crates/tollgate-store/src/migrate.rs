//! Migrations, the same versions in both engines' trees, applied at start-up and by
//! `tollgate migrate`. A checksum per migration catches an applied file edited later. Each has a
//! down step (`<version>_<name>.down.sql`) that restores the schema as it was before it;
//! [`migrate_to`] runs them, refusing a step whose `-- guard:` queries find rows it would lose.

use sha2::{Digest, Sha256};

use crate::db::{query, Db, Dialect, Tx};
use crate::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    sqlite_down: &'static str,
    postgres_down: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(
                "../migrations/sqlite/",
                stringify!($version),
                "_",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                "../migrations/postgres/",
                stringify!($version),
                "_",
                $name,
                ".sql"
            )),
            sqlite_down: include_str!(concat!(
                "../migrations/sqlite/",
                stringify!($version),
                "_",
                $name,
                ".down.sql"
            )),
            postgres_down: include_str!(concat!(
                "../migrations/postgres/",
                stringify!($version),
                "_",
                $name,
                ".down.sql"
            )),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(20261121000001, "create_ledger"),
    migration!(20261122000001, "receipts"),
    migration!(20261122000002, "billing"),
    migration!(20261123000001, "webhooks"),
    migration!(20261123000002, "retention"),
    migration!(20261205000001, "plans"),
    migration!(20261205000002, "key_roles"),
    migration!(20261205000003, "count_open_holds"),
    migration!(20261206000001, "lock_digest"),
    migration!(20261207000001, "mcp_registry"),
    migration!(20261207000002, "tool_prices"),
    migration!(20261207000003, "price_tiers"),
    migration!(20261208000001, "price_model"),
    migration!(20261208000002, "adjustments"),
    migration!(20261208000003, "estimate_method"),
    migration!(20261209000001, "rate_limits"),
    migration!(20261209000002, "account_overrides"),
    migration!(20261209000003, "email_alerts"),
    migration!(20261209000004, "dimensions"),
    migration!(20261210000001, "console_sessions"),
    migration!(20261211000001, "checks_without_in_lists"),
    migration!(20261211000002, "requests_with_balances"),
    migration!(20261212000001, "tenants_never_removed"),
];

/// An arbitrary constant naming Tollgate's migration lock in PostgreSQL.
const PG_LOCK_KEY: i64 = 0x746f_6c6c_6761_7465;

/// What a migration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// `version_name` of each migration applied now.
    pub applied: Vec<String>,
    /// How many were already applied.
    pub already: usize,
    /// `version_name` of each migration rolled back now, newest first.
    pub rolled_back: Vec<String>,
}

/// Applies pending migrations. Safe to run from several instances at once: each migration
/// runs in one transaction that first takes the migration lock (PostgreSQL's transaction-level
/// advisory lock; SQLite's write lock, taken by `BEGIN IMMEDIATE`) and then checks whether
/// it is still pending.
pub async fn run(db: &Db) -> Result<MigrationReport, StoreError> {
    run_up_to(db, i64::MAX).await
}

/// The migrations this build has that the database has not applied, as `version_name`.
pub async fn pending(db: &Db) -> Result<Vec<String>, StoreError> {
    let table = match db.dialect {
        Dialect::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'tollgate_migrations'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename = 'tollgate_migrations'"
        }
    };
    let exists: i64 = query(table).fetch_one(db).await?.get("n")?;
    let applied: Vec<i64> = if exists == 0 {
        Vec::new()
    } else {
        query("SELECT version FROM tollgate_migrations")
            .fetch_all(db)
            .await?
            .iter()
            .map(|r| r.get("version"))
            .collect::<Result<_, _>>()?
    };
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{}_{}", m.version, m.name))
        .collect())
}

/// Applies pending migrations up to and including `version` (to build a database as an
/// older Tollgate left it, and test the upgrade from there).
pub async fn run_up_to(db: &Db, up_to: i64) -> Result<MigrationReport, StoreError> {
    query(
        "CREATE TABLE IF NOT EXISTS tollgate_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_us BIGINT NOT NULL
        )",
    )
    .execute(db.write())
    .await?;
    let mut report = MigrationReport::default();
    for m in MIGRATIONS.iter().filter(|m| m.version <= up_to) {
        let sql = match db.dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        let checksum = hex_sha256(sql);
        let mut tx = db.begin_write().await?;
        if db.dialect == Dialect::Postgres {
            query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut tx)
                .await?;
        }
        let row = query("SELECT checksum FROM tollgate_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut tx)
            .await?;
        if let Some(row) = row {
            let stored: String = row.get("checksum")?;
            if stored != checksum {
                return Err(StoreError::Invariant(format!(
                    "migration {}_{} was changed after it was applied; migrations are forward-only",
                    m.version, m.name
                )));
            }
            report.already += 1;
            continue;
        }
        tx.script(sql).await?;
        query(
            "INSERT INTO tollgate_migrations (version, name, checksum, applied_us) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum)
        .bind(tollgate_core::time::now_us())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        report.applied.push(format!("{}_{}", m.version, m.name));
    }
    Ok(report)
}

/// The version of every migration this build has, oldest first.
pub fn versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// Brings the database to `version`: applies the pending migrations up to it, or rolls back
/// the applied ones after it, newest first, each by its down step in one transaction. `0` rolls
/// back every migration. A down step that would lose data (its guard queries count rows in a
/// table or column it drops) is refused, naming the migration and the table, unless `force`.
pub async fn migrate_to(db: &Db, version: i64, force: bool) -> Result<MigrationReport, StoreError> {
    if version != 0 && !MIGRATIONS.iter().any(|m| m.version == version) {
        return Err(StoreError::Rejected(format!(
            "version: {version} is not a migration of this build (0 or one of {})",
            MIGRATIONS
                .iter()
                .map(|m| m.version.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut report = run_up_to(db, version).await?;
    let applied = applied_versions(db).await?;
    let steps: Vec<&Migration> = MIGRATIONS
        .iter()
        .rev()
        .filter(|m| m.version > version && applied.contains(&m.version))
        .collect();
    // Every step's guards first, so that a refusal rolls back nothing: each guard reads only
    // what its own step drops, which the steps after it in the rollback leave alone.
    if !force {
        for m in &steps {
            refuse_loss(m, down_sql(db, m), db, None).await?;
        }
    }
    for m in steps {
        let down = down_sql(db, m);
        let mut tx = db.begin_write().await?;
        if db.dialect == Dialect::Postgres {
            query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut tx)
                .await?;
        }
        let still = query("SELECT version FROM tollgate_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut tx)
            .await?;
        if still.is_none() {
            continue;
        }
        if !force {
            refuse_loss(m, down, db, Some(&mut tx)).await?;
        }
        tx.script(down).await?;
        query("DELETE FROM tollgate_migrations WHERE version = $1")
            .bind(m.version)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        report.rolled_back.push(format!("{}_{}", m.version, m.name));
    }
    Ok(report)
}

fn down_sql(db: &Db, m: &Migration) -> &'static str {
    match db.dialect {
        Dialect::Sqlite => m.sqlite_down,
        Dialect::Postgres => m.postgres_down,
    }
}

async fn applied_versions(db: &Db) -> Result<Vec<i64>, StoreError> {
    query("SELECT version FROM tollgate_migrations")
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.get("version"))
        .collect()
}

/// Refuses `m`'s down step when one of its guards counts rows it would lose.
async fn refuse_loss(
    m: &Migration,
    down: &str,
    db: &Db,
    mut tx: Option<&mut Tx>,
) -> Result<(), StoreError> {
    for guard in guards(down) {
        let q = query(guard.query);
        let row = match tx.as_deref_mut() {
            Some(tx) => q.fetch_one(tx).await?,
            None => q.fetch_one(db).await?,
        };
        let n: i64 = row.get("n")?;
        if n > 0 {
            return Err(StoreError::Rejected(format!(
                "rolling back migration {}_{} would lose data: {} has {n} row(s) it drops or \
                 drops a column of; rerun with --force to roll back anyway",
                m.version, m.name, guard.table
            )));
        }
    }
    Ok(())
}

/// One `-- guard: <table>: <query>` line of a down step: `query` counts, as `n`, the rows of
/// `table` the step would lose.
#[derive(Debug, PartialEq, Eq)]
struct Guard<'a> {
    table: &'a str,
    query: &'a str,
}

fn guards(down: &str) -> Vec<Guard<'_>> {
    down.lines()
        .filter_map(|line| line.trim().strip_prefix("-- guard:"))
        .filter_map(|rest| {
            let (table, query) = rest.split_once(':')?;
            Some(Guard {
                table: table.trim(),
                query: query.trim(),
            })
        })
        .collect()
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_trees_have_every_migration_and_versions_increase() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "{} is not after {last}", m.version);
            assert!(
                !m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty(),
                "{}",
                m.name
            );
            last = m.version;
        }
    }

    /// SQLite checks a CHECK's IN list of more than two values through a temporary b-tree it
    /// builds for every row written; the tables written on each call must not pay that.
    #[test]
    fn the_tables_written_on_every_call_check_their_rows_without_a_temporary_btree_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
        for m in MIGRATIONS {
            conn.execute_batch(m.sqlite)
                .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        }
        let written_per_call = [
            "tenants",
            "usage_events",
            "conversations",
            "messages",
            "mcp_tool_executions",
            "usage_daily",
            "usage_monthly",
            "usage_daily_dimensions",
            "billing_accounts",
            "account_balances",
            "account_spend",
            "ledger_entries",
            "holds",
            "quota_reservations",
            "rate_windows",
        ];
        for table in written_per_call {
            let mut explain = conn
                .prepare(&format!("EXPLAIN INSERT INTO {table} DEFAULT VALUES"))
                .unwrap_or_else(|e| panic!("{table}: {e}"));
            let opcodes: Vec<String> = explain
                .query_map([], |r| r.get("opcode"))
                .and_then(|rows| rows.collect())
                .expect("the program");
            assert!(
                opcodes.iter().any(|op| op == "Insert"),
                "{table}: the program writes the row"
            );
            assert!(
                !opcodes.iter().any(|op| op == "OpenEphemeral"),
                "{table}: a constraint builds a temporary b-tree per row"
            );
        }
    }

    #[test]
    fn every_down_step_exists_and_its_guards_name_a_table_and_count_n() {
        for m in MIGRATIONS {
            for down in [m.sqlite_down, m.postgres_down] {
                assert!(!down.trim().is_empty(), "{}", m.name);
                for g in guards(down) {
                    assert!(
                        !g.table.is_empty()
                            && g.table
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{}: {:?}",
                        m.name,
                        g
                    );
                    assert!(
                        g.query.starts_with("SELECT COUNT(*) AS n FROM "),
                        "{}: {:?}",
                        m.name,
                        g
                    );
                }
            }
            assert_eq!(
                guards(m.sqlite_down),
                guards(m.postgres_down),
                "{}: both engines guard the same data",
                m.name
            );
        }
    }
}
