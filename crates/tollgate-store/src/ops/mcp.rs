//! llmring's MCP registry: servers, the tools registered by hand, and the reads of tools,
//! resources and prompts (a refresh writes those: `mcp_refresh`).
//!
//! Every statement names the tenant, so another tenant's row is a missing row. A write
//! transaction here takes the server's row first (`UPDATE`, or the foreign-key check of an
//! insert) and then its tools, resources or prompts; no billing transaction touches these
//! tables.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::decode::{json_value, uuid};
use crate::db::{query, row, Db, On, Sql, Tx};
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
fn by_id(select: &str, alias: &str, tenant: &str, id: Uuid) -> Sql {
    query(format!(
        "{select} WHERE {alias}.tenant_id = $1 AND {alias}.id = $2"
    ))
    .bind(tenant)
    .bind(id.to_string())
}

pub(super) async fn create_server(db: &Db, s: &NewMcpServer) -> Result<McpServer, StoreError> {
    let mut tx = db.begin_write().await?;
    query(format!(
        "INSERT INTO mcp_servers ({SERVER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)"
    ))
    .bind(&s.tenant_id)
    .bind(s.id.to_string())
    .bind(&s.name)
    .bind(&s.url)
    .bind(s.transport.as_str())
    .bind(object_text(s.auth_config.as_ref()))
    .bind(object_text(s.capabilities.as_ref()))
    .bind(s.created_us)
    .execute(&mut tx)
    .await?;
    let server = server_in(&mut tx, &s.tenant_id, s.id)
        .await?
        .ok_or_else(|| StoreError::Invariant("a server just inserted is missing".into()))?;
    tx.commit().await?;
    Ok(server)
}

/// Locks the tenant's server row for the rest of the transaction (setting `updated_us` when
/// given), so that it cannot go while its tools, resources or prompts are written; false
/// when the tenant has no such server.
pub(super) async fn lock_server(
    tx: &mut Tx,
    tenant: &str,
    id: Uuid,
    updated_us: Option<i64>,
) -> Result<bool, StoreError> {
    let changed = query(
        "UPDATE mcp_servers SET updated_us = COALESCE($1, updated_us)
         WHERE tenant_id = $2 AND id = $3",
    )
    .bind(updated_us)
    .bind(tenant)
    .bind(id.to_string())
    .execute(tx)
    .await?;
    Ok(changed > 0)
}

/// The tenant's server, read inside a write transaction.
pub(super) async fn server_in(
    tx: &mut Tx,
    tenant: &str,
    id: Uuid,
) -> Result<Option<McpServer>, StoreError> {
    query(format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id.to_string())
    .fetch_optional_as::<ServerRow>(tx)
    .await?
    .map(McpServer::try_from)
    .transpose()
}

pub(super) async fn list_servers(
    db: &Db,
    tenant: &str,
    is_active: Option<bool>,
) -> Result<Vec<McpServer>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE tenant_id = "
    ));
    sql.push_bind(tenant);
    if let Some(active) = is_active {
        sql.push(" AND is_active = ").push_bind(active);
    }
    sql.push(" ORDER BY created_us DESC, id DESC");
    rows::<ServerRow, McpServer>(&sql, db).await
}

pub(super) async fn get_server(
    db: &Db,
    tenant: &str,
    id: Uuid,
) -> Result<Option<McpServer>, StoreError> {
    query(format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id.to_string())
    .fetch_optional_as::<ServerRow>(db)
    .await?
    .map(McpServer::try_from)
    .transpose()
}

