//! Talking to the MCP servers tenants register: an MCP client session over Streamable HTTP
//! ([`http`]) or, when `mcp.allow_stdio` is set, over a child process's stdin and stdout
//! ([`stdio`]). A session initializes (`initialize`, then `notifications/initialized`) and
//! then lists tools, resources and prompts (following `nextCursor`), reads a resource or gets
//! a prompt.
//!
//! What an MCP server answers is the tenant's, but how it failed may name the deployment's
//! network, so failures are described generically (timed out, could not connect, HTTP 503,
//! the server's JSON-RPC error message) as 502 `MCP_SERVER_ERROR`, and the client's error
//! chain is logged at debug. A URL on the server's own networks is refused unless
//! `mcp.allow_private_networks` is set, by the same policy as webhooks
//! ([`crate::webhooks::egress`]), checked again on the addresses a name resolves to.
//!
//! A client is built per session: MCP calls are rare (a refresh, a resource read), and each
//! server's settings may differ.

mod auth;
mod http;
mod sse;
mod stdio;

use serde_json::{json, Map, Value};
use tollgate_api::mcp::{McpRefreshBody, McpRefreshPrompt, McpRefreshResource, McpRefreshTool};
use tollgate_store::{McpServer, McpTransport};

use crate::error::ApiError;
use crate::settings::McpSettings;
use tollgate_api::ErrorCode;

pub(crate) use auth::check_auth_config;

/// The protocol version Tollgate asks for; the others it accepts in answer.
const PROTOCOL_VERSION: &str = "2025-06-18";
const ACCEPTED_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// Most pages one listing follows, so a server that keeps answering `nextCursor` cannot keep
/// a refresh going.
const MAX_PAGES: usize = 50;
/// Most items of one kind a listing takes.
const MAX_ITEMS: usize = 10_000;

/// 502 `MCP_SERVER_ERROR`: the MCP server failed.
pub(crate) fn upstream(what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::McpServerError,
        format!("the MCP server failed: {what}"),
    )
}

/// Whether Tollgate reaches this server to fetch a resource or render a prompt: over HTTP,
/// or by running its command when `mcp.allow_stdio` is set.
pub(crate) fn reachable(server: &McpServer, settings: &McpSettings) -> bool {
    match server.transport {
        McpTransport::Http => true,
        McpTransport::Stdio => settings.allow_stdio,
        McpTransport::Websocket => false,
    }
}

enum Conn {
    Http(http::HttpConn),
    Stdio(stdio::StdioConn),
}

/// An initialized MCP session.
pub(crate) struct Session {
    conn: Conn,
    next_id: i64,
    /// What the server declared in `initialize` (`tools`, `resources`, `prompts`, …).
    capabilities: Map<String, Value>,
}

/// Opens a session with `server`: 422 for a transport Tollgate does not connect to (or a
/// `stdio` one while `mcp.allow_stdio` is off), 400 `INVALID_URL` for an internal address
/// while `mcp.allow_private_networks` is off, 502 when the server fails.
pub(crate) async fn connect(
    server: &McpServer,
    settings: &McpSettings,
) -> Result<Session, ApiError> {
    let auth = server.auth_config.clone().unwrap_or_default();
    let conn = match server.transport {
        McpTransport::Http => Conn::Http(http::HttpConn::new(&server.url, &auth, settings)?),
        McpTransport::Stdio if settings.allow_stdio => {
            Conn::Stdio(stdio::StdioConn::spawn(&server.url, &auth, settings)?)
        }
        McpTransport::Stdio => {
            return Err(ApiError::invalid_field(
                "transport_type",
                "this server's transport is stdio, and this Tollgate does not run commands \
                 (set mcp.allow_stdio to allow it); send the tools, resources and prompts in \
                 the body instead",
            ))
        }
        McpTransport::Websocket => {
            return Err(ApiError::invalid_field(
                "transport_type",
                "refresh over websocket is not supported; send the tools, resources and \
                 prompts in the body instead",
            ))
        }
    };
    let mut session = Session {
        conn,
        next_id: 1,
        capabilities: Map::new(),
    };
    match session.initialize().await {
        Ok(()) => Ok(session),
        Err(e) => {
            session.close().await;
            Err(e)
        }
    }
}

impl Session {
    async fn initialize(&mut self) -> Result<(), ApiError> {
        let result = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "tollgate", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !ACCEPTED_VERSIONS.contains(&version) {
            return Err(upstream(format!(
                "it speaks MCP protocol version '{version}'; Tollgate speaks {}",
                ACCEPTED_VERSIONS.join(", ")
            )));
        }
        self.capabilities = match result.get("capabilities") {
            Some(Value::Object(c)) => c.clone(),
            _ => Map::new(),
        };
        if let Conn::Http(c) = &mut self.conn {
            c.set_protocol_version(version);
        }
        self.notify("notifications/initialized").await
    }

