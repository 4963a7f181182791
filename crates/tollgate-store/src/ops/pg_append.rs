//! The ingestion transaction on PostgreSQL.
//!
//! For each tenant in the batch (in id order, so that concurrent batches from several
//! instances lock tenants in the same order), in one transaction: lock the tenant's log head
//! row (`FOR UPDATE`: this serialises appends per tenant across instances), find repeats
//! (request ids already recorded, the llmring client's second post of a conversation call),
//! assign gap-free sequence numbers, then write events, conversations, messages and rollups
//! with one `INSERT … SELECT FROM UNNEST(arrays)` per table. A fixed statement text per table,
//! whatever the batch size, keeps every statement prepared; the native driver is used because
//! `Any` cannot bind arrays.

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, Transaction};
use tollgate_core::time::now_us;

use super::rows::{
    self, by_tenant, finished, ConversationCall, Earlier, RecordedRow, CALL_COLUMNS,
    RECORDED_COLUMNS,
};
use super::sql::Arg;
use crate::model::{AppendItem, Recorded};
use crate::StoreError;

pub(crate) async fn append_usage(
    pool: &PgPool,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut tx = pool.begin().await?;
    for (tenant, indexes) in by_tenant(items) {
        append_for_tenant(&mut tx, tenant, items, &indexes, &mut outcomes).await?;
    }
    tx.commit().await?;
    finished(outcomes)
}

async fn append_for_tenant(
    tx: &mut Transaction<'static, Postgres>,
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
    let earlier = &mut earlier(tx, tenant, items, indexes).await?;
    let rows::Assigned {
        fresh,
        size,
        claims,
    } = rows::assign(items, indexes, size, earlier, outcomes);
    for c in claims {
        sqlx::query(
            "UPDATE conversations SET companion_claimed = 1 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(c.to_string())
        .execute(&mut **tx)
        .await?;
    }
    if fresh.is_empty() {
        return Ok(());
    }
    let recorded_us = now_us();
    // Conversations and their messages first, each in a statement of its own (messages
    // reference their conversation, and sub-statements of one statement cannot see each
    // other's rows).
    for &(i, _) in &fresh {
        if let Some(conv) = &items[i].conversation {
            let mut c = Combined::default();
            c.insert(
                "conversations",
                rows::CONVERSATION_TABLE_COLUMNS,
                "",
                vec![rows::conversation_row(&items[i], conv)],
            )?;
            c.execute(tx, None).await?;
            let mut m = Combined::default();
            let messages = conv
                .messages
                .iter()
                .enumerate()
                .map(|(p, msg)| rows::message_row(tenant, conv, p, msg))
                .collect();
            m.insert("messages", rows::MESSAGE_TABLE_COLUMNS, "", messages)?;
            m.execute(tx, None).await?;
        }
    }
    // Then the events, the rollups and the new log head in one round trip.
    let mut all = Combined::default();
    let events = fresh
        .iter()
        .map(|&(i, seq)| rows::event_row(&items[i], seq, recorded_us))
        .collect();
    all.insert("usage_events", rows::EVENT_TABLE_COLUMNS, "", events)?;
    for rollup in rows::rollups(tenant, items, &fresh) {
        all.insert(
            rollup.table,
            &rollup.columns,
            &rollup.on_conflict,
            rollup.rows,
        )?;
    }
    all.execute(tx, Some((size, tenant))).await
}

/// One column of rows, as a typed array.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Vec<u8>>),
    Float(Vec<f64>),
}

