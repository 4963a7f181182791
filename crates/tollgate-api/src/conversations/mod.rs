//! Conversations (llmring-wire §5): the body of `POST /api/v1/conversations/log` and its
//! answer, and the conversations and messages the reads return; the bodies of the routes
//! that open and change conversations and add messages are in `writes.rs`, re-exported here.
//!
//! llmring fixes these shapes: `Conversation` and `Message` keep its members and their
//! nullability (optional members are null, never absent), with Tollgate's exact cost and
//! currency beside llmring's float `total_cost`.

mod writes;

pub use writes::*;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

/// `POST /api/v1/conversations/log` (llmring's `ConversationLogRequest`). Here and in the
/// nested objects any member not listed is refused (422 naming its path).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationLogBody {
    /// The input messages.
    #[serde(default)]
    pub messages: Vec<ConversationMessage>,
    /// The model's answer.
    pub response: ConversationResponse,
    /// The call's metadata.
    pub metadata: ConversationMetadata,
    /// Idempotency key (Tollgate).
    pub request_id: Option<String>,
    /// End user (Tollgate).
    pub user_id: Option<String>,
    /// The hold this call settles (Tollgate).
    pub hold_id: Option<String>,
    /// Event time (Tollgate).
    pub timestamp: Option<String>,
    /// The knowledge base the call served (Tollgate): the `kb_id` dimension (here or in
    /// `dimensions`, not in both).
    pub kb_id: Option<String>,
    /// The call's dimensions, name to value (Tollgate): `kb_id` and the deployment's own.
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>, example = json!({"kb_id": "kb_42", "feature": "search"}))]
    pub dimensions: Option<Map<String, Value>>,
}

/// One input message; any role is stored as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationMessage {
    /// Role; `user` when absent.
    pub role: Option<String>,
    /// A string, a list of parts, or null: the provider's content, so free-form.
    pub content: Option<Value>,
    /// Tool calls, in the provider's shape.
    pub tool_calls: Option<Value>,
    /// Tool results, in the provider's shape.
    pub tool_results: Option<Value>,
    /// Free-form metadata object (the caller's own).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Accepted and ignored: llmring's `Message` carries it (the tool call a `tool` message
    /// answers); no column keeps it.
    #[schema(value_type = Option<String>)]
    pub tool_call_id: Option<IgnoredAny>,
    /// Accepted and ignored: llmring's `Message` carries it, always null on the wire (the
    /// client cannot encode a set one); messages take the call's time.
    #[schema(value_type = Option<String>)]
    pub timestamp: Option<IgnoredAny>,
    /// Accepted and ignored: an OpenAI chat message's participant name, which llmring 1.4.0's
    /// logging decorators forward with the caller's messages.
    #[schema(value_type = Option<String>)]
    pub name: Option<IgnoredAny>,
}

/// The model's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationResponse {
    /// Content, in the provider's shape (a string or a list of parts).
    pub content: Option<Value>,
    /// Model as the client names it (`openai:gpt-4o-mini`).
    pub model: Option<String>,
    /// Finish reason.
    pub finish_reason: Option<String>,
    /// Usage object, the client's or the provider's (OpenAI, Anthropic or Gemini).
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    /// Tool calls, in the provider's shape.
    pub tool_calls: Option<Value>,
}

/// llmring's `ConversationMetadata`: named fields, not a free-form object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationMetadata {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias.
    pub alias: Option<String>,
    /// Profile.
    pub profile: Option<String>,
    /// Origin.
    pub origin: Option<String>,
    /// The client's total cost.
    pub cost: Option<f64>,
    /// The client's input cost.
    pub input_cost: Option<f64>,
    /// The client's output cost.
    pub output_cost: Option<f64>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Cached input tokens.
    pub cached_tokens: Option<i64>,
}

/// The schema of a member that is always null.
fn always_null() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some(
            "Always null: receipts are issued on demand (`POST /api/v1/receipts/generate`). \
             llmring's client reads the member, so it is sent.",
        ))
        .build()
}