pub(super) async fn update_server(
    db: &Db,
    tenant: &str,
    id: Uuid,
    change: &McpServerChange,
    now_us: i64,
) -> Result<Option<McpServer>, StoreError> {
    if change.is_empty() {
        return get_server(db, tenant, id).await;
    }
    let mut sql = Sql::new("UPDATE mcp_servers SET updated_us = ");
    sql.push_bind(now_us);
    if let Some(name) = &change.name {
        sql.push(", name = ").push_bind(name);
    }
    if let Some(url) = &change.url {
        sql.push(", url = ").push_bind(url);
    }
    if let Some(t) = change.transport {
        sql.push(", transport_type = ").push_bind(t.as_str());
    }
    if let Some(auth) = &change.auth_config {
        sql.push(", auth_config = ")
            .push_bind(object_text(auth.as_ref()));
    }
    if let Some(caps) = &change.capabilities {
        sql.push(", capabilities = ")
            .push_bind(object_text(caps.as_ref()));
    }
    if let Some(active) = change.is_active {
        sql.push(", is_active = ").push_bind(active);
    }
    sql.push(" WHERE tenant_id = ")
        .push_bind(tenant)
        .push(" AND id = ")
        .push_bind(id.to_string());
    let mut tx = db.begin_write().await?;
    if sql.execute(&mut tx).await? == 0 {
        return Ok(None);
    }
    let server = server_in(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok(server)
}

/// Deletes a server; its tools (with their executions), resources and prompts go with it.
pub(super) async fn delete_server(db: &Db, tenant: &str, id: Uuid) -> Result<bool, StoreError> {
    let gone = query("DELETE FROM mcp_servers WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id.to_string())
        .execute(db.write())
        .await?;
    Ok(gone > 0)
}

fn price_text(d: Option<Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// Registers a tool on one of the tenant's servers; None when the tenant has no such server.
/// A name the server already has is a conflict.
pub(super) async fn create_tool(db: &Db, t: &NewMcpTool) -> Result<Option<McpTool>, StoreError> {
    let mut tx = db.begin_write().await?;
    if !lock_server(&mut tx, &t.tenant_id, t.server_id, None).await? {
        return Ok(None);
    }
    let inserted = query(
        "INSERT INTO mcp_tools (tenant_id, id, server_id, name, description, input_schema, is_active,
                                price_per_call, price_per_unit, currency, created_us)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10)",
    )
    .bind(&t.tenant_id)
    .bind(t.id.to_string())
    .bind(t.server_id.to_string())
    .bind(&t.name)
    .bind(&t.description)
    .bind(t.input_schema.to_string())
    .bind(price_text(t.price.per_call))
    .bind(price_text(t.price.per_unit))
    .bind(&t.price.currency)
    .bind(t.created_us)
    .execute(&mut tx)
    .await;
    match inserted {
        Err(StoreError::Conflict(_)) => {
            return Err(StoreError::Conflict(format!(
                "the server already has a tool named '{}'",
                t.name
            )))
        }
        other => other?,
    };
    let tool = rows::<ToolRow, McpTool>(&by_id(TOOL_SELECT, "t", &t.tenant_id, t.id), &mut tx)
        .await?
        .pop();
    tx.commit().await?;
    Ok(tool)
}

pub(super) async fn list_tools(
    db: &Db,
    tenant: &str,
    filter: &McpFilter,
) -> Result<Vec<McpTool>, StoreError> {
    rows::<ToolRow, McpTool>(&filtered(TOOL_SELECT, "t", tenant, filter, "name"), db).await
}

pub(super) async fn get_tool(
    db: &Db,
    tenant: &str,
    id: Uuid,
) -> Result<Option<McpTool>, StoreError> {
    Ok(
        rows::<ToolRow, McpTool>(&by_id(TOOL_SELECT, "t", tenant, id), db)
            .await?
            .pop(),
    )
}

/// Changes a tool; None when the tenant has no such tool. A price set without a currency (or
/// with the currency cleared) is in USD; clearing both prices clears the currency too unless
/// the change sets one.
pub(super) async fn update_tool(
    db: &Db,
    tenant: &str,
    id: Uuid,
    change: &McpToolChange,
) -> Result<Option<McpTool>, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(tool) = rows::<ToolRow, McpTool>(&by_id(TOOL_SELECT, "t", tenant, id), &mut tx)
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let per_call = change.price_per_call.unwrap_or(tool.price.per_call);
    let per_unit = change.price_per_unit.unwrap_or(tool.price.per_unit);
    let priced = per_call.is_some() || per_unit.is_some();
    let currency = match (&change.currency, priced) {
        (Some(Some(c)), _) => Some(c.clone()),
        (Some(None), true) => Some("USD".to_string()),
        (Some(None), false) => None,
        (None, true) => tool.price.currency.clone().or_else(|| Some("USD".into())),
        (None, false) => None,
    };
    query(
        "UPDATE mcp_tools SET description = $1, input_schema = $2, is_active = $3,
                price_per_call = $4, price_per_unit = $5, currency = $6
         WHERE tenant_id = $7 AND id = $8",
    )
    .bind(change.description.clone().unwrap_or(tool.description))
    .bind(
        change
            .input_schema
            .as_ref()
            .unwrap_or(&tool.input_schema)
            .to_string(),
    )
    .bind(change.is_active.unwrap_or(tool.is_active))
    .bind(price_text(per_call))
    .bind(price_text(per_unit))
    .bind(currency)
    .bind(tenant)
    .bind(id.to_string())
    .execute(&mut tx)
    .await?;
    let tool = rows::<ToolRow, McpTool>(&by_id(TOOL_SELECT, "t", tenant, id), &mut tx)
        .await?
        .pop();
    tx.commit().await?;
    Ok(tool)
}

pub(super) async fn list_resources(
    db: &Db,
    tenant: &str,
    filter: &McpFilter,
) -> Result<Vec<McpResource>, StoreError> {
    rows::<ResourceRow, McpResource>(&filtered(RESOURCE_SELECT, "r", tenant, filter, "uri"), db)
        .await
}

pub(super) async fn get_resource(
    db: &Db,
    tenant: &str,
    id: Uuid,
) -> Result<Option<McpResource>, StoreError> {
    Ok(
        rows::<ResourceRow, McpResource>(&by_id(RESOURCE_SELECT, "r", tenant, id), db)
            .await?
            .pop(),
    )
}

pub(super) async fn list_prompts(
    db: &Db,
    tenant: &str,
    filter: &McpFilter,
) -> Result<Vec<McpPrompt>, StoreError> {
    rows::<PromptRow, McpPrompt>(&filtered(PROMPT_SELECT, "p", tenant, filter, "name"), db).await
}

pub(super) async fn get_prompt(
    db: &Db,
    tenant: &str,
    id: Uuid,
) -> Result<Option<McpPrompt>, StoreError> {
    Ok(
        rows::<PromptRow, McpPrompt>(&by_id(PROMPT_SELECT, "p", tenant, id), db)
            .await?
            .pop(),
    )
}
