//! Reading usage: rollup-backed totals and indexed event listings. Neither reads more than
//! the range asked for, so their cost does not grow with a tenant's history.

use tollgate_core::time::{day_of, DAY_US};
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};

use super::decode::{json_object, uuid};
use crate::db::{query, Db, Row, Sql};
use crate::model::{LogEntry, LogFilter, StoredEvent, UsageRow};
use crate::StoreError;

const SUMS: &str =
    "COUNT(*), CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), \
     CAST(SUM(cached_input_tokens) AS BIGINT), CAST(SUM(cache_write_tokens) AS BIGINT), \
     CAST(SUM(reasoning_tokens) AS BIGINT), CAST(SUM(cost_nanos) AS BIGINT), \
     CAST(SUM(CASE WHEN (flags & 1) <> 0 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN (flags & 2) <> 0 THEN 1 ELSE 0 END) AS BIGINT)";

pub(super) const ROLLUP_MEASURES: &str =
    "requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, \
     reasoning_tokens, cost_nanos, cached_responses, unpriced";

fn usage_row(row: &Row) -> Result<UsageRow, StoreError> {
    Ok(UsageRow {
        day: row.try_get(0)?,
        provider: row.try_get(1)?,
        model: row.try_get(2)?,
        alias: row.try_get(3)?,
        origin: row.try_get(4)?,
        user_id: row.try_get(5)?,
        currency: row.try_get(6)?,
        requests: row.try_get(7)?,
        tokens: TokenCounts {
            input: row.try_get(8)?,
            output: row.try_get(9)?,
            cached_input: row.try_get(10)?,
            cache_write: row.try_get(11)?,
            reasoning: row.try_get(12)?,
        },
        cost: Nanos(row.try_get(13)?),
        cached_responses: row.try_get(14)?,
        unpriced: row.try_get(15)?,
    })
}

pub(super) async fn usage_rows(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    if end_us < start_us {
        return Ok(Vec::new());
    }
    // Whole days inside [start, end] come from the daily rollup; the rest from the events.
    let first_full = day_of(start_us) + i64::from(start_us.rem_euclid(DAY_US) != 0);
    let last_full = day_of(end_us.saturating_add(1)) - 1;
    let mut rows = Vec::new();
    if first_full <= last_full {
        let mut sql = Sql::new(&format!(
            "SELECT day, provider, model, alias, origin, user_id, currency, {ROLLUP_MEASURES} \
                 FROM usage_daily WHERE tenant_id = "
        ));
        sql.push_bind(tenant)
            .push(" AND day >= ")
            .push_bind(first_full)
            .push(" AND day <= ")
            .push_bind(last_full);
        rows.extend(fetch_rows(db, &sql).await?);
        if start_us < first_full * DAY_US {
            rows.extend(event_rows(db, tenant, start_us, first_full * DAY_US - 1).await?);
        }
        if (last_full + 1) * DAY_US <= end_us {
            rows.extend(event_rows(db, tenant, (last_full + 1) * DAY_US, end_us).await?);
        }
    } else {
        rows.extend(event_rows(db, tenant, start_us, end_us).await?);
    }
    Ok(rows)
}

/// Usage rows of a query: through rusqlite on SQLite (thousands of rollup rows decode many
/// times faster there than through sqlx), through sqlx otherwise.
pub(super) async fn fetch_rows(db: &Db, sql: &Sql) -> Result<Vec<UsageRow>, StoreError> {
    sql.fetch_all(db).await?.iter().map(usage_row).collect()
}

async fn event_rows(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT ts_us / {DAY_US}, provider, model, COALESCE(alias, ''), COALESCE(origin, ''), \
             COALESCE(user_id, ''), currency, {SUMS} FROM usage_events WHERE tenant_id = "
    ));
    sql.push_bind(tenant)
        .push(" AND ts_us >= ")
        .push_bind(start_us)
        .push(" AND ts_us <= ")
        .push_bind(end_us)
        .push(&format!(
            " GROUP BY ts_us / {DAY_US}, provider, model, COALESCE(alias, ''), \
             COALESCE(origin, ''), COALESCE(user_id, ''), currency"
        ));
    fetch_rows(db, &sql).await
}

pub(super) const EVENT_COLUMNS: &str = "seq, recorded_us, log_id, tenant_id, request_id, ts_us, provider, model, alias, profile, \
     origin, id_at_origin, user_id, conversation_id, input_tokens, output_tokens, cached_input_tokens, \
     cache_write_tokens, reasoning_tokens, latency_ms, cost_nanos, currency, price_version, flags, source, metadata, \
     input_cost_nanos, lock_digest";