/// The answer to `POST /api/v1/conversations/log`: llmring's `conversation_id`, `message_id`
/// and `receipt`, then the call as `POST /api/v1/log` would answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationLogged {
    /// The conversation created for the call.
    #[schema(required = true, format = "uuid")]
    pub conversation_id: Option<String>,
    /// The assistant message holding the answer.
    #[schema(required = true, format = "uuid")]
    pub message_id: Option<String>,
    /// Always null (llmring's per-call receipt); receipts are issued on demand.
    #[schema(schema_with = always_null)]
    pub receipt: (),
    /// The call's log id.
    #[schema(format = "uuid")]
    pub log_id: String,
    /// The cost as a float, as llmring reads it (derived from `cost_exact`).
    pub cost: f64,
    /// The exact cost.
    #[schema(format = "decimal", example = "0.000022500")]
    pub cost_exact: String,
    /// The cost's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// True when the call had been recorded before (the same `request_id`).
    pub duplicate: bool,
}

/// A conversation, as listed (llmring's `Conversation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The owning tenant (llmring's name for it).
    pub api_key_id: String,
    /// Title.
    #[schema(required = true)]
    pub title: Option<String>,
    /// System prompt.
    #[schema(required = true)]
    pub system_prompt: Option<String>,
    /// Alias, or `provider:model`.
    pub model_alias: String,
    /// Temperature.
    pub temperature: f64,
    /// Max tokens.
    #[schema(required = true)]
    pub max_tokens: Option<i64>,
    /// Number of messages.
    pub message_count: i64,
    /// Input tokens of its calls.
    pub total_input_tokens: i64,
    /// Output tokens of its calls.
    pub total_output_tokens: i64,
    /// Cost of its calls as a float, as llmring reads it (derived from `total_cost_exact`).
    pub total_cost: f64,
    /// The exact cost of its calls.
    #[schema(format = "decimal", example = "0.000022500")]
    pub total_cost_exact: String,
    /// The cost's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Updated.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Last message.
    #[schema(required = true, format = DateTime)]
    pub last_message_at: Option<String>,
}

/// `GET /api/v1/conversations/{id}`: the conversation with its first messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: Conversation,
    /// Its first messages, oldest first (empty with `include_messages=false`).
    pub messages: Vec<Message>,
}

/// A stored message (llmring's `Message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its conversation.
    #[schema(format = "uuid")]
    pub conversation_id: String,
    /// Always null (llmring's per-call receipt); receipts are issued on demand.
    #[schema(schema_with = always_null)]
    pub receipt_id: (),
    /// Role, as sent.
    pub role: String,
    /// Content in the provider's shape (a string or a list of parts); null when the logging
    /// level keeps only its hash, or none was sent.
    #[schema(required = true)]
    pub content: Option<Value>,
    /// Hex SHA-256 of the content.
    #[schema(required = true)]
    pub content_hash: Option<String>,
    /// Input tokens (the assistant message of a call).
    #[schema(required = true)]
    pub input_tokens: Option<i64>,
    /// Output tokens (the assistant message of a call).
    #[schema(required = true)]
    pub output_tokens: Option<i64>,
    /// Tool calls, in the provider's shape.
    #[schema(required = true)]
    pub tool_calls: Option<Value>,
    /// Tool results, in the provider's shape.
    #[schema(required = true)]
    pub tool_results: Option<Value>,
    /// Metadata: the caller's for input messages; for the answer, `provider`, `model`,
    /// `finish_reason`, `usage` and `cost` (free-form, as the caller's is).
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// Time.
    #[schema(format = DateTime)]
    pub timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_conversation_says_receipt_null_and_reads_back() {
        let logged = ConversationLogged {
            conversation_id: Some("c".into()),
            message_id: None,
            receipt: (),
            log_id: "l".into(),
            cost: 0.5,
            cost_exact: "0.500000000".into(),
            currency: "USD".into(),
            duplicate: false,
        };
        let v = serde_json::to_value(&logged).expect("serializes");
        assert_eq!(v["receipt"], Value::Null);
        assert!(v.as_object().is_some_and(|o| o.contains_key("receipt")));
        assert_eq!(v["message_id"], Value::Null);
        let back: ConversationLogged = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, logged);
    }
}
