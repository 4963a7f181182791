//! What an append takes and returns, and the events, conversations and usage rows read back.

use serde_json::{Map, Value};
use tollgate_core::{Currency, EventFlags, Nanos, TokenCounts, UsageEvent};
use uuid::Uuid;

use super::billing::AccountDefaults;

/// How a retried or repeated call is recognised, so that it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// Nothing identifies repeats: every item is a new call.
    None,
    /// The client's request id (`request_id`), unique per tenant.
    RequestId(String),
    /// The llmring client's second post of a call it already sent to
    /// `/api/v1/conversations/log`: the usage log naming that conversation is the same call.
    ConversationCall(Uuid),
}

/// A conversation recorded with its call (`POST /api/v1/conversations/log`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    /// Conversation id.
    pub id: Uuid,
    /// Title.
    pub title: Option<String>,
    /// System prompt, if kept.
    pub system_prompt: Option<String>,
    /// Alias or `provider:model`.
    pub model_alias: String,
    /// Temperature.
    pub temperature: f64,
    /// Max tokens.
    pub max_tokens: Option<i64>,
    /// The messages, the assistant's answer last.
    pub messages: Vec<NewMessage>,
    /// The id of the assistant's answer among `messages`.
    pub response_message_id: Uuid,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Message id.
    pub id: Uuid,
    /// Role as sent (`user`, `assistant`, `developer`, ...).
    pub role: String,
    /// Content (a string or a list of parts), or None when the logging level drops it.
    pub content: Option<Value>,
    /// SHA-256 hex of the content, unless the logging level is `none`.
    pub content_hash: Option<String>,
    /// Input tokens (on the answer).
    pub input_tokens: Option<i64>,
    /// Output tokens (on the answer).
    pub output_tokens: Option<i64>,
    /// Tool calls.
    pub tool_calls: Option<Value>,
    /// Tool results.
    pub tool_results: Option<Value>,
    /// Metadata object.
    pub metadata: Map<String, Value>,
    /// Time.
    pub ts_us: i64,
}

/// One call to append.
#[derive(Debug, Clone)]
pub struct AppendItem {
    /// The priced event.
    pub event: UsageEvent,
    /// How repeats are recognised.
    pub dedupe: Dedupe,
    /// The conversation recorded with the call, if any.
    pub conversation: Option<NewConversation>,
    /// The MCP tool execution this event meters, recorded with it (unless its tool was
    /// deleted meanwhile, or an execution with its request id exists).
    pub execution: Option<super::NewExecution>,
    /// Charge the call to its user's billing account (and settle a hold), in the same
    /// transaction that records it; None records it without billing.
    pub charge: Option<Charge>,
}

impl AppendItem {
    /// Whether this is a plain call: nothing to look up before it is numbered (no request
    /// id, no conversation call it may repeat) and nothing written beside it but its rollups
    /// (no conversation, tool execution or charge). A call billed with no user and no hold
    /// charges nothing: there is no account to charge and no hold to settle. On PostgreSQL a
    /// batch of plain calls is appended without first reading the log heads (see
    /// `ops::pg_append`).
    pub(crate) fn is_plain(&self) -> bool {
        self.stands_alone()
            && self
                .charge
                .as_ref()
                .is_none_or(|c| c.hold_id.is_none() && self.event.user_id.is_none())
    }

    /// Whether this is a plain call but for a charge to its user's account, with no hold to
    /// settle: on PostgreSQL such calls are charged from the books this instance last saw,
    /// written only if the accounts still hold them (see `ops::pg_append`).
    pub(crate) fn is_plain_charge(&self) -> bool {
        self.stands_alone()
            && self.event.user_id.is_some()
            && self.charge.as_ref().is_some_and(|c| c.hold_id.is_none())
    }

    /// Nothing to look up before the call is numbered, and no conversation or tool
    /// execution to write beside it.
    fn stands_alone(&self) -> bool {
        matches!(self.dedupe, Dedupe::None)
            && self.event.request_id.is_none()
            && self.conversation.is_none()
            && self.execution.is_none()
    }
}

/// How this instance's appends planned on a guess fared, since the store opened
/// (PostgreSQL; always zero on SQLite, whose one writer needs no guess). A batch of plain
/// calls and plain charges is written in one statement when the tenants' log heads, and the
/// charged accounts' books, are where this instance last saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendGuesses {
    /// Batches written in one statement.
    pub written: u64,
    /// Batches whose guess had moved (another instance's append, a top-up, a hold): they
    /// wrote nothing there and took the locked path.
    pub stale: u64,
}

