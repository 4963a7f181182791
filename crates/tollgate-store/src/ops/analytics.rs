//! Analytics the daily rollups cannot answer: use by hour of the day, summed from the events
//! of the period (through the index on tenant and event time).

use tollgate_core::Nanos;

use crate::db::{query, row, Db};
use crate::model::HourUse;
use crate::StoreError;

row! {
    struct HourRow { hour: i64, currency: String, requests: i64, cost_nanos: i64 }
}

/// The tenant's events of `[start_us, end_us]` by UTC hour of their time and currency.
pub(super) async fn hours(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Vec<HourUse>, StoreError> {
    // Event times are after 1970, so integer division is the floor on both engines.
    let rows = query(
        "SELECT CAST((ts_us / 3600000000) % 24 AS BIGINT) AS hour, currency, \
           CAST(SUM(CASE WHEN source = 'adjustment' THEN 0 ELSE 1 END) AS BIGINT) AS requests, \
           CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos \
         FROM usage_events WHERE tenant_id = $1 AND ts_us >= $2 AND ts_us <= $3 \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(tenant)
    .bind(start_us)
    .bind(end_us)
    .fetch_all_as::<HourRow>(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HourUse {
            hour: r.hour,
            currency: r.currency,
            requests: r.requests,
            cost: Nanos(r.cost_nanos),
        })
        .collect())
}