impl Column {
    fn for_arg(a: &Arg, n: usize) -> Column {
        match a {
            Arg::Int(_) => Column::Int(Vec::with_capacity(n)),
            Arg::Text(_) => Column::Text(Vec::with_capacity(n)),
            Arg::Bytes(_) => Column::Bytes(Vec::with_capacity(n)),
            Arg::Float(_) => Column::Float(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, a: Arg) -> Result<(), StoreError> {
        match (self, a) {
            (Column::Int(v), Arg::Int(x)) => v.push(x),
            (Column::Text(v), Arg::Text(x)) => v.push(x),
            (Column::Bytes(v), Arg::Bytes(x)) => v.push(x),
            (Column::Float(v), Arg::Float(x)) => v.push(x),
            _ => {
                return Err(StoreError::Invariant(
                    "a column's values differ in type".into(),
                ))
            }
        }
        Ok(())
    }

    fn cast(&self) -> &'static str {
        match self {
            Column::Int(_) => "int8[]",
            Column::Text(_) => "text[]",
            Column::Bytes(_) => "bytea[]",
            Column::Float(_) => "float8[]",
        }
    }

    fn bind(self, q: Query<'_, Postgres, PgArguments>) -> Query<'_, Postgres, PgArguments> {
        match self {
            Column::Int(v) => q.bind(v),
            Column::Text(v) => q.bind(v),
            Column::Bytes(v) => q.bind(v),
            Column::Float(v) => q.bind(v),
        }
    }
}

/// `INSERT INTO table (columns) SELECT * FROM UNNEST(…) tail` statements, one array per
/// column, run as the data-modifying parts of a single statement: a batch costs one round
/// trip, not one per table.
#[derive(Default)]
struct Combined {
    parts: Vec<String>,
    columns: Vec<Column>,
}

impl Combined {
    fn insert(
        &mut self,
        table: &str,
        columns: &str,
        tail: &str,
        rows: Vec<Vec<Arg>>,
    ) -> Result<(), StoreError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let mut cols: Vec<Column> = first
            .iter()
            .map(|a| Column::for_arg(a, rows.len()))
            .collect();
        for row in rows {
            for (c, a) in cols.iter_mut().zip(row) {
                c.push(a)?;
            }
        }
        let offset = self.columns.len();
        let arrays: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", offset + i + 1, c.cast()))
            .collect();
        self.parts.push(format!(
            "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({}){tail}",
            arrays.join(", ")
        ));
        self.columns.extend(cols);
        Ok(())
    }

    /// Runs the inserts; with `head`, the statement ends by setting the tenant's log size.
    async fn execute(
        self,
        tx: &mut Transaction<'static, Postgres>,
        head: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        let n = self.columns.len();
        let sql = match (head, self.parts.len()) {
            (None, 0) => return Ok(()),
            (None, 1) => self.parts[0].clone(),
            (None, _) => {
                let (last, ctes) = self.parts.split_last().expect("two or more parts");
                format!("WITH {} {last}", with_names(ctes))
            }
            (Some(_), 0) => "UPDATE tenants SET log_size = $1 WHERE id = $2".to_string(),
            (Some(_), _) => format!(
                "WITH {} UPDATE tenants SET log_size = ${} WHERE id = ${}",
                with_names(&self.parts),
                n + 1,
                n + 2
            ),
        };
        let mut q = sqlx::query(&sql);
        for c in self.columns {
            q = c.bind(q);
        }
        if let Some((size, tenant)) = head {
            q = q.bind(size).bind(tenant);
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }
}

fn with_names(parts: &[String]) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("w{i} AS ({p})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn recorded(row: &PgRow) -> Result<Recorded, StoreError> {
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
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<Earlier, StoreError> {
    let (requests, calls) = rows::dedupe_keys(items, indexes);
    let mut found = Earlier::default();
    if !requests.is_empty() {
        let q = format!(
            "SELECT {RECORDED_COLUMNS}, e.request_id FROM usage_events e
             LEFT JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                                      AND e.source = 'conversation'
             WHERE e.tenant_id = $1 AND e.request_id = ANY($2)"
        );
        for row in sqlx::query(&q)
            .bind(tenant)
            .bind(&requests)
            .fetch_all(&mut **tx)
            .await?
        {
            found
                .by_request
                .insert(row.try_get::<String, _>(9)?, recorded(&row)?);
        }
    }
    if !calls.is_empty() {
        let q = format!(
            "SELECT {RECORDED_COLUMNS}, {CALL_COLUMNS} FROM usage_events e
             JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
             WHERE e.source = 'conversation' AND e.tenant_id = $1 AND e.conversation_id = ANY($2)"
        );
        for row in sqlx::query(&q)
            .bind(tenant)
            .bind(&calls)
            .fetch_all(&mut **tx)
            .await?
        {
            let recorded = recorded(&row)?;
            if let Some(c) = recorded.conversation_id {
                let call = ConversationCall {
                    recorded,
                    provider: row.try_get(9)?,
                    model: row.try_get(10)?,
                    output_tokens: row.try_get(11)?,
                    claimed: row.try_get::<i64, _>(12)? != 0,
                };
                found.by_call.insert(c, call);
            }
        }
    }
    Ok(found)
}
