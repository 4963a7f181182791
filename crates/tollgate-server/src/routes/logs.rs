//! `GET /api/v1/logs`: the events of a range, newest first, with filters (llmring 1.4.0's
//! `server logs`). The body is a bare array, as that client iterates it; the page and the
//! range searched are in headers, with a `Link` to the next page when this one is full.
//!
//! `GET /api/v1/logs/{log_id}`: one call with its canonical entry and leaf hash, as a line of
//! the JSON-lines export shows it.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::Json;
use tollgate_api::usage::{logs_headers, LogEntry, LogSource, LogsQuery, UsageExportLine};
use tollgate_core::time::format_us;
use tollgate_core::EventSource;
use tollgate_store::{ExportPage, LogFilter, StoredEvent};
use uuid::Uuid;

use super::conversations::bounded;
use super::stats::date_range;
use super::usage::flags;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{without_empty_values, Params, PathParam};
use crate::receipts::b64;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// A stored event as `GET /api/v1/logs` lists it.
pub(crate) fn log_entry(s: &StoredEvent) -> LogEntry {
    let e = &s.event;
    LogEntry {
        id: e.log_id.to_string(),
        logged_at: format_us(e.timestamp_us),
        recorded_at: format_us(s.recorded_us),
        seq: s.seq,
        provider: e.provider.clone(),
        model: e.model.clone(),
        alias: e.alias.clone(),
        profile: e.profile.clone(),
        origin: e.origin.clone(),
        id_at_origin: e.id_at_origin.clone(),
        user_id: e.user_id.clone(),
        conversation_id: e.conversation_id.map(|c| c.to_string()),
        request_id: e.request_id.clone(),
        input_tokens: e.tokens.input,
        output_tokens: e.tokens.output,
        cached_input_tokens: e.tokens.cached_input,
        cache_write_tokens: e.tokens.cache_write,
        cache_write_1h_tokens: e.tokens.cache_write_1h,
        audio_input_tokens: e.tokens.audio_input,
        image_input_tokens: e.tokens.image_input,
        video_input_tokens: e.tokens.video_input,
        audio_output_tokens: e.tokens.audio_output,
        image_output_tokens: e.tokens.image_output,
        service_tier: e.service_tier.as_str().to_string(),
        quantities: e.quantities.clone(),
        reasoning_tokens: e.tokens.reasoning,
        units: e.units,
        latency_ms: e.latency_ms,
        cost: e.cost.to_f64(),
        cost_exact: e.cost.to_string(),
        currency: e.currency.to_string(),
        price_version: e.price_version.clone(),
        flags: flags(e.flags),
        source: match e.source {
            EventSource::Usage => LogSource::Usage,
            EventSource::Conversation => LogSource::Conversation,
            EventSource::Tool => LogSource::Tool,
            EventSource::Adjustment => LogSource::Adjustment,
        },
        adjusts: e.adjusts.map(|a| a.to_string()),
        estimate_method: e.estimate_method.clone(),
        dimensions: e.dimensions.clone(),
        metadata: e.metadata.clone(),
    }
}

