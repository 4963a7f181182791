//! The request bodies of `/api/v1/mcp/*`. Members llmring sends that its server ignores are
//! accepted and ignored (`project_id`, `api_key_id`, a created object's `is_active`), and so
//! are the members of MCP's own tool, resource and prompt objects Tollgate does not keep
//! (`title`, `annotations`, …), so that a `tools/list` answer can be sent as it is; any other
//! unknown member is refused.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::McpTransportType;
use crate::billing::{present, Loose};

/// Body of `POST /api/v1/mcp/servers` (llmring's `MCPServerCreate`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerCreate {
    /// Name, 1 to 255 characters.
    pub name: String,
    /// URL (`http`), or the command line of a `stdio` server; 1 to 1000 characters.
    pub url: String,
    /// How it is reached.
    #[schema(inline)]
    pub transport_type: McpTransportType,
    /// How Tollgate authenticates to it (see `MCPServer`); `{}` is stored as null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub auth_config: Option<Map<String, Value>>,
    /// What it offers; `{}` is stored as null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<Map<String, Value>>,
    /// Ignored: a new server is active.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_active: Option<IgnoredAny>,
    /// Ignored: the server belongs to the key's tenant.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key_id: Option<IgnoredAny>,
    /// Ignored (llmring's CLI sends null).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub project_id: Option<IgnoredAny>,
}

/// Body of `PATCH` and `PUT /api/v1/mcp/servers/{id}` (llmring's `MCPServerUpdate`; the
/// client's `update_server` sends the members it sets): an absent member is left as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerUpdate {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New URL or command line.
    #[serde(default)]
    pub url: Option<String>,
    /// New transport (Tollgate; llmring's server ignores it).
    #[serde(default)]
    #[schema(inline)]
    pub transport_type: Option<McpTransportType>,
    /// New authentication settings; null or `{}` clears them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub auth_config: Option<Option<Map<String, Value>>>,
    /// New capabilities; null or `{}` clears them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<Option<Map<String, Value>>>,
    /// Whether it is in use.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key_id: Option<IgnoredAny>,
    /// Ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub project_id: Option<IgnoredAny>,
}

/// Body of `POST /api/v1/mcp/tools` (llmring's `MCPToolCreate`, with Tollgate's price).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpToolCreate {
    /// The tenant's server offering it.
    #[schema(format = "uuid")]
    pub server_id: String,
    /// Name, 1 to 255 characters, new on that server.
    pub name: String,
    /// JSON Schema of its input: an object.
    #[schema(value_type = Object)]
    pub input_schema: Map<String, Value>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Tollgate: its own price per execution, a non-negative decimal string.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "decimal", example = "0.01")]
    pub price_per_call: Option<Loose>,
    /// Tollgate: its price per unit an execution reports, a non-negative decimal string.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "decimal", example = "0.0005")]
    pub price_per_unit: Option<Loose>,
    /// Tollgate: the currency of its prices (ISO 4217; USD when a price is set without one).
    #[serde(default)]
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// Ignored: a new tool is active.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_active: Option<IgnoredAny>,
    /// Ignored: the tool belongs to the key's tenant.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key_id: Option<IgnoredAny>,
}

/// Body of `PATCH /api/v1/mcp/tools/{id}` (Tollgate): an absent member is left as it is,
/// null clears it.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpToolUpdate {
    /// New description; null clears it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New JSON Schema of its input: an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Map<String, Value>>,
    /// Whether it is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Its own price per execution, a non-negative decimal string; null removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = "decimal", example = "0.01")]
    pub price_per_call: Option<Option<Loose>>,
    /// Its price per unit, a non-negative decimal string; null removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = "decimal", example = "0.0005")]
    pub price_per_unit: Option<Option<Loose>>,
    /// The currency of its prices (ISO 4217); null: USD while a price is set.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "USD")]
    pub currency: Option<Option<String>>,
}

/// Body of `POST /api/v1/mcp/servers/{id}/refresh`: a JSON object. With any of `tools`,
/// `resources`, `prompts`, those lists are stored as the server's offer (a kind left out is
/// untouched); `{}` discovers all three from the MCP server itself.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpRefreshBody {
    /// The tools it offers.
    #[serde(default)]
    pub tools: Option<Vec<McpRefreshTool>>,
    /// The resources it offers.
    #[serde(default)]
    pub resources: Option<Vec<McpRefreshResource>>,
    /// The prompts it offers.
    #[serde(default)]
    pub prompts: Option<Vec<McpRefreshPrompt>>,
}

impl McpRefreshBody {
    /// Whether it names no list: discover them.
    pub fn is_empty(&self) -> bool {
        self.tools.is_none() && self.resources.is_none() && self.prompts.is_none()
    }
}

/// A tool, as MCP's `tools/list` gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpRefreshTool {
    /// Name, 1 to 255 characters, once per list.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of its input, an object (`input_schema` is read too); absent: `{}`.
    #[serde(default, rename = "inputSchema", alias = "input_schema")]
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub title: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default, rename = "outputSchema")]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default, rename = "_meta")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub icons: Option<IgnoredAny>,
}

/// A resource, as MCP's `resources/list` gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpRefreshResource {
    /// URI, 1 to 1000 characters, once per list.
    pub uri: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// MIME type (`mime_type` is read too).
    #[serde(default, rename = "mimeType", alias = "mime_type")]
    pub mime_type: Option<String>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub title: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub size: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default, rename = "_meta")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub icons: Option<IgnoredAny>,
}

/// A prompt, as MCP's `prompts/list` gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpRefreshPrompt {
    /// Name, 1 to 255 characters, once per list.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its arguments, any JSON, stored as sent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Value>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub title: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default, rename = "_meta")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<IgnoredAny>,
    /// MCP's; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub icons: Option<IgnoredAny>,
}