    /// Sends a request and answers its `result`; a JSON-RPC error is a 502 with its message.
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, ApiError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = match &mut self.conn {
            Conn::Http(c) => c.request(method, &message, id).await?,
            Conn::Stdio(c) => c.request(method, &message, id).await?,
        };
        if let Some(error) = reply.get("error") {
            let code = error
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            let text = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(upstream(format!("{method} answered error {code}: {text}")));
        }
        match reply.get("result") {
            Some(result @ Value::Object(_)) => Ok(result.clone()),
            _ => Err(upstream(format!(
                "{method} answered without a result object"
            ))),
        }
    }

    async fn notify(&mut self, method: &str) -> Result<(), ApiError> {
        let message = json!({"jsonrpc": "2.0", "method": method});
        match &mut self.conn {
            Conn::Http(c) => c.notify(method, &message).await,
            Conn::Stdio(c) => c.notify(&message).await,
        }
    }

    /// Every item of a listing (`tools/list` → `tools`), following `nextCursor`.
    async fn list_all(&mut self, method: &str, key: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request(method, params).await?;
            match page.get(key) {
                Some(Value::Array(found)) => items.extend(found.iter().cloned()),
                None | Some(Value::Null) => {}
                Some(_) => return Err(upstream(format!("{method} answered {key} not as a list"))),
            }
            if items.len() > MAX_ITEMS {
                return Err(upstream(format!(
                    "{method} listed more than {MAX_ITEMS} {key}"
                )));
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) if cursor.as_deref() == Some(next) => {
                    return Err(upstream(format!("{method} repeated the cursor '{next}'")))
                }
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(items),
            }
        }
        Err(upstream(format!(
            "{method} kept paging past {MAX_PAGES} pages"
        )))
    }

    /// What the server offers: each kind it declared a capability for, listed whole; a kind
    /// it did not declare is an empty list. Items are read as a refresh body's are (502
    /// naming the item when one is malformed).
    pub(crate) async fn discover(&mut self) -> Result<McpRefreshBody, ApiError> {
        Ok(McpRefreshBody {
            tools: Some(
                self.discover_kind::<ListedTool, _>("tools/list", "tools")
                    .await?,
            ),
            resources: Some(
                self.discover_kind::<ListedResource, _>("resources/list", "resources")
                    .await?,
            ),
            prompts: Some(
                self.discover_kind::<ListedPrompt, _>("prompts/list", "prompts")
                    .await?,
            ),
        })
    }

    async fn discover_kind<L: serde::de::DeserializeOwned + Into<T>, T>(
        &mut self,
        method: &str,
        kind: &str,
    ) -> Result<Vec<T>, ApiError> {
        if !self.capabilities.contains_key(kind) {
            return Ok(Vec::new());
        }
        let items = self.list_all(method, kind).await?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value::<L>(item)
                    .map(Into::into)
                    .map_err(|e| upstream(format!("{method} listed {kind}[{i}]: {e}")))
            })
            .collect()
    }

    /// `resources/read` of `uri`: its result, `{"contents": […]}`.
    pub(crate) async fn read_resource(&mut self, uri: &str) -> Result<Value, ApiError> {
        self.request("resources/read", json!({"uri": uri})).await
    }

    /// `prompts/get` of `name` with `arguments`: its result, `{"description", "messages"}`.
    pub(crate) async fn get_prompt(
        &mut self,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        self.request("prompts/get", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Ends the session: an HTTP session is deleted (best effort), a process is stopped.
    pub(crate) async fn close(self) {
        match self.conn {
            Conn::Http(c) => c.close().await,
            Conn::Stdio(c) => c.close().await,
        }
    }
}

/// Runs `work` in a session with `server`, closing it whatever the outcome.
pub(crate) async fn with_session<T>(
    server: &McpServer,
    settings: &McpSettings,
    work: impl AsyncFnOnce(&mut Session) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut session = connect(server, settings).await?;
    let outcome = work(&mut session).await;
    session.close().await;
    outcome
}

/// A tool as a server lists it: the members Tollgate keeps; the others (MCP's `title`,
/// `annotations`, …, and whatever later versions add) are ignored.
#[derive(serde::Deserialize)]
struct ListedTool {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "inputSchema")]
    input_schema: Option<Value>,
}

impl From<ListedTool> for McpRefreshTool {
    fn from(t: ListedTool) -> McpRefreshTool {
        McpRefreshTool {
            name: t.name,
            description: t.description,
            input_schema: t.input_schema,
            ..McpRefreshTool::default()
        }
    }
}

/// A resource as a server lists it (see [`ListedTool`]).
#[derive(serde::Deserialize)]
struct ListedResource {
    uri: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "mimeType")]
    mime_type: Option<String>,
}

impl From<ListedResource> for McpRefreshResource {
    fn from(r: ListedResource) -> McpRefreshResource {
        McpRefreshResource {
            uri: r.uri,
            name: r.name,
            description: r.description,
            mime_type: r.mime_type,
            ..McpRefreshResource::default()
        }
    }
}

/// A prompt as a server lists it (see [`ListedTool`]).
#[derive(serde::Deserialize)]
struct ListedPrompt {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

impl From<ListedPrompt> for McpRefreshPrompt {
    fn from(p: ListedPrompt) -> McpRefreshPrompt {
        McpRefreshPrompt {
            name: p.name,
            description: p.description,
            arguments: p.arguments,
            ..McpRefreshPrompt::default()
        }
    }
}

/// Whether `message` (one JSON-RPC message, or a batch) holds the response to request `id`;
/// the response if so.
fn response_to(message: Value, id: i64) -> Option<Value> {
    match message {
        Value::Array(batch) => batch.into_iter().find_map(|m| response_to(m, id)),
        Value::Object(ref m)
            if m.get("id").and_then(Value::as_i64) == Some(id)
                && (m.contains_key("result") || m.contains_key("error")) =>
        {
            Some(message)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_response_to_the_request_is_taken_from_a_message_or_a_batch() {
        let ours = json!({"jsonrpc": "2.0", "id": 3, "result": {}});
        assert_eq!(response_to(ours.clone(), 3), Some(ours.clone()));
        assert_eq!(response_to(ours.clone(), 4), None);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress"});
        let request = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
        assert_eq!(response_to(note.clone(), 3), None);
        assert_eq!(
            response_to(request.clone(), 3),
            None,
            "a request, not an answer"
        );
        assert_eq!(
            response_to(json!([note, request, ours.clone()]), 3),
            Some(ours)
        );
    }
}