/// List logged calls
///
/// Newest first. Without dates, the `alias`, `model`, `provider` and `origin` filters search
/// the last 30 days.
#[utoipa::path(
    get,
    path = "/api/v1/logs",
    tag = "usage",
    operation_id = "list_logs",
    params(LogsQuery),
    responses(
        (status = 200, description = "A page of calls, newest first: a bare array (what llmring 1.4.0 iterates), paged by headers", body = Vec<LogEntry>,
         headers(
             ("x-page-limit" = i64, description = "The page size used"),
             ("x-page-offset" = i64, description = "How many were skipped"),
             ("x-range-start" = String, description = "The start of the range searched, when a range applied (RFC 3339)"),
             ("x-range-end" = String, description = "The end of the range searched, when a range applied (RFC 3339)"),
             ("link" = String, description = "On a full page: `<…offset=N…>; rel=\"next\"`, the next page with the same filters"),
         )),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    uri: Uri,
    Params(q): Params<LogsQuery>,
) -> Result<(HeaderMap, Json<Vec<LogEntry>>), ApiError> {
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let offset = bounded("offset", q.offset, 0, 0, i64::MAX)?;
    // Alias, model, provider and origin have no index of their own: filtering by them
    // walks the time index, so without dates they search the last 30 days rather than the
    // whole history. Unfiltered, user and conversation listings use their indexes.
    let dimension = super::costs::dimension_match(&state, q.dimension.as_deref(), q.value.clone())?;
    let unindexed = q.alias.is_some()
        || q.model.is_some()
        || q.provider.is_some()
        || q.origin.is_some()
        || dimension.is_some();
    let (start_us, end_us) = if q.start_date.is_some() || q.end_date.is_some() || unindexed {
        let (s, e) = date_range(q.start_date.as_deref(), q.end_date.as_deref(), 30)?;
        (Some(s), Some(e))
    } else {
        (None, None)
    };
    let conversation_id = q
        .conversation_id
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| {
                ApiError::new(ErrorCode::InvalidQuery, "conversation_id must be a UUID")
            })
        })
        .transpose()?;
    let filter = LogFilter {
        start_us,
        end_us,
        alias: q.alias,
        model: q.model,
        provider: q.provider,
        origin: q.origin,
        user_id: q.user_id,
        conversation_id,
        unpriced_only: q.unpriced.unwrap_or(false),
        dimension,
    };
    let found = state
        .store()
        .list_events(&auth.tenant_id, &filter, limit, offset)
        .await?;
    let mut headers = HeaderMap::new();
    put(&mut headers, logs_headers::LIMIT, &limit.to_string());
    put(&mut headers, logs_headers::OFFSET, &offset.to_string());
    if let (Some(s), Some(e)) = (start_us, end_us) {
        put(&mut headers, logs_headers::RANGE_START, &format_us(s));
        put(&mut headers, logs_headers::RANGE_END, &format_us(e));
    }
    if found.len() as i64 == limit {
        let next = next_page(&uri, offset + limit);
        put(
            &mut headers,
            header::LINK.as_str(),
            &format!("<{next}>; rel=\"next\""),
        );
    }
    Ok((headers, Json(found.iter().map(log_entry).collect())))
}

/// Get one logged call
///
/// The call as `GET /api/v1/logs` lists it, plus its leaf `index` in the tenant log, its
/// canonical `entry` exactly as stored and that entry's `leaf_hash`: one line of the
/// JSON-lines export. Another tenant's call is not found, as a missing one is.
#[utoipa::path(
    get,
    path = "/api/v1/logs/{log_id}",
    tag = "usage",
    operation_id = "get_log",
    params(("log_id" = String, Path, description = "The call's log id (a UUID)")),
    responses(
        (status = 200, description = "The call with its canonical entry and leaf hash", body = UsageExportLine),
        (status = 404, description = "No call of the tenant has that id (`NOT_FOUND`), or retention archived it (its entry is in the archive file)"),
    )
)]
pub async fn one(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(log_id): PathParam,
) -> Result<Json<UsageExportLine>, ApiError> {
    // A malformed id is as unknown as a missing one: there is nothing else to say about it.
    let log_id = Uuid::parse_str(log_id.trim()).map_err(|_| ApiError::not_found("Log"))?;
    let store = state.store();
    let found = store
        .find_log_entry(&auth.tenant_id, log_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Log"))?;
    if found.entry.is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "that log was archived by retention: its entry is in the archive file",
        ));
    }
    // The export's keyset read at exactly that position returns the event with the bytes
    // its leaf hash covers, so the answer is what an export would write for it.
    let page = ExportPage {
        start_us: i64::MIN,
        end_us: i64::MAX,
        after_seq: found.seq - 1,
        last_seq: found.seq,
        limit: 1,
        dimension: None,
    };
    let x = store
        .export_page(&auth.tenant_id, &page)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Log"))?;
    let entry = String::from_utf8(x.entry)
        .map_err(|_| ApiError::internal(format!("the entry at {} is not UTF-8", found.seq)))?;
    Ok(Json(UsageExportLine {
        log: log_entry(&x.event),
        index: x.event.seq,
        entry,
        leaf_hash: b64(&x.leaf_hash),
    }))
}

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// The path and query of the page at `offset`, with the request's other parameters.
fn next_page(uri: &Uri, offset: i64) -> String {
    let kept = without_empty_values(uri.query().unwrap_or_default());
    let mut query: Vec<&str> = kept
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("offset="))
        .collect();
    let offset = format!("offset={offset}");
    query.push(&offset);
    format!("{}?{}", uri.path(), query.join("&"))
}
