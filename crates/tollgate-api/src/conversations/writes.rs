//! The conversation routes llmring calls besides the log (llmring-wire §5: C1, C4, C6, C7;
//! llmring-mcp §5.1–5.2): opening a conversation, changing its settings, adding messages (a
//! batch, as `LLMRingSession` posts them, or one, as the MCP client does) and deleting old
//! messages.
//!
//! The bodies take llmring's members (`ConversationCreate`, `ConversationUpdate`,
//! `MessageBatch`, `MessageCreate`) and refuse any other (422 naming it); what llmring's
//! client sends and Tollgate does not keep is listed and ignored. The answers are the
//! [`super::Conversation`] and [`super::Message`] the reads return.

use serde::de::{Deserializer, Error as _, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::billing::present;

fn default_alias() -> String {
    "default".to_string()
}

fn default_temperature() -> f64 {
    0.7
}

/// Body of `POST /api/v1/conversations/` (llmring's `ConversationCreate`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationCreate {
    /// Title, at most 500 characters.
    pub title: Option<String>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// The alias the conversation uses, at most 255 characters (default `default`). A
    /// string: null is refused, as llmring's server refuses it.
    #[serde(default = "default_alias")]
    #[schema(default = "default")]
    pub model_alias: String,
    /// Temperature, 0 to 2 (default 0.7). A number: null is refused.
    #[serde(default = "default_temperature")]
    #[schema(default = 0.7)]
    pub temperature: f64,
    /// Max tokens, more than 0.
    pub max_tokens: Option<i64>,
    /// Accepted and ignored: llmring's MCP client sends its project (null).
    #[schema(value_type = Option<String>)]
    pub project_id: Option<IgnoredAny>,
    /// Accepted and ignored: the owning tenant is the credentials'.
    #[schema(value_type = Option<String>)]
    pub api_key_id: Option<IgnoredAny>,
}

/// Body of `PATCH /api/v1/conversations/{id}` (llmring's `ConversationUpdate`). An absent
/// member is left as it is; `{}` changes nothing. `null` clears `title`, `system_prompt` and
/// `max_tokens`; `model_alias` and `temperature` cannot be empty, so `null` there is refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationUpdate {
    /// New title (at most 500 characters), or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    /// New system prompt, or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    /// New alias, at most 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub model_alias: Option<String>,
    /// New temperature, 0 to 2.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = f64)]
    pub temperature: Option<f64>,
    /// New max tokens (more than 0), or null for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_tokens: Option<Option<i64>>,
}

/// Who wrote a message: llmring's roles, and no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl MessageRole {
    /// The name on the wire (`user`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }
}

/// A message's content: text, or a list of content parts (multimodal messages, in the
/// provider's shape). Anything else is refused.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    /// Text.
    Text(String),
    /// Content parts (`{"type": "text", …}`, `{"type": "image_url", …}`).
    Parts(Vec<Value>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MessageContent, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(MessageContent::Text(s)),
            Value::Array(parts) => Ok(MessageContent::Parts(parts)),
            other => Err(D::Error::custom(format!(
                "content must be a string or a list of content parts, got {}",
                kind(&other)
            ))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl From<MessageContent> for Value {
    fn from(c: MessageContent) -> Value {
        match c {
            MessageContent::Text(s) => Value::String(s),
            MessageContent::Parts(parts) => Value::Array(parts),
        }
    }
}

/// One message to add (llmring's `MessageCreate`); also the body of
/// `POST /api/v1/conversations/{id}/messages`, where llmring's MCP client sends `role`,
/// `content` and `metadata`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCreate {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: MessageRole,
    /// Text or content parts; null or absent for none.
    pub content: Option<MessageContent>,
    /// Tool calls, in the provider's shape.
    pub tool_calls: Option<Value>,
    /// Tool results, in the provider's shape.
    pub tool_results: Option<Value>,
    /// Free-form metadata object (at most 16 KiB of JSON).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Input tokens (the answer of a call).
    pub input_tokens: Option<i64>,
    /// Output tokens (the answer of a call).
    pub output_tokens: Option<i64>,
    /// Accepted and ignored: receipts are issued on demand, so a message links to none.
    #[schema(value_type = Option<String>)]
    pub receipt_id: Option<IgnoredAny>,
    /// Accepted and ignored: the conversation is the path's.
    #[schema(value_type = Option<String>)]
    pub conversation_id: Option<IgnoredAny>,
}

/// What a batch keeps of message content. The server's own level
/// (`message_logging_level`) is a ceiling: the stricter of the two applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageLoggingLevel {
    /// Content and its hash.
    #[default]
    Full,
    /// The hash only (`content` null).
    Metadata,
    /// Nothing: no message is stored and the answer is `[]`.
    None,
}

