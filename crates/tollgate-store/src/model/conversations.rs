//! What the conversation routes (llmring's C1, C4) hand the store: a conversation opened
//! before any call, and a change to its settings. The conversation and message rows read
//! back, and the messages to add, are the append's ([`super::Conversation`],
//! [`super::Message`], [`super::NewMessage`]).

use uuid::Uuid;

/// A conversation opened with no messages yet (`POST /api/v1/conversations/`), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSettings {
    /// Conversation id.
    pub id: Uuid,
    /// Title.
    pub title: Option<String>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// The alias the conversation uses.
    pub model_alias: String,
    /// Temperature, 0 to 2.
    pub temperature: f64,
    /// Max tokens, more than 0.
    pub max_tokens: Option<i64>,
}

/// A change to a conversation's settings (`PATCH /api/v1/conversations/{id}`), validated.
/// `None` leaves a setting as it is; `Some(None)` clears one that may be empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationChange {
    /// New title, or none.
    pub title: Option<Option<String>>,
    /// New system prompt, or none.
    pub system_prompt: Option<Option<String>>,
    /// New alias.
    pub model_alias: Option<String>,
    /// New temperature.
    pub temperature: Option<f64>,
    /// New max tokens, or none.
    pub max_tokens: Option<Option<i64>>,
}

impl ConversationChange {
    /// True when the change sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == ConversationChange::default()
    }
}
