//! llmring's MCP registry, per tenant: the MCP servers a tenant registers and the tools,
//! resources and prompts they offer. Ids are bare UUIDs, as llmring's clients send them.

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

/// How Tollgate reaches an MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpTransport {
    /// A command line whose process speaks JSON-RPC on stdin and stdout.
    Stdio,
    /// MCP's Streamable HTTP transport at a URL.
    Http,
    /// A WebSocket URL (stored; Tollgate does not connect to it).
    Websocket,
}

impl McpTransport {
    /// Every transport.
    pub const ALL: [McpTransport; 3] = [
        McpTransport::Stdio,
        McpTransport::Http,
        McpTransport::Websocket,
    ];

    /// The name stored and sent: `stdio`, `http`, `websocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            McpTransport::Stdio => "stdio",
            McpTransport::Http => "http",
            McpTransport::Websocket => "websocket",
        }
    }

    /// The transport of that name.
    pub fn parse(name: &str) -> Option<McpTransport> {
        McpTransport::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A registered MCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id.
    pub id: Uuid,
    /// Name, 1 to 255 characters (not unique).
    pub name: String,
    /// URL, or the command line of a `stdio` server; 1 to 1000 characters.
    pub url: String,
    /// How it is reached.
    pub transport: McpTransport,
    /// How to authenticate to it; never an empty object (stored as absent).
    pub auth_config: Option<Map<String, Value>>,
    /// What it offers; a refresh sets the counts `{"tools","resources","prompts"}`.
    pub capabilities: Option<Map<String, Value>>,
    /// Whether it is in use.
    pub is_active: bool,
    /// Creation time.
    pub created_us: i64,
    /// Last change (an update or a refresh).
    pub updated_us: i64,
}

/// A server to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMcpServer {
    /// Its tenant.
    pub tenant_id: String,
    /// Its new id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// URL or command line.
    pub url: String,
    /// Transport.
    pub transport: McpTransport,
    /// Authentication settings (an empty object is stored as absent).
    pub auth_config: Option<Map<String, Value>>,
    /// Capabilities (an empty object is stored as absent).
    pub capabilities: Option<Map<String, Value>>,
    /// Creation time, also its first `updated_us`.
    pub created_us: i64,
}

/// A change to a server: `None` leaves a field as it is; for the two objects `Some(None)`
/// (or an empty object) clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpServerChange {
    /// New name.
    pub name: Option<String>,
    /// New URL or command line.
    pub url: Option<String>,
    /// New transport.
    pub transport: Option<McpTransport>,
    /// New authentication settings.
    pub auth_config: Option<Option<Map<String, Value>>>,
    /// New capabilities.
    pub capabilities: Option<Option<Map<String, Value>>>,
    /// Whether it is in use.
    pub is_active: Option<bool>,
}

impl McpServerChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == McpServerChange::default()
    }
}

/// The server a tool, resource or prompt belongs to, as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerRef {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its URL or command line.
    pub url: String,
}

/// A tool's own price, used instead of the price book when set: exact decimals in
/// `currency` (USD when a price is set without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPrice {
    /// Per execution.
    pub per_call: Option<Decimal>,
    /// Per unit of the quantity an execution reports.
    pub per_unit: Option<Decimal>,
    /// ISO 4217 code.
    pub currency: Option<String>,
}

/// A tool an MCP server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id, kept across refreshes.
    pub id: Uuid,
    /// Its server.
    pub server: McpServerRef,
    /// Name, unique on its server.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of its input (an object).
    pub input_schema: Value,
    /// Whether the server still offers it (a refresh that no longer lists it clears this).
    pub is_active: bool,
    /// Its own price, if any.
    pub price: ToolPrice,
    /// Creation time.
    pub created_us: i64,
}

/// A tool to register by hand (`POST /api/v1/mcp/tools`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMcpTool {
    /// Its tenant.
    pub tenant_id: String,
    /// Its new id.
    pub id: Uuid,
    /// Its server, which must be the tenant's.
    pub server_id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// Its own price.
    pub price: ToolPrice,
    /// Creation time.
    pub created_us: i64,
}

/// A change to a tool: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpToolChange {
    /// New description.
    pub description: Option<Option<String>>,
    /// New input schema.
    pub input_schema: Option<Value>,
    /// Whether it is in use.
    pub is_active: Option<bool>,
    /// New price per call.
    pub price_per_call: Option<Option<Decimal>>,
    /// New price per unit.
    pub price_per_unit: Option<Option<Decimal>>,
    /// New currency of its prices.
    pub currency: Option<Option<String>>,
}

/// A resource an MCP server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct McpResource {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id, kept across refreshes.
    pub id: Uuid,
    /// Its server.
    pub server: McpServerRef,
    /// URI, unique on its server.
    pub uri: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Whether the server still offers it.
    pub is_active: bool,
    /// Creation time.
    pub created_us: i64,
}

/// A prompt an MCP server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct McpPrompt {
    /// Its tenant.
    pub tenant_id: String,
    /// Its id, kept across refreshes.
    pub id: Uuid,
    /// Its server.
    pub server: McpServerRef,
    /// Name, unique on its server.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Its arguments: any JSON (MCP's are an array), returned as stored.
    pub arguments: Option<Value>,
    /// Whether the server still offers it.
    pub is_active: bool,
    /// Creation time.
    pub created_us: i64,
}

/// Which tools, resources or prompts a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpFilter {
    /// Of this server only.
    pub server_id: Option<Uuid>,
    /// Only those active (`true`) or inactive (`false`); None: both.
    pub is_active: Option<bool>,
}

/// A tool as a refresh lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTool {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of its input.
    pub input_schema: Value,
}

/// A resource as a refresh lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogResource {
    /// URI.
    pub uri: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
}

/// A prompt as a refresh lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogPrompt {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Arguments, any JSON.
    pub arguments: Option<Value>,
}

/// What a server offers now, by kind; a kind left `None` is left as it is. Names (URIs for
/// resources) are unique within a list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpCatalog {
    /// The tools.
    pub tools: Option<Vec<CatalogTool>>,
    /// The resources.
    pub resources: Option<Vec<CatalogResource>>,
    /// The prompts.
    pub prompts: Option<Vec<CatalogPrompt>>,
}

/// A server after a refresh, with what it now offers (active rows only).
#[derive(Debug, Clone, PartialEq)]
pub struct McpRefreshed {
    /// The server, its capabilities counting the lists.
    pub server: McpServer,
    /// Active tools, by name.
    pub tools: Vec<McpTool>,
    /// Active resources, by URI.
    pub resources: Vec<McpResource>,
    /// Active prompts, by name.
    pub prompts: Vec<McpPrompt>,
}