/// How a recorded call is billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The hold `authorize` placed for this call, settled by it.
    pub hold_id: Option<String>,
    /// What the user's account starts with if this call creates it.
    pub defaults: std::sync::Arc<AccountDefaults>,
    /// Raise `balance.low` when the charge takes the balance below this (None: never).
    pub balance_low: Option<Nanos>,
}

/// What an append did with one item: recorded it, or found it already recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event's log id (the first one's, for a repeat).
    pub log_id: Uuid,
    /// Its position in the tenant's log.
    pub seq: i64,
    /// Its event time.
    pub timestamp_us: i64,
    /// Its cost.
    pub cost: Nanos,
    /// The cost's currency.
    pub currency: Currency,
    /// Its flags.
    pub flags: EventFlags,
    /// The price version it was charged at.
    pub price_version: Option<String>,
    /// The conversation, for conversation calls.
    pub conversation_id: Option<Uuid>,
    /// The assistant message, for conversation calls.
    pub message_id: Option<Uuid>,
    /// True when nothing new was written because the call was already recorded.
    pub duplicate: bool,
}

/// A stored usage event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the tenant's log.
    pub seq: i64,
    /// When it was written.
    pub recorded_us: i64,
    /// The event.
    pub event: UsageEvent,
}

/// Filters of the log listing; every one optional.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Events at or after this instant.
    pub start_us: Option<i64>,
    /// Events at or before this instant.
    pub end_us: Option<i64>,
    /// Exact alias.
    pub alias: Option<String>,
    /// Exact model.
    pub model: Option<String>,
    /// Exact provider.
    pub provider: Option<String>,
    /// Exact origin.
    pub origin: Option<String>,
    /// Exact user.
    pub user_id: Option<String>,
    /// Exact conversation.
    pub conversation_id: Option<Uuid>,
    /// Only unpriced events.
    pub unpriced_only: bool,
    /// Only events with this value of a dimension.
    pub dimension: Option<crate::exports::DimensionMatch>,
}

/// Usage totals for one combination of dimensions on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// Day (days since epoch, UTC).
    pub day: i64,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias ('' when none).
    pub alias: String,
    /// Origin ('' when none).
    pub origin: String,
    /// User ('' when none).
    pub user_id: String,
    /// Currency.
    pub currency: String,
    /// Number of calls.
    pub requests: i64,
    /// Token sums.
    pub tokens: TokenCounts,
    /// Cost sum.
    pub cost: Nanos,
    /// Calls served from a response cache.
    pub cached_responses: i64,
    /// Unpriced calls.
    pub unpriced: i64,
}

/// A conversation as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: String,
    /// Title.
    pub title: Option<String>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// Alias or `provider:model`.
    pub model_alias: String,
    /// Temperature.
    pub temperature: f64,
    /// Max tokens.
    pub max_tokens: Option<i64>,
    /// Number of messages.
    pub message_count: i64,
    /// Input tokens of its calls.
    pub total_input_tokens: i64,
    /// Output tokens of its calls.
    pub total_output_tokens: i64,
    /// Cost of its calls.
    pub total_cost: Nanos,
    /// Currency of the cost.
    pub currency: String,
    /// Created.
    pub created_us: i64,
    /// Updated.
    pub updated_us: i64,
    /// Last message.
    pub last_message_us: Option<i64>,
}

/// A message as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Id.
    pub id: Uuid,
    /// Conversation.
    pub conversation_id: Uuid,
    /// Role.
    pub role: String,
    /// Content, unless the logging level dropped it.
    pub content: Option<Value>,
    /// SHA-256 hex of the content.
    pub content_hash: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Tool calls.
    pub tool_calls: Option<Value>,
    /// Tool results.
    pub tool_results: Option<Value>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Time.
    pub ts_us: i64,
}

/// One entry of a tenant's log: the canonical bytes and their leaf hash, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position.
    pub seq: i64,
    /// RFC 8785 canonical JSON of the event; None once retention archived it (the archive
    /// file holds it; the leaf hash stays).
    pub entry: Option<Vec<u8>>,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
}

/// The calls of one model (recorded without a price, or priced, per service tier) in a range.
#[derive(Debug, Clone, PartialEq)]
pub struct UnpricedGroup {
    /// Provider, as sent.
    pub provider: String,
    /// Model, as sent.
    pub model: String,
    /// The service tier (priced calls; None for standard, and for unpriced calls).
    pub service_tier: Option<String>,
    /// How many.
    pub requests: i64,
    /// Their tokens.
    pub tokens: TokenCounts,
    /// The first one's time.
    pub first_us: i64,
    /// The last one's time.
    pub last_us: i64,
}
