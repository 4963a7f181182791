//! llmring's MCP registry (llmring-mcp §1): the servers a tenant registers and the tools,
//! resources and prompts they offer, as `/api/v1/mcp/*` answers them; the request bodies are
//! in `requests.rs`, re-exported here.
//!
//! The shapes are llmring's (`MCPServer`, `MCPTool`, …): members in the order llmring's server
//! writes them, optional ones null rather than absent, ids bare UUIDs, and `api_key_id` the
//! owning tenant. Tollgate adds a tool's own price (`price_per_call`, `price_per_unit`,
//! `currency`), present only when set, so an unpriced tool is exactly llmring's.

mod requests;

pub use requests::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// How an MCP server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum McpTransportType {
    /// `url` is a command line; Tollgate runs it only when `mcp.allow_stdio` is set.
    Stdio,
    /// MCP's Streamable HTTP transport at `url`.
    Http,
    /// A WebSocket URL, stored only: Tollgate does not connect to it.
    Websocket,
}

/// A registered MCP server (llmring's `MCPServer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPServer)]
pub struct McpServer {
    /// Name (not unique).
    pub name: String,
    /// URL, or the command line of a `stdio` server.
    pub url: String,
    /// How it is reached.
    pub transport_type: McpTransportType,
    /// How Tollgate authenticates to it, returned as stored: `{"headers": {…}}` and
    /// `{"bearer_token": "…"}` are sent over HTTP, `{"env": {…}}` set for a `stdio` command.
    #[schema(required = true, value_type = Option<Object>)]
    pub auth_config: Option<Map<String, Value>>,
    /// What it offers; a refresh sets `{"tools": n, "resources": n, "prompts": n}`.
    #[schema(required = true, value_type = Option<Object>)]
    pub capabilities: Option<Map<String, Value>>,
    /// Whether it is in use.
    pub is_active: bool,
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The owning tenant (llmring's name for it).
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed (an update or a refresh).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A tool an MCP server offers (llmring's `MCPTool`), with Tollgate's optional price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPTool)]
pub struct McpTool {
    /// Name, unique on its server.
    pub name: String,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// JSON Schema of its input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// Whether its server still offers it (false once a refresh no longer lists it).
    pub is_active: bool,
    /// Id, kept across refreshes.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its server.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// The owning tenant.
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Tollgate: the tool's own price per execution, an exact decimal; absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "decimal", example = "0.01", nullable = false)]
    pub price_per_call: Option<String>,
    /// Tollgate: its price per unit of the quantity an execution reports; absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "decimal", example = "0.0005", nullable = false)]
    pub price_per_unit: Option<String>,
    /// Tollgate: the currency of its prices (ISO 4217); present when a price is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD", nullable = false)]
    pub currency: Option<String>,
}

/// The server of a listed tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPToolServer)]
pub struct McpToolServer {
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Name.
    pub name: String,
    /// URL or command line.
    pub url: String,
}

/// A tool with its server (llmring's `MCPToolWithServer`): `GET /api/v1/mcp/tools` and
/// `GET /api/v1/mcp/tools/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPToolWithServer)]
pub struct McpToolWithServer {
    /// The tool.
    #[serde(flatten)]
    pub tool: McpTool,
    /// Its server.
    pub server: McpToolServer,
}

/// A resource an MCP server offers (llmring's `MCPResource`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPResource)]
pub struct McpResource {
    /// URI, unique on its server.
    pub uri: String,
    /// Name.
    #[schema(required = true)]
    pub name: Option<String>,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// MIME type.
    #[schema(required = true)]
    pub mime_type: Option<String>,
    /// Whether its server still offers it.
    pub is_active: bool,
    /// Id, kept across refreshes.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its server.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// The owning tenant.
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A prompt an MCP server offers (llmring's `MCPPrompt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPPrompt)]
pub struct McpPrompt {
    /// Name, unique on its server.
    pub name: String,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Its arguments as stored: any JSON (MCP's are an array of `{name, description,
    /// required}`; llmring's CLI sends an object).
    #[schema(required = true, value_type = Option<Object>)]
    pub arguments: Option<Value>,
    /// Whether its server still offers it.
    pub is_active: bool,
    /// Id, kept across refreshes.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its server.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// The owning tenant.
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// What a server offers after a refresh (llmring's `MCPCapabilities`): its active tools (by
/// name), resources (by URI) and prompts (by name), and the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPCapabilities)]
pub struct McpCapabilities {
    /// Active tools.
    pub tools: Vec<McpTool>,
    /// Active resources.
    pub resources: Vec<McpResource>,
    /// Active prompts.
    pub prompts: Vec<McpPrompt>,
    /// The server, its `capabilities` counting the lists.
    pub server: McpServer,
}

/// The answer to `DELETE /api/v1/mcp/servers/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct McpServerDeleted {
    /// `Server deleted successfully`.
    pub message: String,
}

/// A resource as `GET /api/v1/mcp/resources/{id}/content` shows it: its row with its
/// server's name and URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpResourceRow {
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its server.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// URI.
    pub uri: String,
    /// Name.
    #[schema(required = true)]
    pub name: Option<String>,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// MIME type.
    #[schema(required = true)]
    pub mime_type: Option<String>,
    /// Whether its server still offers it.
    pub is_active: bool,
    /// The owning tenant.
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its server's name.
    pub server_name: String,
    /// Its server's URL.
    pub server_url: String,
}

/// The answer to `GET /api/v1/mcp/resources/{id}/content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpResourceContent {
    /// The resource.
    pub resource: McpResourceRow,
    /// The MCP server's `resources/read` result (`{"contents": [{uri, mimeType, text|blob}]}`),
    /// fetched now; null when its transport is not one Tollgate reaches (`websocket`, or
    /// `stdio` without `mcp.allow_stdio`).
    #[schema(required = true, value_type = Option<Object>)]
    pub content: Option<Value>,
}

/// A prompt as `POST /api/v1/mcp/prompts/{id}/render` shows it: its row with its server's
/// name and URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpPromptRow {
    /// Id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its server.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Its arguments as stored (JSON, not JSON-encoded text as llmring's server sends it).
    #[schema(required = true, value_type = Option<Object>)]
    pub arguments: Option<Value>,
    /// Whether its server still offers it.
    pub is_active: bool,
    /// The owning tenant.
    pub api_key_id: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its server's name.
    pub server_name: String,
    /// Its server's URL.
    pub server_url: String,
}

/// The answer to `POST /api/v1/mcp/prompts/{id}/render`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpPromptRendered {
    /// The prompt.
    pub prompt: McpPromptRow,
    /// The arguments, as sent.
    #[schema(value_type = Object)]
    pub arguments: Map<String, Value>,
    /// The MCP server's `prompts/get` result (`{"description", "messages": […]}`), fetched now;
    /// null when its transport is not one Tollgate reaches.
    #[schema(required = true, value_type = Option<Object>)]
    pub rendered: Option<Value>,
}
