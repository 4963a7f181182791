//! Adding messages to a conversation: a batch (llmring's C6, as
//! `LLMRingSession.chat_with_conversation` posts the request's messages and the answer) or
//! one (`MCPHttpClient.add_message`). Both need the `ingest` scope.
//!
//! The messages are the ones `POST /api/v1/conversations/log` stores, in the same table,
//! after the conversation's last: content and hash are kept by [`kept`], the metadata object
//! is bounded by [`metadata`], as for the log. What is kept follows the server's
//! `message_logging_level`; a batch may ask for less with its `logging_level` (the stricter
//! applies), and at `none` stores nothing and answers `[]`.

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use tollgate_api::conversations::{Message, MessageBatch, MessageCreate, MessageLoggingLevel};
use tollgate_core::time::now_us;
use tollgate_core::validate::tokens;
use tollgate_core::Invalid;
use tollgate_store::NewMessage;
use uuid::Uuid;

use super::{conversation_id, message};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::ingest::{kept, metadata, MAX_MESSAGES};
use crate::settings::LoggingLevel;
use crate::state::AppState;

/// The stricter of the server's level and the one a batch asks for.
fn stricter(server: LoggingLevel, asked: MessageLoggingLevel) -> LoggingLevel {
    let asked = match asked {
        MessageLoggingLevel::Full => LoggingLevel::Full,
        MessageLoggingLevel::Metadata => LoggingLevel::Metadata,
        MessageLoggingLevel::None => LoggingLevel::None,
    };
    let keeps = |level: LoggingLevel| match level {
        LoggingLevel::None => 0,
        LoggingLevel::Metadata => 1,
        LoggingLevel::Full => 2,
    };
    if keeps(asked) < keeps(server) {
        asked
    } else {
        server
    }
}

/// A message to store, checked; `field` prefixes the names in errors (`messages[2]`, or ""
/// for a message alone).
fn new_message(
    field: &str,
    m: MessageCreate,
    level: LoggingLevel,
    ts_us: i64,
) -> Result<NewMessage, Invalid> {
    let within = |e: Invalid| {
        if field.is_empty() {
            e
        } else {
            e.within(field)
        }
    };
    for (name, value) in [
        ("input_tokens", m.input_tokens),
        ("output_tokens", m.output_tokens),
    ] {
        if let Some(v) = value {
            tokens(name, v).map_err(within)?;
        }
    }
    let (content, content_hash) = kept(m.content.map(Value::from), level);
    Ok(NewMessage {
        id: Uuid::now_v7(),
        role: m.role.as_str().to_string(),
        content,
        content_hash,
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        tool_calls: m.tool_calls,
        tool_results: m.tool_results,
        metadata: metadata(m.metadata).map_err(within)?,
        ts_us,
    })
}

/// The batch's messages to store: every one checked, none at `none`.
fn batch_messages(
    messages: Vec<MessageCreate>,
    level: LoggingLevel,
    ts_us: i64,
) -> Result<Vec<NewMessage>, Invalid> {
    if messages.len() > MAX_MESSAGES {
        return Err(Invalid::field(
            "messages",
            format!("at most {MAX_MESSAGES} messages per batch"),
        ));
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        let m = new_message(&format!("messages[{i}]"), m, level, ts_us)?;
        if level != LoggingLevel::None {
            out.push(m);
        }
    }
    Ok(out)
}

/// Add messages to a conversation
///
/// llmring's message batch: the messages are stored after the conversation's last, in order,
/// with the time they arrived, and counted in its `message_count` and token totals.
/// `logging_level` may keep less than the server's `message_logging_level`, never more:
/// `metadata` keeps the hash only (`content` null), `none` stores nothing and answers `[]`.
/// `conversation_id` must be given (a UUID); the path's is the one written. `create_receipt`
/// and each message's `receipt_id` are accepted and ignored.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages/batch",
    tag = "conversations",
    operation_id = "add_messages",
    params(("id" = String, Path, description = "The conversation's id (a UUID)")),
    request_body = MessageBatch,
    responses(
        (status = 200, description = "The messages as stored, in order (`[]` at `none`)", body = Vec<Message>),
        (status = 404, description = "No such conversation, or another tenant's"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (`INVALID_FIELD`, naming it: `conversation_id`, `logging_level`, `messages[i].role`, ...)"),
    )
)]
pub async fn batch(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    PathParam(id): PathParam,
    Body(body): Body<MessageBatch>,
) -> Result<Json<Vec<Message>>, ApiError> {
    let id = conversation_id(&id)?;
    let named = body.conversation_id.ok_or_else(|| {
        ApiError::invalid_field(
            "conversation_id",
            "conversation_id is required (the conversation's id, a UUID)",
        )
    })?;
    conversation_id(&named)?;
    let messages = body.messages.ok_or_else(|| {
        ApiError::invalid_field("messages", "messages is required (a list of messages)")
    })?;
    let level = stricter(state.settings().message_logging_level, body.logging_level);
    let new = batch_messages(messages, level, now_us())?;
    let stored = state
        .store()
        .add_messages(&auth.tenant_id, id, &new)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    Ok(Json(stored.into_iter().map(message).collect()))
}

/// Add a message to a conversation
///
/// One message (llmring's MCP client sends `role`, `content` and `metadata`), stored after
/// the conversation's last at the server's `message_logging_level`.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "add_message",
    params(("id" = String, Path, description = "The conversation's id (a UUID)")),
    request_body = MessageCreate,
    responses(
        (status = 200, description = "The message as stored", body = Message),
        (status = 404, description = "No such conversation, or another tenant's"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (`INVALID_FIELD`, naming it)"),
    )
)]
pub async fn one(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    PathParam(id): PathParam,
    Body(body): Body<MessageCreate>,
) -> Result<Json<Message>, ApiError> {
    let id = conversation_id(&id)?;
    let new = new_message("", body, state.settings().message_logging_level, now_us())?;
    let stored = state
        .store()
        .add_messages(&auth.tenant_id, id, std::slice::from_ref(&new))
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    let m = stored
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("add_messages stored no message"))?;
    Ok(Json(message(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_no_more_than_the_server_allows() {
        use LoggingLevel as S;
        use MessageLoggingLevel as C;
        let cases = [
            (S::Full, C::Full, S::Full),
            (S::Full, C::Metadata, S::Metadata),
            (S::Full, C::None, S::None),
            (S::Metadata, C::Full, S::Metadata),
            (S::Metadata, C::None, S::None),
            (S::None, C::Full, S::None),
        ];
        for (server, asked, kept) in cases {
            assert_eq!(stricter(server, asked), kept, "{server:?} {asked:?}");
        }
    }
}
