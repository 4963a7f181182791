//! `GET /api/v1/logs`: the events of a range, newest first, with filters (llmring 1.4.0's
//! `server logs`). The body is a bare array, as that client iterates it; the page and the
//! range searched are in headers, with a `Link` to the next page when this one is full.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::Json;
use tollgate_api::usage::{logs_headers, LogEntry, LogSource, LogsQuery};
use tollgate_core::time::format_us;
use tollgate_core::EventSource;
use tollgate_store::{LogFilter, StoredEvent};
use uuid::Uuid;

use super::conversations::bounded;
use super::stats::date_range;
use super::usage::flags;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{without_empty_values, Params};
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
    let unindexed =
        q.alias.is_some() || q.model.is_some() || q.provider.is_some() || q.origin.is_some();
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
