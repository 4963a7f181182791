//! MCP tool executions: what one records, and what is read back.

use serde_json::Value;
use uuid::Uuid;

/// The tool an execution is recorded against, with the price set on it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTarget {
    /// Tool id.
    pub id: Uuid,
    /// Tool name.
    pub name: String,
    /// Its server.
    pub server_id: Uuid,
    /// The server's name.
    pub server_name: String,
    /// The price set on the tool.
    pub price: super::ToolPrice,
}

/// One execution to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    /// Execution id.
    pub id: Uuid,
    /// The tool.
    pub tool_id: Uuid,
    /// The conversation it ran in.
    pub conversation_id: Option<Uuid>,
    /// The arguments (a JSON object; None when empty).
    pub input: Option<Value>,
    /// The result.
    pub output: Option<Value>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// How long it ran.
    pub duration_ms: Option<i64>,
    /// The quantity it reported, priced per unit.
    pub units: Option<i64>,
    /// The end user it ran for.
    pub user_id: Option<String>,
    /// The client's idempotency key, unique per tenant.
    pub request_id: Option<String>,
    /// When it ran (UTC microseconds).
    pub executed_us: i64,
}

/// A recorded execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// What was recorded.
    pub recorded: NewExecution,
    /// The usage event that metered it; None when it was not metered.
    pub log_id: Option<Uuid>,
}
