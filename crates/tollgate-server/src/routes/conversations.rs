//! Conversations (llmring-wire §5): `POST /api/v1/conversations/log` and the reads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::format_us;
use tollgate_store::{Conversation, Message, Scope};
use uuid::Uuid;

use super::usage::context;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::ingest::{conversation_item, ConversationLogBody};
use crate::state::AppState;

/// Records a call with its conversation; answers `receipt: null` (receipts are generated on
/// demand).
pub async fn log(
    State(state): State<AppState>,
    auth: Auth,
    Body(body): Body<ConversationLogBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Ingest)?;
    let _permit = state.pending(1).await?;
    let book = state.prices().current();
    let item = conversation_item(body, &context(&state, &auth, &book))?;
    let recorded = state.batcher().append(vec![item]).await?;
    let r = recorded
        .first()
        .ok_or_else(|| ApiError::internal("append returned no outcome"))?;
    Ok(Json(json!({
        "conversation_id": r.conversation_id,
        "message_id": r.message_id,
        "receipt": null,
        "log_id": r.log_id,
        "cost": r.cost.to_f64(),
        "cost_exact": r.cost.to_string(),
        "currency": r.currency,
        "duplicate": r.duplicate,
    })))
}

fn conversation_json(c: &Conversation) -> Value {
    json!({
        "id": c.id,
        "api_key_id": c.tenant_id,
        "title": c.title,
        "system_prompt": c.system_prompt,
        "model_alias": c.model_alias,
        "temperature": c.temperature,
        "max_tokens": c.max_tokens,
        "message_count": c.message_count,
        "total_input_tokens": c.total_input_tokens,
        "total_output_tokens": c.total_output_tokens,
        "total_cost": c.total_cost.to_f64(),
        "total_cost_exact": c.total_cost.to_string(),
        "currency": c.currency,
        "created_at": format_us(c.created_us),
        "updated_at": format_us(c.updated_us),
        "last_message_at": c.last_message_us.map(format_us),
    })
}

fn message_json(m: &Message) -> Value {
    json!({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "receipt_id": null,
        "role": m.role,
        "content": m.content,
        "content_hash": m.content_hash,
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "tool_calls": m.tool_calls,
        "tool_results": m.tool_results,
        "metadata": m.metadata,
        "timestamp": format_us(m.ts_us),
    })
}

fn conversation_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
            "conversation_id must be a UUID",
        )
        .with_details(json!({"field": "conversation_id"}))
    })
}

/// Checks `value` is within `min..=max`, naming `field` otherwise.
pub(crate) fn bounded(
    field: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

/// `limit` and `offset`.
#[derive(Deserialize)]
pub struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/conversations/`: most recently updated first.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let limit = bounded("limit", p.limit, 20, 1, 100)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let found = state
        .store()
        .list_conversations(&auth.tenant_id, limit, offset)
        .await?;
    Ok(Json(Value::Array(
        found.iter().map(conversation_json).collect(),
    )))
}

/// Query of `GET /api/v1/conversations/{id}`.
#[derive(Deserialize)]
pub struct GetQuery {
    include_messages: Option<bool>,
    message_limit: Option<i64>,
}

/// `GET /api/v1/conversations/{id}`: the conversation with its first messages.
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    PathParam(id): PathParam,
    Params(q): Params<GetQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let id = conversation_id(&id)?;
    let limit = bounded("message_limit", q.message_limit, 100, 1, 1000)?;
    let c = state
        .store()
        .get_conversation(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    let messages = if q.include_messages.unwrap_or(true) {
        state
            .store()
            .list_messages(&auth.tenant_id, id, limit, 0)
            .await?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut body = conversation_json(&c);
    body["messages"] = Value::Array(messages.iter().map(message_json).collect());
    Ok(Json(body))
}

/// `GET /api/v1/conversations/{id}/messages`: in order.
pub async fn messages(
    State(state): State<AppState>,
    auth: Auth,
    PathParam(id): PathParam,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let id = conversation_id(&id)?;
    let limit = bounded("limit", p.limit, 100, 1, 1000)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let found = state
        .store()
        .list_messages(&auth.tenant_id, id, limit, offset)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    Ok(Json(Value::Array(found.iter().map(message_json).collect())))
}
