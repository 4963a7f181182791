//! The ingestion transaction on PostgreSQL (SQLite's is `sqlite_append`): appends a batch of
//! calls to their tenants' logs.
//!
//! For each tenant in the batch (in id order, so that concurrent batches from several
//! instances lock tenants in the same order), in one transaction: lock the tenant's log head
//! row, find repeats (request ids already recorded, the llmring client's second post of a
//! conversation call), assign gap-free sequence numbers, write events with their canonical
//! entries, conversations and messages, add to the rollups, and move the log head. Nothing is
//! acknowledged before the commit.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tollgate_core::time::now_us;

use super::rows::{self, Earlier, RecordedRow, RECORDED_COLUMNS};
use super::sql::{Arg, Sql};
use crate::db::{Db, Dialect};
use crate::model::{AppendItem, Recorded};
use crate::StoreError;

/// Rows per multi-row statement: keeps the bind count under PostgreSQL's 65,535 placeholders.
const ROWS_PER_STATEMENT: usize = 500;

/// Groups item positions by tenant, in tenant id order.
pub(crate) fn by_tenant(items: &[AppendItem]) -> BTreeMap<&str, Vec<usize>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups
            .entry(item.event.tenant_id.as_str())
            .or_default()
            .push(i);
    }
    groups
}

/// Unwraps the outcomes once every item has one.
pub(crate) fn finished(outcomes: Vec<Option<Recorded>>) -> Result<Vec<Recorded>, StoreError> {
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StoreError::Invariant("an item got no outcome".into())))
        .collect()
}

pub(super) async fn append_usage(
    db: &Db,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut tx = super::begin_write(db).await?;
    for (tenant, indexes) in by_tenant(items) {
        append_for_tenant(&mut tx, db.dialect, tenant, items, &indexes, &mut outcomes).await?;
    }
    tx.commit().await?;
    finished(outcomes)
}

async fn append_for_tenant(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
    outcomes: &mut [Option<Recorded>],
) -> Result<(), StoreError> {
    let head = sqlx::query("SELECT log_size FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await?;
    let size: i64 = match head {
        Some(row) => row.try_get(0)?,
        None => return Err(StoreError::NotFound(format!("tenant {tenant}"))),
    };
    let earlier = &mut earlier(tx, dialect, tenant, items, indexes).await?;
    let (fresh, size) = rows::assign(items, indexes, size, earlier, outcomes);
    if fresh.is_empty() {
        return Ok(());
    }
    let recorded_us = now_us();
    let events: Vec<Vec<Arg>> = fresh
        .iter()
        .map(|&(i, seq)| rows::event_row(&items[i], seq, recorded_us))
        .collect();
    let head = format!(
        "INSERT INTO usage_events ({}) VALUES ",
        rows::EVENT_TABLE_COLUMNS
    );
    insert_rows(tx, dialect, &head, "", events).await?;
    for &(i, _) in &fresh {
        if let Some(conv) = &items[i].conversation {
            let head = format!(
                "INSERT INTO conversations ({}) VALUES ",
                rows::CONVERSATION_TABLE_COLUMNS
            );
            insert_rows(
                tx,
                dialect,
                &head,
                "",
                vec![rows::conversation_row(&items[i], conv)],
            )
            .await?;
            let messages = conv
                .messages
                .iter()
                .enumerate()
                .map(|(p, m)| rows::message_row(tenant, conv, p, m))
                .collect();
            let head = format!(
                "INSERT INTO messages ({}) VALUES ",
                rows::MESSAGE_TABLE_COLUMNS
            );
            insert_rows(tx, dialect, &head, "", messages).await?;
        }
    }
    for rollup in rows::rollups(tenant, items, &fresh) {
        insert_rows(tx, dialect, &rollup.head, &rollup.on_conflict, rollup.rows).await?;
    }
    sqlx::query("UPDATE tenants SET log_size = $1 WHERE id = $2")
        .bind(size)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Multi-row `INSERT`s of `rows`, `ROWS_PER_STATEMENT` at a time.
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Arg>>,
) -> Result<(), StoreError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = Sql::new(dialect, head);
        for (n, row) in rows.by_ref().take(ROWS_PER_STATEMENT).enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.tuple(row);
        }
        sql.push(tail);
        sql.query().execute(&mut **tx).await?;
    }
    Ok(())
}

fn recorded(row: &AnyRow) -> Result<Recorded, StoreError> {
    RecordedRow {
        log_id: row.try_get(0)?,
        seq: row.try_get(1)?,
        ts_us: row.try_get(2)?,
        cost_nanos: row.try_get(3)?,
        currency: row.try_get(4)?,
        flags: row.try_get(5)?,
        price_version: row.try_get(6)?,
        conversation_id: row.try_get(7)?,
        message_id: row.try_get(8)?,
    }
    .into_recorded()
}

/// Calls of this batch already recorded: by request id, and the conversation calls that
/// llmring usage posts name.
async fn earlier(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<Earlier, StoreError> {
    let (requests, calls) = rows::dedupe_keys(items, indexes);
    let mut found = Earlier::default();
    for chunk in requests.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            dialect,
            &format!(
                "SELECT {RECORDED_COLUMNS}, e.request_id FROM usage_events e
                 LEFT JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                                          AND e.source = 'conversation'
                 WHERE e.tenant_id = "
            ),
        );
        sql.bind(tenant).push(" AND e.request_id IN ");
        sql.tuple(chunk.iter().map(|r| Arg::from(r.as_str())).collect());
        for row in sql.query().fetch_all(&mut **tx).await? {
            found
                .by_request
                .insert(row.try_get::<String, _>(9)?, recorded(&row)?);
        }
    }
    for chunk in calls.chunks(ROWS_PER_STATEMENT) {
        let mut sql = Sql::new(
            dialect,
            &format!(
                "SELECT {RECORDED_COLUMNS} FROM usage_events e
                 JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                 WHERE e.source = 'conversation' AND e.tenant_id = "
            ),
        );
        sql.bind(tenant).push(" AND e.conversation_id IN ");
        sql.tuple(chunk.iter().map(|c| Arg::from(c.as_str())).collect());
        for row in sql.query().fetch_all(&mut **tx).await? {
            let rec = recorded(&row)?;
            if let Some(c) = rec.conversation_id {
                found.by_call.insert(c, rec);
            }
        }
    }
    Ok(found)
}
