//! Reads behind cost summaries and usage exports: the monthly rollup, and the events of a
//! time range in log order, a page at a time by keyset on `seq`, so that an export of any
//! size holds one page in memory.

use tollgate_core::time::{day_of, month_start_us};

use super::read::{dimension_value, fetch_rows, stored_event, EVENT_COLUMNS, ROLLUP_MEASURES};
use crate::db::{query, row, Db, Sql};
use crate::exports::{DimensionMatch, ExportPage, ExportSpan, ExportedEvent};
use crate::model::UsageRow;
use crate::StoreError;

pub(super) async fn monthly_rows(
    db: &Db,
    tenant: &str,
    month: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    let day = day_of(month_start_us(month));
    let mut sql = Sql::new(&format!(
        "SELECT CAST({day} AS BIGINT) AS day, provider, model, '' AS alias, '' AS origin, \
             '' AS user_id, currency, {ROLLUP_MEASURES} FROM usage_monthly WHERE tenant_id = "
    ));
    sql.push_bind(tenant).push(" AND month = ").push_bind(month);
    fetch_rows(db, &sql).await
}

row! {
    struct SpanRow { events: i64, first_seq: Option<i64>, last_seq: Option<i64> }
}

impl From<SpanRow> for ExportSpan {
    fn from(r: SpanRow) -> ExportSpan {
        ExportSpan {
            count: r.events,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
        }
    }
}

pub(super) async fn export_span(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
    dimension: Option<&DimensionMatch>,
) -> Result<ExportSpan, StoreError> {
    let mut sql = query(
        "SELECT COUNT(*) AS events, MIN(seq) AS first_seq, MAX(seq) AS last_seq \
         FROM usage_events WHERE tenant_id = $1 AND ts_us >= $2 AND ts_us <= $3",
    )
    .bind(tenant)
    .bind(start_us)
    .bind(end_us);
    matching(db, &mut sql, dimension);
    let row = sql.fetch_one_as::<SpanRow>(db).await?;
    Ok(row.into())
}

/// Narrows `sql` (whose last condition is in place) to the events with the dimension's
/// value. No index serves it: an export reads every event of its range anyway.
fn matching(db: &Db, sql: &mut Sql, dimension: Option<&DimensionMatch>) {
    if let Some(d) = dimension {
        sql.push(" AND dimensions IS NOT NULL AND ")
            .push(dimension_value(db))
            .push_bind(&d.name)
            .push(") = ")
            .push_bind(&d.value);
    }
}

pub(super) async fn export_page(
    db: &Db,
    tenant: &str,
    page: &ExportPage,
) -> Result<Vec<ExportedEvent>, StoreError> {
    // `ts_us + 0` keeps the planner off the time index: walking the primary key in `seq`
    // order needs no sort, whereas the time index would sort the whole rest of the range
    // for every page.
    let mut sql = query(format!(
        "SELECT {EVENT_COLUMNS}, entry, leaf_hash FROM usage_events \
         WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 AND ts_us + 0 >= $4 AND ts_us + 0 <= $5"
    ))
    .bind(tenant)
    .bind(page.after_seq)
    .bind(page.last_seq)
    .bind(page.start_us)
    .bind(page.end_us);
    matching(db, &mut sql, page.dimension.as_ref());
    sql.push(" ORDER BY seq LIMIT ").push_bind(page.limit);
    let rows = sql.fetch_all(db).await?;
    rows.iter()
        .map(|row| {
            Ok(ExportedEvent {
                event: stored_event(row)?,
                entry: row.get("entry")?,
                leaf_hash: row.get("leaf_hash")?,
            })
        })
        .collect()
}