/// How many columns [`EVENT_COLUMNS`] lists.
pub(super) const EVENT_COLUMN_COUNT: usize = 28;

pub(crate) fn stored_event(row: &Row) -> Result<StoredEvent, StoreError> {
    let conversation: Option<String> = row.try_get(13)?;
    let currency: String = row.try_get(21)?;
    let source: String = row.try_get(24)?;
    Ok(StoredEvent {
        seq: row.try_get(0)?,
        recorded_us: row.try_get(1)?,
        event: UsageEvent {
            log_id: uuid(&row.try_get::<String>(2)?)?,
            tenant_id: row.try_get(3)?,
            request_id: row.try_get(4)?,
            timestamp_us: row.try_get(5)?,
            provider: row.try_get(6)?,
            model: row.try_get(7)?,
            alias: row.try_get(8)?,
            profile: row.try_get(9)?,
            lock_digest: row.try_get(27)?,
            origin: row.try_get(10)?,
            id_at_origin: row.try_get(11)?,
            user_id: row.try_get(12)?,
            conversation_id: conversation.as_deref().map(uuid).transpose()?,
            tokens: TokenCounts {
                input: row.try_get(14)?,
                output: row.try_get(15)?,
                cached_input: row.try_get(16)?,
                cache_write: row.try_get(17)?,
                reasoning: row.try_get(18)?,
            },
            latency_ms: row.try_get(19)?,
            cost: Nanos(row.try_get(20)?),
            input_cost: row.try_get::<Option<i64>>(26)?.map(Nanos),
            currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
            price_version: row.try_get(22)?,
            flags: EventFlags::from_bits(row.try_get(23)?),
            source: EventSource::parse(&source),
            metadata: json_object(row.try_get(25)?),
        },
    })
}

pub(super) async fn list_events(
    db: &Db,
    tenant: &str,
    f: &LogFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events WHERE tenant_id = "
    ));
    sql.push_bind(tenant);
    if let Some(s) = f.start_us {
        sql.push(" AND ts_us >= ").push_bind(s);
    }
    if let Some(e) = f.end_us {
        sql.push(" AND ts_us <= ").push_bind(e);
    }
    let exact = [
        ("alias", &f.alias),
        ("model", &f.model),
        ("provider", &f.provider),
        ("origin", &f.origin),
        ("user_id", &f.user_id),
    ];
    for (column, value) in exact {
        if let Some(v) = value {
            sql.push(&format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(c) = f.conversation_id {
        sql.push(" AND conversation_id = ").push_bind(c.to_string());
    }
    if f.unpriced_only {
        sql.push(" AND (flags & 2) <> 0");
    }
    sql.push(" ORDER BY ts_us DESC, seq DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = sql.fetch_all(db).await?;
    rows.iter().map(stored_event).collect()
}

pub(super) async fn log_entries(
    db: &Db,
    tenant: &str,
    start_seq: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = query(
        "SELECT seq, entry, leaf_hash FROM usage_events WHERE tenant_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
    )
    .bind(tenant)
    .bind(start_seq)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(LogEntry {
                seq: r.try_get(0)?,
                entry: Some(r.try_get(1)?),
                leaf_hash: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let contiguous = out.len() as i64 == limit
        && out.last().map(|e| e.seq) == Some(start_seq + limit - 1)
        && out.first().map(|e| e.seq) == Some(start_seq);
    if contiguous {
        return Ok(out);
    }
    // Archived positions keep their leaf hash; their entry is in the archive file.
    let end = start_seq.saturating_add(limit);
    let archived = query(
        "SELECT seq, leaf_hash FROM archived_leaves WHERE tenant_id = $1 AND seq >= $2 \
         AND seq < $3 ORDER BY seq",
    )
    .bind(tenant)
    .bind(start_seq)
    .bind(end)
    .fetch_all(db)
    .await?;
    for r in &archived {
        let seq: i64 = r.try_get(0)?;
        if !out.iter().any(|e| e.seq == seq) {
            out.push(LogEntry {
                seq,
                entry: None,
                leaf_hash: r.try_get(1)?,
            });
        }
    }
    out.sort_unstable_by_key(|e| e.seq);
    out.retain(|e| e.seq < end);
    out.truncate(limit.max(0) as usize);
    Ok(out)
}
