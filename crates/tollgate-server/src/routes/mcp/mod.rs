//! llmring's MCP registry (llmring-mcp §1), under `/api/v1/mcp`: a tenant's MCP servers
//! (`servers`), their tools (`tools`), resources and prompts (`catalog`), a server's refresh
//! (`refresh`), and tool executions, metered like LLM calls (`executions`).
//!
//! Everything is the tenant's of the key: another tenant's server, tool, resource or prompt is
//! a 404 exactly like a missing one, on every route. Reads need the `read` scope (so does
//! rendering a prompt, which changes nothing); writes need `ingest` or `admin`. The shapes are
//! llmring's (`tollgate_api::mcp`); what this module adds is in `docs/mcp.md`.

pub(crate) mod catalog;
pub(crate) mod executions;
pub(crate) mod refresh;
pub(crate) mod servers;
pub(crate) mod tools;

use serde_json::{Map, Value};
use tollgate_api::mcp::{
    McpPrompt, McpPromptRow, McpResource, McpResourceRow, McpServer, McpTool, McpToolServer,
    McpToolWithServer, McpTransportType,
};
use tollgate_core::time::format_us;
use tollgate_store::McpTransport;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::parse_json;
use tollgate_api::ErrorCode;

/// The path's id as a UUID; 422 naming `id` when it is not one.
fn path_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::new(ErrorCode::InvalidField, "id must be a UUID").with_field("id"))
}

/// A query parameter that must be a UUID; 400 naming it otherwise.
fn query_id(field: &str, raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    raw.map(|r| {
        Uuid::parse_str(r.trim())
            .map_err(|_| ApiError::invalid_query(field, format!("{field} must be a UUID")))
    })
    .transpose()
}

/// Checks a text field's length in characters, as the database counts it.
fn check_length(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n == 0 || value.trim().is_empty() {
        Err(ApiError::invalid_field(
            field,
            format!("{field} must not be empty"),
        ))
    } else if n > max {
        Err(ApiError::invalid_field(
            field,
            format!("{field} is longer than {max} characters"),
        ))
    } else {
        Ok(())
    }
}

/// A body that must be a JSON object: absent or empty is a 422 (as llmring's server answers
/// it), malformed JSON a 400, another shape a 422 naming the field.
fn object_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let not_object =
        |what: &str| ApiError::invalid_field("body", format!("the body {what}: a JSON object"));
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(not_object("is required")),
        Some(b'{') => parse_json(bytes),
        // serde would read a struct from an array too: refuse any other JSON value here.
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(not_object("must be")),
            Err(_) => parse_json(bytes),
        },
    }
}

fn transport(t: McpTransportType) -> McpTransport {
    match t {
        McpTransportType::Stdio => McpTransport::Stdio,
        McpTransportType::Http => McpTransport::Http,
        McpTransportType::Websocket => McpTransport::Websocket,
    }
}

fn transport_type(t: McpTransport) -> McpTransportType {
    match t {
        McpTransport::Stdio => McpTransportType::Stdio,
        McpTransport::Http => McpTransportType::Http,
        McpTransport::Websocket => McpTransportType::Websocket,
    }
}

/// Checks a server's URL for its transport: an http server's must be an http(s) URL, a
/// stdio server's any command line, a websocket server's anything (it is only stored).
fn check_url(url: &str, t: McpTransport) -> Result<(), ApiError> {
    check_length("url", url, 1000)?;
    if t == McpTransport::Http {
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !ok {
            return Err(ApiError::invalid_field(
                "url",
                "url must be an http or https URL for transport_type http",
            ));
        }
    }
    Ok(())
}

fn server_view(s: &tollgate_store::McpServer) -> McpServer {
    McpServer {
        name: s.name.clone(),
        url: s.url.clone(),
        transport_type: transport_type(s.transport),
        auth_config: s.auth_config.clone(),
        capabilities: s.capabilities.clone(),
        is_active: s.is_active,
        id: s.id.to_string(),
        api_key_id: s.tenant_id.clone(),
        created_at: format_us(s.created_us),
        updated_at: format_us(s.updated_us),
    }
}

fn tool_view(t: &tollgate_store::McpTool) -> McpTool {
    McpTool {
        name: t.name.clone(),
        description: t.description.clone(),
        input_schema: t.input_schema.clone(),
        is_active: t.is_active,
        id: t.id.to_string(),
        server_id: t.server.id.to_string(),
        api_key_id: t.tenant_id.clone(),
        created_at: format_us(t.created_us),
        price_per_call: t.price.per_call.map(|d| d.to_string()),
        price_per_unit: t.price.per_unit.map(|d| d.to_string()),
        currency: t.price.currency.clone(),
    }
}

fn tool_with_server(t: &tollgate_store::McpTool) -> McpToolWithServer {
    McpToolWithServer {
        tool: tool_view(t),
        server: McpToolServer {
            id: t.server.id.to_string(),
            name: t.server.name.clone(),
            url: t.server.url.clone(),
        },
    }
}

fn resource_view(r: &tollgate_store::McpResource) -> McpResource {
    McpResource {
        uri: r.uri.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        mime_type: r.mime_type.clone(),
        is_active: r.is_active,
        id: r.id.to_string(),
        server_id: r.server.id.to_string(),
        api_key_id: r.tenant_id.clone(),
        created_at: format_us(r.created_us),
    }
}

fn resource_row(r: &tollgate_store::McpResource) -> McpResourceRow {
    McpResourceRow {
        id: r.id.to_string(),
        server_id: r.server.id.to_string(),
        uri: r.uri.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        mime_type: r.mime_type.clone(),
        is_active: r.is_active,
        api_key_id: r.tenant_id.clone(),
        created_at: format_us(r.created_us),
        server_name: r.server.name.clone(),
        server_url: r.server.url.clone(),
    }
}

fn prompt_view(p: &tollgate_store::McpPrompt) -> McpPrompt {
    McpPrompt {
        name: p.name.clone(),
        description: p.description.clone(),
        arguments: p.arguments.clone(),
        is_active: p.is_active,
        id: p.id.to_string(),
        server_id: p.server.id.to_string(),
        api_key_id: p.tenant_id.clone(),
        created_at: format_us(p.created_us),
    }
}

fn prompt_row(p: &tollgate_store::McpPrompt) -> McpPromptRow {
    McpPromptRow {
        id: p.id.to_string(),
        server_id: p.server.id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        arguments: p.arguments.clone(),
        is_active: p.is_active,
        api_key_id: p.tenant_id.clone(),
        created_at: format_us(p.created_us),
        server_name: p.server.name.clone(),
        server_url: p.server.url.clone(),
    }
}

/// An empty object is absent, as llmring's server stores it.
fn non_empty(m: Option<Map<String, Value>>) -> Option<Map<String, Value>> {
    m.filter(|m| !m.is_empty())
}
