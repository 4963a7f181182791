//! `GET /api/v1/logs`: the events of a range, newest first, with filters (llmring 1.4.0's
//! `server logs`).

use axum::extract::State;
use axum::Json;
use tollgate_api::usage::{LogEntry, LogSource, LogsPage, LogsQuery};
use tollgate_core::time::format_us;
use tollgate_core::EventSource;
use tollgate_store::{LogFilter, StoredEvent};
use uuid::Uuid;

use super::conversations::bounded;
use super::stats::date_range;
use super::usage::flags;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
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
        reasoning_tokens: e.tokens.reasoning,
        latency_ms: e.latency_ms,
        cost: e.cost.to_f64(),
        cost_exact: e.cost.to_string(),
        currency: e.currency.to_string(),
        price_version: e.price_version.clone(),
        flags: flags(e.flags),
        source: match e.source {
            EventSource::Usage => LogSource::Usage,
            EventSource::Conversation => LogSource::Conversation,
        },
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
        (status = 200, description = "A page of calls, newest first, with the range searched", body = LogsPage),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<LogsQuery>,
) -> Result<Json<LogsPage>, ApiError> {
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
    Ok(Json(LogsPage {
        logs: found.iter().map(log_entry).collect(),
        limit,
        offset,
        count: found.len() as u64,
        start_date: start_us.map(format_us),
        end_date: end_us.map(format_us),
    }))
}
