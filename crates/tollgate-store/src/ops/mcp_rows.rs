//! The rows of llmring's MCP registry as the operations read them (a server; a tool,
//! resource or prompt with its server's name and URL), and the statements that select them.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::decode::{json_value, uuid};
use crate::db::{query, row, On, Sql};
use crate::model::*;
use crate::StoreError;

pub(super) const SERVER_COLUMNS: &str = "tenant_id, id, name, url, transport_type, auth_config, \
     capabilities, is_active, created_us, updated_us";

row! {
    /// A server as [`SERVER_COLUMNS`] reads it.
    pub(super) struct ServerRow {
        tenant_id: String,
        id: String,
        name: String,
        url: String,
        transport_type: String,
        auth_config: Option<String>,
        capabilities: Option<String>,
        is_active: bool,
        created_us: i64,
        updated_us: i64,
    }
}

/// A JSON object read from a TEXT column; NULL (or anything but an object) is absent.
fn object(text: Option<String>) -> Option<Map<String, Value>> {
    match json_value(text) {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The text an object is stored as: an empty one is absent, as llmring's server stores it.
pub(super) fn object_text(value: Option<&Map<String, Value>>) -> Option<String> {
    value
        .filter(|m| !m.is_empty())
        .map(|m| Value::Object(m.clone()).to_string())
}

impl TryFrom<ServerRow> for McpServer {
    type Error = StoreError;

    fn try_from(r: ServerRow) -> Result<McpServer, StoreError> {
        let transport = McpTransport::parse(&r.transport_type).ok_or_else(|| {
            StoreError::Invariant(format!("unknown MCP transport '{}'", r.transport_type))
        })?;
        Ok(McpServer {
            tenant_id: r.tenant_id,
            id: uuid(&r.id)?,
            name: r.name,
            url: r.url,
            transport,
            auth_config: object(r.auth_config),
            capabilities: object(r.capabilities),
            is_active: r.is_active,
            created_us: r.created_us,
            updated_us: r.updated_us,
        })
    }
}

/// The columns of a tool with its server's name and URL (`t`: the tool, `s`: its server).
pub(super) const TOOL_SELECT: &str =
    "SELECT t.tenant_id, t.id, t.server_id, s.name AS server_name, \
     s.url AS server_url, t.name, t.description, t.input_schema, t.is_active, t.price_per_call, \
     t.price_per_unit, t.currency, t.created_us \
     FROM mcp_tools t JOIN mcp_servers s ON s.tenant_id = t.tenant_id AND s.id = t.server_id";

row! {
    pub(super) struct ToolRow {
        tenant_id: String,
        id: String,
        server_id: String,
        server_name: String,
        server_url: String,
        name: String,
        description: Option<String>,
        input_schema: String,
        is_active: bool,
        price_per_call: Option<String>,
        price_per_unit: Option<String>,
        currency: Option<String>,
        created_us: i64,
    }
}

fn decimal(text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.map(|t| {
        Decimal::from_str(&t)
            .map_err(|_| StoreError::Invariant(format!("'{t}' is not a stored tool price")))
    })
    .transpose()
}

fn server_ref(id: &str, name: String, url: String) -> Result<McpServerRef, StoreError> {
    Ok(McpServerRef {
        id: uuid(id)?,
        name,
        url,
    })
}

impl TryFrom<ToolRow> for McpTool {
    type Error = StoreError;

    fn try_from(r: ToolRow) -> Result<McpTool, StoreError> {
        Ok(McpTool {
            tenant_id: r.tenant_id,
            id: uuid(&r.id)?,
            server: server_ref(&r.server_id, r.server_name, r.server_url)?,
            name: r.name,
            description: r.description,
            input_schema: json_value(Some(r.input_schema)).unwrap_or(Value::Null),
            is_active: r.is_active,
            price: ToolPrice {
                per_call: decimal(r.price_per_call)?,
                per_unit: decimal(r.price_per_unit)?,
                currency: r.currency,
            },
            created_us: r.created_us,
        })
    }
}

pub(super) const RESOURCE_SELECT: &str = "SELECT r.tenant_id, r.id, r.server_id, \
     s.name AS server_name, s.url AS server_url, r.uri, r.name, r.description, r.mime_type, \
     r.is_active, r.created_us \
     FROM mcp_resources r JOIN mcp_servers s ON s.tenant_id = r.tenant_id AND s.id = r.server_id";

row! {
    pub(super) struct ResourceRow {
        tenant_id: String,
        id: String,
        server_id: String,
        server_name: String,
        server_url: String,
        uri: String,
        name: Option<String>,
        description: Option<String>,
        mime_type: Option<String>,
        is_active: bool,
        created_us: i64,
    }
}

impl TryFrom<ResourceRow> for McpResource {
    type Error = StoreError;

    fn try_from(r: ResourceRow) -> Result<McpResource, StoreError> {
        Ok(McpResource {
            tenant_id: r.tenant_id,
            id: uuid(&r.id)?,
            server: server_ref(&r.server_id, r.server_name, r.server_url)?,
            uri: r.uri,
            name: r.name,
            description: r.description,
            mime_type: r.mime_type,
            is_active: r.is_active,
            created_us: r.created_us,
        })
    }
}

pub(super) const PROMPT_SELECT: &str = "SELECT p.tenant_id, p.id, p.server_id, \
     s.name AS server_name, s.url AS server_url, p.name, p.description, p.arguments, \
     p.is_active, p.created_us \
     FROM mcp_prompts p JOIN mcp_servers s ON s.tenant_id = p.tenant_id AND s.id = p.server_id";

row! {
    pub(super) struct PromptRow {
        tenant_id: String,
        id: String,
        server_id: String,
        server_name: String,
        server_url: String,
        name: String,
        description: Option<String>,
        arguments: Option<String>,
        is_active: bool,
        created_us: i64,
    }
}

impl TryFrom<PromptRow> for McpPrompt {
    type Error = StoreError;

    fn try_from(r: PromptRow) -> Result<McpPrompt, StoreError> {
        Ok(McpPrompt {
            tenant_id: r.tenant_id,
            id: uuid(&r.id)?,
            server: server_ref(&r.server_id, r.server_name, r.server_url)?,
            name: r.name,
            description: r.description,
            arguments: json_value(r.arguments),
            is_active: r.is_active,
            created_us: r.created_us,
        })
    }
}

/// Runs a listing or lookup and converts its rows.
pub(super) async fn rows<'a, R, T>(sql: &Sql, on: impl Into<On<'a>>) -> Result<Vec<T>, StoreError>
where
    R: crate::db::FromRow,
    T: TryFrom<R, Error = StoreError>,
{
    sql.fetch_all_as::<R>(on)
        .await?
        .into_iter()
        .map(T::try_from)
        .collect()
}

/// `sql` (a `SELECT … FROM x … JOIN …` of `alias`) narrowed to the tenant and `filter`,
/// ordered by `order` (a column of `alias`), then id.
pub(super) fn filtered(
    select: &str,
    alias: &str,
    tenant: &str,
    filter: &McpFilter,
    order: &str,
) -> Sql {
    let mut sql = Sql::new(select);
    sql.push(&format!(" WHERE {alias}.tenant_id = "))
        .push_bind(tenant);
    if let Some(server) = filter.server_id {
        sql.push(&format!(" AND {alias}.server_id = "))
            .push_bind(server.to_string());
    }
    if let Some(active) = filter.is_active {
        sql.push(&format!(" AND {alias}.is_active = "))
            .push_bind(active);
    }
    sql.push(&format!(" ORDER BY {alias}.{order}, {alias}.id"));
    sql
}

/// One row of `select` (aliased `alias`) by id, in the tenant.
pub(super) fn by_id(select: &str, alias: &str, tenant: &str, id: Uuid) -> Sql {
    query(format!(
        "{select} WHERE {alias}.tenant_id = $1 AND {alias}.id = $2"
    ))
    .bind(tenant)
    .bind(id.to_string())
}
