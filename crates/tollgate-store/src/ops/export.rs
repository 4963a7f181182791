//! Reads behind cost summaries and usage exports: the monthly rollup, and the events of a
//! time range in log order, a page at a time by keyset on `seq`, so that an export of any
//! size holds one page in memory.

use tollgate_core::time::{day_of, month_start_us};

use super::read::{fetch_rows, stored_event, EVENT_COLUMNS, EVENT_COLUMN_COUNT, ROLLUP_MEASURES};
use crate::db::{query, Db, Sql};
use crate::exports::{ExportPage, ExportSpan, ExportedEvent};
use crate::model::UsageRow;
use crate::StoreError;

pub(super) async fn monthly_rows(
    db: &Db,
    tenant: &str,
    month: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    let day = day_of(month_start_us(month));
    let mut sql = Sql::new(&format!(
        "SELECT CAST({day} AS BIGINT), provider, model, '', '', '', currency, \
             {ROLLUP_MEASURES} FROM usage_monthly WHERE tenant_id = "
    ));
    sql.push_bind(tenant).push(" AND month = ").push_bind(month);
    fetch_rows(db, &sql).await
}

pub(super) async fn export_span(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
) -> Result<ExportSpan, StoreError> {
    let row = query(
        "SELECT COUNT(*), MIN(seq), MAX(seq) FROM usage_events \
         WHERE tenant_id = $1 AND ts_us >= $2 AND ts_us <= $3",
    )
    .bind(tenant)
    .bind(start_us)
    .bind(end_us)
    .fetch_one(db)
    .await?;
    Ok(ExportSpan {
        count: row.try_get(0)?,
        first_seq: row.try_get(1)?,
        last_seq: row.try_get(2)?,
    })
}

pub(super) async fn export_page(
    db: &Db,
    tenant: &str,
    page: &ExportPage,
) -> Result<Vec<ExportedEvent>, StoreError> {
    // `ts_us + 0` keeps the planner off the time index: walking the primary key in `seq`
    // order needs no sort, whereas the time index would sort the whole rest of the range
    // for every page.
    let rows = query(format!(
        "SELECT {EVENT_COLUMNS}, entry, leaf_hash FROM usage_events \
         WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 AND ts_us + 0 >= $4 AND ts_us + 0 <= $5 \
         ORDER BY seq LIMIT $6"
    ))
    .bind(tenant)
    .bind(page.after_seq)
    .bind(page.last_seq)
    .bind(page.start_us)
    .bind(page.end_us)
    .bind(page.limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ExportedEvent {
                event: stored_event(row)?,
                entry: row.try_get(EVENT_COLUMN_COUNT)?,
                leaf_hash: row.try_get(EVENT_COLUMN_COUNT + 1)?,
            })
        })
        .collect()
}
