//! `GET /api/v1/logs`: the events of a range, newest first, with filters (llmring 1.4.0's
//! `server logs`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::format_us;
use tollgate_store::{LogFilter, StoredEvent};
use uuid::Uuid;

use super::conversations::bounded;
use super::stats::date_range;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Query of `GET /api/v1/logs`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many, 1 to 500 (default 50).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
    /// First day or instant (RFC 3339; a date alone starts at midnight UTC).
    start_date: Option<String>,
    /// Last day or instant (a date alone ends at the end of that day).
    end_date: Option<String>,
    /// Only this llmring alias.
    alias: Option<String>,
    /// Only this model.
    model: Option<String>,
    /// Only this provider.
    provider: Option<String>,
    /// Only this origin.
    origin: Option<String>,
    /// Only this end user's calls.
    user_id: Option<String>,
    /// Only this conversation's calls (a UUID).
    conversation_id: Option<String>,
    /// `true`: only calls no price was known for.
    unpriced: Option<bool>,
}

pub(crate) fn event_json(s: &StoredEvent) -> Value {
    let e = &s.event;
    json!({
        "id": e.log_id,
        "logged_at": format_us(e.timestamp_us),
        "recorded_at": format_us(s.recorded_us),
        "seq": s.seq,
        "provider": e.provider,
        "model": e.model,
        "alias": e.alias,
        "profile": e.profile,
        "origin": e.origin,
        "id_at_origin": e.id_at_origin,
        "user_id": e.user_id,
        "conversation_id": e.conversation_id,
        "request_id": e.request_id,
        "input_tokens": e.tokens.input,
        "output_tokens": e.tokens.output,
        "cached_input_tokens": e.tokens.cached_input,
        "cache_write_tokens": e.tokens.cache_write,
        "reasoning_tokens": e.tokens.reasoning,
        "latency_ms": e.latency_ms,
        "cost": e.cost.to_f64(),
        "cost_exact": e.cost.to_string(),
        "currency": e.currency,
        "price_version": e.price_version,
        "flags": e.flags.names(),
        "source": e.source.as_str(),
        "metadata": e.metadata,
    })
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
        (status = 200, description = "`logs` (each with its tokens, `cost`, `cost_exact`, `currency`, `price_version`, `flags`, `seq`), `limit`, `offset`, `count`, and the `start_date` and `end_date` searched", body = Value),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "logs": found.iter().map(event_json).collect::<Vec<_>>(),
        "limit": limit,
        "offset": offset,
        "count": found.len(),
        "start_date": start_us.map(format_us),
        "end_date": end_us.map(format_us),
    })))
}
