//! Forward-only migrations, the same versions in both engines' trees, applied at start-up and
//! by `tollgate migrate`. A checksum per migration catches an applied file edited later.

use sha2::{Digest, Sha256};

use crate::db::{query, Db, Dialect};
use crate::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
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
}
