//! Opening a conversation before any call (llmring's C1, `LLMRingSession.create_conversation`
//! and the MCP client's) and changing its settings (C4). Both need the `ingest` scope.
//!
//! The settings are checked as llmring's server checks them: `title` at most 500 characters,
//! `model_alias` at most 255 and never null, `temperature` 0 to 2, `max_tokens` more than 0.
//! A change may clear `title`, `system_prompt` and `max_tokens` with null; `model_alias` and
//! `temperature` always have a value, so null there is refused.

use axum::extract::State;
use axum::Json;
use tollgate_api::conversations::{Conversation, ConversationCreate, ConversationUpdate};
use tollgate_core::Invalid;
use tollgate_store::{ConversationChange, ConversationSettings};
use uuid::Uuid;

use super::{conversation, conversation_id};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::state::AppState;

const MAX_TITLE: usize = 500;
const MAX_ALIAS: usize = 255;

fn at_most(field: &str, value: String, max: usize) -> Result<String, Invalid> {
    let n = value.chars().count();
    if n > max {
        return Err(Invalid::field(
            field,
            format!("{field} must be at most {max} characters, got {n}"),
        ));
    }
    Ok(value)
}

fn temperature(value: f64) -> Result<f64, Invalid> {
    if (0.0..=2.0).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::field(
            "temperature",
            format!("temperature must be between 0 and 2, got {value}"),
        ))
    }
}

fn max_tokens(value: i64) -> Result<i64, Invalid> {
    if value > 0 {
        Ok(value)
    } else {
        Err(Invalid::field(
            "max_tokens",
            format!("max_tokens must be more than 0, got {value}"),
        ))
    }
}

/// Open a conversation
///
/// A conversation with no messages yet, owned by the caller's tenant; messages are added
/// with `POST /api/v1/conversations/{id}/messages/batch`. `project_id` and `api_key_id` are
/// accepted and ignored.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/",
    tag = "conversations",
    operation_id = "create_conversation",
    request_body = ConversationCreate,
    responses(
        (status = 200, description = "The conversation, as listed", body = Conversation),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it): a title over 500 characters, a null or over-long `model_alias`, a temperature outside 0 to 2, `max_tokens` not above 0"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    Body(body): Body<ConversationCreate>,
) -> Result<Json<Conversation>, ApiError> {
    let settings = ConversationSettings {
        id: Uuid::now_v7(),
        title: body
            .title
            .map(|t| at_most("title", t, MAX_TITLE))
            .transpose()?,
        system_prompt: body.system_prompt,
        model_alias: at_most("model_alias", body.model_alias, MAX_ALIAS)?,
        temperature: temperature(body.temperature)?,
        max_tokens: body.max_tokens.map(max_tokens).transpose()?,
    };
    let c = state
        .store()
        .create_conversation(&auth.tenant_id, &settings)
        .await?;
    Ok(Json(conversation(c)))
}

/// Change a conversation
///
/// Sets the members given; `{}` answers the conversation unchanged. `null` clears `title`,
/// `system_prompt` or `max_tokens`; `model_alias` and `temperature` cannot be null.
#[utoipa::path(
    patch,
    path = "/api/v1/conversations/{id}",
    tag = "conversations",
    operation_id = "update_conversation",
    params(("id" = String, Path, description = "The conversation's id (a UUID)")),
    request_body = ConversationUpdate,
    responses(
        (status = 200, description = "The conversation as changed", body = Conversation),
        (status = 404, description = "No such conversation, or another tenant's"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (`INVALID_FIELD`, naming it)"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    PathParam(id): PathParam,
    Body(body): Body<ConversationUpdate>,
) -> Result<Json<Conversation>, ApiError> {
    let id = conversation_id(&id)?;
    let change = ConversationChange {
        title: body
            .title
            .map(|t| t.map(|t| at_most("title", t, MAX_TITLE)).transpose())
            .transpose()?,
        system_prompt: body.system_prompt,
        model_alias: body
            .model_alias
            .map(|a| at_most("model_alias", a, MAX_ALIAS))
            .transpose()?,
        temperature: body.temperature.map(temperature).transpose()?,
        max_tokens: body
            .max_tokens
            .map(|m| m.map(max_tokens).transpose())
            .transpose()?,
    };
    let c = state
        .store()
        .update_conversation(&auth.tenant_id, id, &change)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))?;
    Ok(Json(conversation(c)))
}
