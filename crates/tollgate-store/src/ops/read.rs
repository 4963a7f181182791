//! Reading usage: rollup-backed totals and indexed event listings. Neither reads more than
//! the range asked for, so their cost does not grow with a tenant's history.

use std::collections::BTreeMap;

use tollgate_core::time::{day_of, DAY_US};
use tollgate_core::usage::ServiceTier;
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};

use super::decode::{json_object, uuid};
use crate::db::{query, row, Db, FromRow, Row, Sql};
use crate::model::{LogEntry, LogFilter, StoredEvent, UsageRow};
use crate::StoreError;

/// The SQL condition that an event was recorded unpriced: the one place the store's queries
/// say what counts as unpriced (the SQLite receipt scan reads the same bit through
/// [`EventFlags`]). A literal, so that it joins other literals in `concat!`.
macro_rules! unpriced_sql {
    () => {
        "(flags & 2) <> 0"
    };
}
pub(crate) use unpriced_sql;

/// The sums of a group of events, named like the rollup columns they stand in for
/// ([`ROLLUP_MEASURES`]), counted as the rollups count them: an adjustment is no request, and
/// the unpriced call it prices no longer counts as unpriced.
const SUMS: &str =
    "CAST(SUM(CASE WHEN source = 'adjustment' THEN 0 ELSE 1 END) AS BIGINT) AS requests, \
     CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
     CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
     CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens, \
     CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
     CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens, \
     CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos, \
     CAST(SUM(CASE WHEN (flags & 1) <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS cached_responses, \
     CAST(SUM(CASE WHEN source = 'adjustment' THEN (CASE WHEN adjusts IS NULL THEN 0 ELSE -1 END) \
                   WHEN (flags & 2) <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS unpriced";

pub(super) const ROLLUP_MEASURES: &str =
    "requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, \
     reasoning_tokens, cost_nanos, cached_responses, unpriced";

row! {
    /// A row shaped like `usage_daily`: every query read by [`fetch_rows`] answers these
    /// names, the rollup's own columns or expressions aliased to them.
    struct RollupRow {
        day: i64,
        provider: String,
        model: String,
        alias: String,
        origin: String,
        user_id: String,
        currency: String,
        requests: i64,
        input_tokens: i64,
        output_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        cost_nanos: i64,
        cached_responses: i64,
        unpriced: i64,
    }
}

impl From<RollupRow> for UsageRow {
    fn from(r: RollupRow) -> UsageRow {
        UsageRow {
            day: r.day,
            provider: r.provider,
            model: r.model,
            alias: r.alias,
            origin: r.origin,
            user_id: r.user_id,
            currency: r.currency,
            requests: r.requests,
            tokens: TokenCounts {
                input: r.input_tokens,
                output: r.output_tokens,
                cached_input: r.cached_input_tokens,
                cache_write: r.cache_write_tokens,
                reasoning: r.reasoning_tokens,
                ..TokenCounts::default()
            },
            cost: Nanos(r.cost_nanos),
            cached_responses: r.cached_responses,
            unpriced: r.unpriced,
        }
    }
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

/// Usage rows of a query answering the columns of [`RollupRow`].
pub(super) async fn fetch_rows(db: &Db, sql: &Sql) -> Result<Vec<UsageRow>, StoreError> {
    let rows = sql.fetch_all_as::<RollupRow>(db).await?;
    Ok(rows.into_iter().map(UsageRow::from).collect())
}

async fn event_rows(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Vec<UsageRow>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT ts_us / {DAY_US} AS day, provider, model, COALESCE(alias, '') AS alias, \
             COALESCE(origin, '') AS origin, COALESCE(user_id, '') AS user_id, currency, {SUMS} \
             FROM usage_events WHERE tenant_id = "
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

/// Usage totals per day, value of the dimension `name`, provider, model and currency for
/// `[start_us, end_us]`: whole days from `usage_daily_dimensions`, the partial days at either
/// end from the events. Events without the dimension are not in it. Each row is a
/// [`UsageRow`] with the value in `user_id` (the rollup keeps no user, alias or origin), so
/// the rollup readers serve it; [`dimension_rows`] moves it to the pair's first member.
pub(super) async fn dimension_rows(
    db: &Db,
    tenant: &str,
    name: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Vec<(String, UsageRow)>, StoreError> {
    if end_us < start_us {
        return Ok(Vec::new());
    }
    let first_full = day_of(start_us) + i64::from(start_us.rem_euclid(DAY_US) != 0);
    let last_full = day_of(end_us.saturating_add(1)) - 1;
    let mut rows = Vec::new();
    let mut partial = vec![(start_us, end_us)];
    if first_full <= last_full {
        let mut sql = Sql::new(&format!(
            "SELECT day, provider, model, '' AS alias, '' AS origin, value AS user_id, currency, \
             {ROLLUP_MEASURES} FROM usage_daily_dimensions WHERE tenant_id = "
        ));
        sql.push_bind(tenant)
            .push(" AND name = ")
            .push_bind(name)
            .push(" AND day >= ")
            .push_bind(first_full)
            .push(" AND day <= ")
            .push_bind(last_full);
        rows.extend(fetch_rows(db, &sql).await?);
        partial = vec![
            (start_us, first_full * DAY_US - 1),
            ((last_full + 1) * DAY_US, end_us),
        ];
    }
    let value = dimension_value(db);
    for (from, to) in partial.into_iter().filter(|(from, to)| from <= to) {
        let mut sql = Sql::new(&format!(
            "SELECT ts_us / {DAY_US} AS day, provider, model, '' AS alias, '' AS origin, \
             COALESCE({value}"
        ));
        sql.push_bind(name).push(&format!(
            "), '') AS user_id, currency, {SUMS} FROM usage_events \
             WHERE dimensions IS NOT NULL AND tenant_id = "
        ));
        sql.push_bind(tenant)
            .push(" AND ts_us >= ")
            .push_bind(from)
            .push(" AND ts_us <= ")
            .push_bind(to)
            // By position: `user_id` would name the events' own column on PostgreSQL.
            .push(" GROUP BY 1, 2, 3, 6, 7");
        rows.extend(
            fetch_rows(db, &sql)
                .await?
                .into_iter()
                .filter(|r| !r.user_id.is_empty()),
        );
    }
    Ok(rows
        .into_iter()
        .map(|mut r| (std::mem::take(&mut r.user_id), r))
        .collect())
}

/// The value of one member of an event's `dimensions` object, in each engine's words: the
/// text up to the member's name, which the caller binds and closes with `)`.
pub(super) fn dimension_value(db: &Db) -> &'static str {
    match db.dialect {
        crate::db::Dialect::Sqlite => "json_extract(dimensions, '$.' || ",
        crate::db::Dialect::Postgres => "(CAST(dimensions AS jsonb) ->> ",
    }
}

/// True of an event `e` no adjustment prices (the `usage_events_by_adjusted` index answers it).
const NOT_ADJUSTED: &str = "NOT EXISTS (SELECT 1 FROM usage_events a \
     WHERE a.tenant_id = e.tenant_id AND a.adjusts = e.log_id)";

pub(super) const EVENT_COLUMNS: &str = "seq, recorded_us, log_id, tenant_id, request_id, ts_us, provider, model, alias, profile, \
     origin, id_at_origin, user_id, conversation_id, input_tokens, output_tokens, cached_input_tokens, \
     cache_write_tokens, reasoning_tokens, latency_ms, cost_nanos, currency, price_version, flags, source, metadata, \
     input_cost_nanos, lock_digest, units, cache_write_1h_tokens, audio_input_tokens, \
     image_input_tokens, video_input_tokens, audio_output_tokens, image_output_tokens, service_tier, \
     quantities, adjusts, estimate_method, dimensions";

row! {
    /// The columns of [`EVENT_COLUMNS`].
    struct EventRow {
        seq: i64,
        recorded_us: i64,
        log_id: String,
        tenant_id: String,
        request_id: Option<String>,
        ts_us: i64,
        provider: String,
        model: String,
        alias: Option<String>,
        profile: String,
        origin: Option<String>,
        id_at_origin: Option<String>,
        user_id: Option<String>,
        conversation_id: Option<String>,
        input_tokens: i64,
        output_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        latency_ms: Option<i64>,
        cost_nanos: i64,
        currency: String,
        price_version: Option<String>,
        flags: i64,
        source: String,
        metadata: Option<String>,
        input_cost_nanos: Option<i64>,
        lock_digest: Option<String>,
        units: Option<i64>,
        cache_write_1h_tokens: i64,
        audio_input_tokens: i64,
        image_input_tokens: i64,
        video_input_tokens: i64,
        audio_output_tokens: i64,
        image_output_tokens: i64,
        service_tier: Option<String>,
        quantities: Option<String>,
        adjusts: Option<String>,
        estimate_method: Option<String>,
        dimensions: Option<String>,
    }
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            seq: r.seq,
            recorded_us: r.recorded_us,
            event: UsageEvent {
                log_id: uuid(&r.log_id)?,
                tenant_id: r.tenant_id,
                request_id: r.request_id,
                timestamp_us: r.ts_us,
                provider: r.provider,
                model: r.model,
                alias: r.alias,
                profile: r.profile,
                lock_digest: r.lock_digest,
                units: r.units,
                origin: r.origin,
                id_at_origin: r.id_at_origin,
                user_id: r.user_id,
                conversation_id: r.conversation_id.as_deref().map(uuid).transpose()?,
                tokens: TokenCounts {
                    input: r.input_tokens,
                    output: r.output_tokens,
                    cached_input: r.cached_input_tokens,
                    cache_write: r.cache_write_tokens,
                    reasoning: r.reasoning_tokens,
                    cache_write_1h: r.cache_write_1h_tokens,
                    audio_input: r.audio_input_tokens,
                    image_input: r.image_input_tokens,
                    video_input: r.video_input_tokens,
                    audio_output: r.audio_output_tokens,
                    image_output: r.image_output_tokens,
                },
                service_tier: match r.service_tier.as_deref() {
                    None => ServiceTier::Standard,
                    Some(t) => ServiceTier::parse("service_tier", t)
                        .map_err(|e| StoreError::Invariant(e.message))?,
                },
                quantities: match r.quantities.as_deref() {
                    None => BTreeMap::new(),
                    Some(q) => serde_json::from_str(q).map_err(|_| {
                        StoreError::Invariant(format!("quantities '{q}' are malformed"))
                    })?,
                },
                latency_ms: r.latency_ms,
                cost: Nanos(r.cost_nanos),
                input_cost: r.input_cost_nanos.map(Nanos),
                currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
                price_version: r.price_version,
                flags: EventFlags::from_bits(r.flags),
                source: EventSource::parse(&r.source),
                metadata: json_object(r.metadata),
                adjusts: r.adjusts.as_deref().map(uuid).transpose()?,
                estimate_method: r.estimate_method,
                dimensions: match r.dimensions.as_deref() {
                    None => Default::default(),
                    Some(text) => serde_json::from_str(text).map_err(|e| {
                        StoreError::Invariant(format!("an event's dimensions: {e}"))
                    })?,
                },
            },
        })
    }
}

/// The event of a row that selects at least [`EVENT_COLUMNS`].
pub(crate) fn stored_event(row: &Row) -> Result<StoredEvent, StoreError> {
    EventRow::from_row(row)?.try_into()
}

pub(super) async fn list_events(
    db: &Db,
    tenant: &str,
    f: &LogFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events e WHERE tenant_id = "
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
        sql.push(&format!(" AND (flags & 2) <> 0 AND {NOT_ADJUSTED}"));
    }
    if let Some(d) = &f.dimension {
        sql.push(" AND dimensions IS NOT NULL AND ")
            .push(dimension_value(db))
            .push_bind(&d.name)
            .push(") = ")
            .push_bind(&d.value);
    }
    sql.push(" ORDER BY ts_us DESC, seq DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = sql.fetch_all_as::<EventRow>(db).await?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

row! {
    struct LogEntryRow { seq: i64, entry: Vec<u8>, leaf_hash: Vec<u8> }
}

row! {
    struct ArchivedLeafRow { seq: i64, leaf_hash: Vec<u8> }
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
    .fetch_all_as::<LogEntryRow>(db)
    .await?;
    let mut out: Vec<LogEntry> = rows
        .into_iter()
        .map(|r| LogEntry {
            seq: r.seq,
            entry: Some(r.entry),
            leaf_hash: r.leaf_hash,
        })
        .collect();
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
    .fetch_all_as::<ArchivedLeafRow>(db)
    .await?;
    for r in archived {
        if !out.iter().any(|e| e.seq == r.seq) {
            out.push(LogEntry {
                seq: r.seq,
                entry: None,
                leaf_hash: r.leaf_hash,
            });
        }
    }
    out.sort_unstable_by_key(|e| e.seq);
    out.retain(|e| e.seq < end);
    out.truncate(limit.max(0) as usize);
    Ok(out)
}

row! {
    /// One model's calls, summed by token class.
    struct ModelUsageRow {
        provider: String,
        model: String,
        service_tier: Option<String>,
        requests: i64,
        input_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        cache_write_1h_tokens: i64,
        output_tokens: i64,
        reasoning_tokens: i64,
        audio_input_tokens: i64,
        image_input_tokens: i64,
        video_input_tokens: i64,
        audio_output_tokens: i64,
        image_output_tokens: i64,
        first_us: i64,
        last_us: i64,
    }
}

/// Sums of every token class, for [`ModelUsageRow`].
const CLASS_SUMS: &str = "CAST(COUNT(*) AS BIGINT) AS requests, \
     CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
     CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens, \
     CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
     CAST(SUM(cache_write_1h_tokens) AS BIGINT) AS cache_write_1h_tokens, \
     CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
     CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens, \
     CAST(SUM(audio_input_tokens) AS BIGINT) AS audio_input_tokens, \
     CAST(SUM(image_input_tokens) AS BIGINT) AS image_input_tokens, \
     CAST(SUM(video_input_tokens) AS BIGINT) AS video_input_tokens, \
     CAST(SUM(audio_output_tokens) AS BIGINT) AS audio_output_tokens, \
     CAST(SUM(image_output_tokens) AS BIGINT) AS image_output_tokens, \
     MIN(ts_us) AS first_us, MAX(ts_us) AS last_us";

/// The tenant's calls in `[start_us, end_us]`, per provider and model: those recorded without
/// a price (`unpriced`; the `usage_events_unpriced` index covers the scan), or else the priced
/// LLM calls, also per service tier, for the token classes and tiers their prices bill by a
/// fallback. Most calls first.
pub(super) async fn model_usage(
    db: &Db,
    tenant_id: &str,
    start_us: i64,
    end_us: i64,
    unpriced: bool,
) -> Result<Vec<crate::model::UnpricedGroup>, StoreError> {
    let sql = if unpriced {
        format!(
            "SELECT provider, model, CAST(NULL AS TEXT) AS service_tier, {CLASS_SUMS} \
             FROM usage_events e WHERE tenant_id = $1 AND {} \
             AND ts_us >= $2 AND ts_us <= $3 AND {NOT_ADJUSTED} \
             GROUP BY provider, model ORDER BY requests DESC, provider, model",
            unpriced_sql!()
        )
    } else {
        format!(
            "SELECT provider, model, service_tier, {CLASS_SUMS} \
             FROM usage_events WHERE tenant_id = $1 AND (flags & 3) = 0 AND source <> 'tool' \
             AND ts_us >= $2 AND ts_us <= $3 \
             GROUP BY provider, model, service_tier ORDER BY requests DESC, provider, model"
        )
    };
    let rows = query(sql)
        .bind(tenant_id)
        .bind(start_us)
        .bind(end_us)
        .fetch_all_as::<ModelUsageRow>(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| crate::model::UnpricedGroup {
            provider: r.provider,
            model: r.model,
            service_tier: r.service_tier,
            requests: r.requests,
            tokens: TokenCounts {
                input: r.input_tokens,
                output: r.output_tokens,
                cached_input: r.cached_input_tokens,
                cache_write: r.cache_write_tokens,
                cache_write_1h: r.cache_write_1h_tokens,
                reasoning: r.reasoning_tokens,
                audio_input: r.audio_input_tokens,
                image_input: r.image_input_tokens,
                video_input: r.video_input_tokens,
                audio_output: r.audio_output_tokens,
                image_output: r.image_output_tokens,
            },
            first_us: r.first_us,
            last_us: r.last_us,
        })
        .collect())
}

/// The tenant's calls a repricing may price, in log order after position `after_seq`, at most
/// `limit`: flagged unpriced, not served from a response cache, not adjustments themselves,
/// not adjusted yet, with an event time in `[start_us, end_us)`.
pub(super) async fn reprice_candidates(
    db: &Db,
    tenant: &str,
    start_us: i64,
    end_us: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = query(format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events e WHERE tenant_id = $1 AND (flags & 2) <> 0 \
         AND (flags & 1) = 0 AND source <> 'adjustment' AND ts_us >= $2 AND ts_us < $3 \
         AND seq > $4 AND {NOT_ADJUSTED} ORDER BY seq LIMIT $5"
    ))
    .bind(tenant)
    .bind(start_us)
    .bind(end_us)
    .bind(after_seq)
    .bind(limit)
    .fetch_all_as::<EventRow>(db)
    .await?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}
