//! Conversations (llmring-wire §5): `POST /api/v1/conversations/log` and the reads; opening
//! and changing a conversation (`edit`), adding messages (`add`) and deleting old ones
//! (`old`). Every route answers another tenant's conversation exactly as a missing one: 404
//! "Conversation not found".

pub mod add;
pub mod edit;
pub mod old;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use tollgate_api::conversations::{
    Conversation, ConversationDetail, ConversationLogBody, ConversationLogged, Message,
};
use tollgate_core::time::format_us;
use uuid::Uuid;

use super::usage::context;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::ingest::conversation_item;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Log a call with its conversation
///
/// llmring's conversation log: the conversation (created when new), its messages and the call,
/// in one transaction. Answers `receipt: null`: receipts are generated on demand.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/log",
    tag = "conversations",
    operation_id = "log_conversation",
    request_body = ConversationLogBody,
    responses(
        (status = 200, description = "The conversation and answer message created, `receipt: null`, and the call's log id and cost", body = ConversationLogged),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it)"),
        (status = 503, description = "Too many requests are waiting for a commit; retry"),
    )
)]
pub async fn log(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    Body(body): Body<ConversationLogBody>,
) -> Result<Json<ConversationLogged>, ApiError> {
    let _permit = state.pending(1).await?;
    let book = state.prices().current();
    let item = conversation_item(body, &context(&state, &auth, &book))?;
    let recorded = state.batcher().append(vec![item]).await?;
    let r = recorded
        .first()
        .ok_or_else(|| ApiError::internal("append returned no outcome"))?;
    Ok(Json(ConversationLogged {
        conversation_id: r.conversation_id.map(|c| c.to_string()),
        message_id: r.message_id.map(|m| m.to_string()),
        receipt: (),
        log_id: r.log_id.to_string(),
        cost: r.cost.to_f64(),
        cost_exact: r.cost.to_string(),
        currency: r.currency.to_string(),
        duplicate: r.duplicate,
    }))
}

fn conversation(c: tollgate_store::Conversation) -> Conversation {
    Conversation {
        id: c.id.to_string(),
        api_key_id: c.tenant_id,
        title: c.title,
        system_prompt: c.system_prompt,
        model_alias: c.model_alias,
        temperature: c.temperature,
        max_tokens: c.max_tokens,
        message_count: c.message_count,
        total_input_tokens: c.total_input_tokens,
        total_output_tokens: c.total_output_tokens,
        total_cost: c.total_cost.to_f64(),
        total_cost_exact: c.total_cost.to_string(),
        currency: c.currency,
        created_at: format_us(c.created_us),
        updated_at: format_us(c.updated_us),
        last_message_at: c.last_message_us.map(format_us),
    }
}

fn message(m: tollgate_store::Message) -> Message {
    Message {
        id: m.id.to_string(),
        conversation_id: m.conversation_id.to_string(),
        receipt_id: (),
        role: m.role,
        content: m.content,
        content_hash: m.content_hash,
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        tool_calls: m.tool_calls,
        tool_results: m.tool_results,
        metadata: m.metadata,
        timestamp: format_us(m.ts_us),
    }
}

fn conversation_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        ApiError::new(ErrorCode::InvalidField, "conversation_id must be a UUID")
            .with_field("conversation_id")
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
        Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

/// `limit` and `offset`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many (conversations: 1 to 100, default 20; messages: 1 to 1000, default 100).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
}

/// List conversations
///
/// Most recently updated first.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/",
    tag = "conversations",
    operation_id = "list_conversations",
    params(Page),
    responses(
        (status = 200, description = "The conversations, most recently updated first", body = Vec<Conversation>),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(p): Params<Page>,
) -> Result<Json<Vec<Conversation>>, ApiError> {
    let limit = bounded("limit", p.limit, 20, 1, 100)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let found = state
        .store()
        .list_conversations(&auth.tenant_id, limit, offset)
        .await?;
    Ok(Json(found.into_iter().map(conversation).collect()))
}

/// Query of `GET /api/v1/conversations/{id}`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Include the first messages (default true).
    include_messages: Option<bool>,
    /// How many messages, 1 to 1000 (default 100).
    message_limit: Option<i64>,
}

/// Get a conversation
///
/// The conversation with its first messages, in order.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    tag = "conversations",
    operation_id = "get_conversation",
    params(("id" = String, Path, description = "The conversation's id (a UUID)"), GetQuery),
    responses(
        (status = 200, description = "The conversation, as listed, with `messages`", body = ConversationDetail),
        (status = 404, description = "No such conversation, or another tenant's"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(q): Params<GetQuery>,
) -> Result<Json<ConversationDetail>, ApiError> {
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
    Ok(Json(ConversationDetail {
        conversation: conversation(c),
        messages: messages.into_iter().map(message).collect(),
    }))
}

/// List a conversation's messages
///
/// In order, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "list_messages",
    params(("id" = String, Path, description = "The conversation's id (a UUID)"), Page),
    responses(
        (status = 200, description = "The messages, oldest first: `content`, or only `content_hash`, per the logging level", body = Vec<Message>),
        (status = 404, description = "No such conversation, or another tenant's"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn messages(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(p): Params<Page>,
) -> Result<Json<Vec<Message>>, ApiError> {
    let id = conversation_id(&id)?;
    let limit = bounded("limit", p.limit, 100, 1, 1000)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let found = state
        .store()
        .list_messages(&auth.tenant_id, id, limit, offset)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    Ok(Json(found.into_iter().map(message).collect()))
}
