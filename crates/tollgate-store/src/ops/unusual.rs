//! The unusual-spend scan: raises `spend.unusual` for each user whose spend in the current UTC
//! hour is out of line with their recent habit (the rule is `tollgate_core::unusual`).
//!
//! Only tenants that would hear of it are scanned (a webhook endpoint that wants
//! `spend.unusual`, or an email recipient). For each, the current hour is summed per user and
//! currency from the events (the `(tenant_id, ts_us)` index reads one hour of them: there is no
//! hourly rollup), and only users at or over the floor read their history, which comes from the
//! daily rollups (`usage_daily`: a few rows per user and day), so the window never reads events.
//! The dedupe key `spend:{hour}:{currency}:{user}` makes it fire once per user, currency and
//! hour, whichever instance scans first.

use serde_json::json;
use tollgate_core::time::{day_of, format_us};
use tollgate_core::unusual::{hourly_average, is_unusual};
use tollgate_core::Nanos;

use super::webhooks::raise_in;
use crate::db::numbered as sql;
use crate::db::{query, row, Db};
use crate::webhooks::{EventType, NewAlert, UnusualSpendRule};
use crate::StoreError;

const HOUR_US: i64 = 3_600_000_000;

row! {
    struct TenantRow { tenant_id: String }
}

row! {
    struct HourRow { user_id: String, currency: String, spent: i64 }
}

/// Raises `spend.unusual` for this hour's unusual spenders; returns how many alerts were new.
pub(super) async fn scan(db: &Db, rule: &UnusualSpendRule, now: i64) -> Result<usize, StoreError> {
    let hour = now - now.rem_euclid(HOUR_US);
    let today = day_of(now);
    let window_hours = rule.window_days.saturating_mul(24);
    let tenants = query(
        "SELECT tenant_id FROM webhook_endpoints WHERE event_types LIKE '%\"spend.unusual\"%' \
         UNION SELECT tenant_id FROM alert_recipients ORDER BY tenant_id",
    )
    .fetch_all_as::<TenantRow>(db)
    .await?;
    let mut raised = Vec::new();
    for TenantRow { tenant_id } in tenants {
        let spenders = query(sql(
            db.dialect,
            "SELECT user_id, currency, CAST(SUM(cost_nanos) AS BIGINT) AS spent \
             FROM usage_events WHERE tenant_id = ?1 AND ts_us >= ?2 AND ts_us < ?3 \
             AND user_id IS NOT NULL AND user_id <> '' GROUP BY user_id, currency \
             ORDER BY user_id, currency",
        ))
        .bind(&tenant_id)
        .bind(hour)
        .bind(hour + HOUR_US)
        .fetch_all_as::<HourRow>(db)
        .await?;
        for s in spenders {
            if s.spent <= 0 || s.spent < rule.min_amount {
                continue;
            }
            let key = format!(
                "spend:{}:{}:{}",
                &format_us(hour)[..13],
                s.currency,
                s.user_id
            );
            // Once raised, an hour stays raised: a read, so an idle scan never writes.
            let known = query(sql(
                db.dialect,
                "SELECT 1 FROM alert_events WHERE tenant_id = ?1 AND dedupe_key = ?2",
            ))
            .bind(&tenant_id)
            .bind(&key)
            .fetch_optional(db)
            .await?;
            if known.is_some() {
                continue;
            }
            let total: i64 = query(sql(
                db.dialect,
                "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS total FROM usage_daily \
                 WHERE tenant_id = ?1 AND day >= ?2 AND day < ?3 AND user_id = ?4 \
                 AND currency = ?5",
            ))
            .bind(&tenant_id)
            .bind(today - rule.window_days)
            .bind(today)
            .bind(&s.user_id)
            .bind(&s.currency)
            .fetch_one(db)
            .await?
            .get("total")?;
            if !is_unusual(s.spent, total, window_hours, rule.multiple, rule.min_amount) {
                continue;
            }
            raised.push(NewAlert {
                tenant_id: tenant_id.clone(),
                event_type: EventType::UnusualSpend,
                dedupe_key: key,
                data: json!({
                    "user_id": s.user_id,
                    "currency": s.currency,
                    "hour_start": format_us(hour),
                    "hour_end": format_us(hour + HOUR_US),
                    "spent": Nanos(s.spent).to_string(),
                    "hourly_average": Nanos(hourly_average(total, window_hours)).to_string(),
                    "window_days": rule.window_days,
                    "window_total": Nanos(total).to_string(),
                    "multiple": rule.multiple.normalize().to_string(),
                    "min_amount": Nanos(rule.min_amount).to_string(),
                }),
                created_us: now,
            });
        }
    }
    if raised.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let n = raise_in(&mut tx, db.dialect, &raised).await?;
    tx.commit().await?;
    Ok(n)
}