/// Body of `POST /api/v1/conversations/{id}/messages/batch` (llmring's `MessageBatch`), as
/// `LLMRingSession.chat_with_conversation` posts it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBatch {
    /// Required, a UUID; the conversation written is the path's all the same.
    #[schema(value_type = String, required = true, format = "uuid")]
    pub conversation_id: Option<String>,
    /// The messages, in order (at most 1,000).
    #[schema(value_type = Vec<MessageCreate>, required = true)]
    pub messages: Option<Vec<MessageCreate>>,
    /// Accepted and ignored: receipts are issued on demand
    /// (`POST /api/v1/receipts/generate`).
    pub create_receipt: Option<bool>,
    /// `full` (default), `metadata` or `none`; null or another value is refused.
    #[serde(default)]
    pub logging_level: MessageLoggingLevel,
}

/// Query of `DELETE /api/v1/conversations/old-messages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OldMessagesQuery {
    /// Required: messages older than this many days (1 or more) are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = i64, required = true, minimum = 1)]
    pub retention_days: Option<String>,
}

/// The answer to `DELETE /api/v1/conversations/old-messages` (llmring's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OldMessagesDeleted {
    /// How many messages were deleted.
    pub deleted_count: u64,
    /// The age, in days, they were older than.
    pub retention_days: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_is_text_or_parts_and_nothing_else() {
        let text: MessageContent = serde_json::from_value(json!("hi")).expect("text");
        assert_eq!(Value::from(text), json!("hi"));
        let parts: MessageContent =
            serde_json::from_value(json!([{"type": "text", "text": "hi"}])).expect("parts");
        assert_eq!(Value::from(parts), json!([{"type": "text", "text": "hi"}]));
        let err =
            serde_json::from_value::<MessageContent>(json!({"text": "hi"})).expect_err("an object");
        assert!(err.to_string().contains("got an object"), "{err}");
    }

    #[test]
    fn an_update_tells_null_from_absent_and_refuses_a_null_alias() {
        let u: ConversationUpdate =
            serde_json::from_value(json!({"title": null, "max_tokens": 5})).expect("update");
        assert_eq!(u.title, Some(None));
        assert_eq!(u.system_prompt, None);
        assert_eq!(u.max_tokens, Some(Some(5)));
        assert!(
            serde_json::from_value::<ConversationUpdate>(json!({"model_alias": null})).is_err()
        );
        assert!(
            serde_json::from_value::<ConversationUpdate>(json!({"temperature": null})).is_err()
        );
    }

    #[test]
    fn a_batch_level_is_full_unless_named_and_nothing_else_is_accepted() {
        let b: MessageBatch =
            serde_json::from_value(json!({"conversation_id": "x", "messages": []})).expect("batch");
        assert_eq!(b.logging_level, MessageLoggingLevel::Full);
        for bad in [json!("FULL"), json!("everything"), json!(null)] {
            let body = json!({"conversation_id": "x", "messages": [], "logging_level": bad});
            assert!(
                serde_json::from_value::<MessageBatch>(body).is_err(),
                "{bad}"
            );
        }
    }
}
