//! MCP tool executions (llmring-mcp §1.3 M10, M11): the body of
//! `POST /api/v1/mcp/tools/{tool_id}/execute` and the execution it answers, which
//! `GET /api/v1/mcp/tools/{tool_id}/history` lists.
//!
//! llmring fixes the shapes: the body's members and the execution's members, in its order.
//! Tollgate adds the members that meter an execution (`user_id`, `request_id`, `hold_id`,
//! `units`) to the body, and to the answer only when they are set, so an execution recorded
//! the way llmring records one answers exactly what llmring's server answers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// `POST /api/v1/mcp/tools/{tool_id}/execute`: llmring's `MCPToolExecutionCreate`, plus what
/// meters the execution. Any other member is refused (422 naming it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionBody {
    /// Accepted and ignored: llmring's client sends the tool's id here too; the path names
    /// the tool.
    #[schema(value_type = Option<String>)]
    pub tool_id: Option<serde::de::IgnoredAny>,
    /// The arguments the tool was called with.
    #[schema(value_type = Object)]
    pub input: Map<String, Value>,
    /// What it returned.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Map<String, Value>>,
    /// Why it failed; a failed execution is charged nothing unless
    /// `billing.charge_failed_tool_calls` is set.
    pub error: Option<String>,
    /// How long it ran, in milliseconds.
    pub duration_ms: Option<i64>,
    /// The conversation it ran in.
    #[schema(format = "uuid")]
    pub conversation_id: Option<String>,
    /// The end user it ran for (Tollgate): the execution is metered (a usage event of source
    /// `tool`) and charged to this user's account. An end user's token names its own.
    pub user_id: Option<String>,
    /// Idempotency key (Tollgate): a retried execution is recorded and charged once.
    pub request_id: Option<String>,
    /// The hold `POST /api/v1/authorize` placed for this execution, settled by it (Tollgate).
    pub hold_id: Option<String>,
    /// The quantity it used (pages, queries, ...), priced per unit (Tollgate).
    pub units: Option<i64>,
    /// The knowledge base it served (Tollgate): the `kb_id` dimension of its usage event.
    pub kb_id: Option<String>,
    /// Its dimensions, name to value (Tollgate): `kb_id` and the deployment's own, on the
    /// usage event that meters it.
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub dimensions: Option<Map<String, Value>>,
}

/// A recorded execution: llmring's `MCPToolExecution`, then Tollgate's members when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolExecution {
    /// Execution id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The tool.
    #[schema(format = "uuid")]
    pub tool_id: String,
    /// The conversation it ran in.
    #[schema(required = true, format = "uuid")]
    pub conversation_id: Option<String>,
    /// The arguments.
    #[schema(value_type = Object)]
    pub input: Value,
    /// What it returned.
    #[schema(required = true, value_type = Option<Object>)]
    pub output: Option<Value>,
    /// Why it failed.
    #[schema(required = true)]
    pub error: Option<String>,
    /// How long it ran.
    #[schema(required = true)]
    pub duration_ms: Option<i64>,
    /// When it was recorded.
    #[schema(format = DateTime)]
    pub executed_at: String,
    /// The quantity it reported (Tollgate; absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<i64>,
    /// The end user it ran for (Tollgate; absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Its idempotency key (Tollgate; absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How it was metered (Tollgate; absent when it was not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metered: Option<Metered>,
    /// True when nothing new was recorded: an execution with this `request_id` was (Tollgate;
    /// absent when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The usage event that metered an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metered {
    /// The event's log id (in `/api/v1/logs`, stats, exports and receipts).
    #[schema(format = "uuid")]
    pub log_id: String,
    /// What it cost, exact (absent in history listings, which read executions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "decimal", example = "0.020000000")]
    pub cost: Option<String>,
    /// The cost's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// The price it was charged at: the tool's own (`tool:<server>/<tool>`) or the price
    /// book's; absent when no price was known (the event is flagged `unpriced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_version: Option<String>,
}

/// Query of `GET /api/v1/mcp/tools/{tool_id}/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// How many, newest first: 1 to 1000 (default 100).
    pub limit: Option<i64>,
}
