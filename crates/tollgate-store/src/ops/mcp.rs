//! llmring's MCP registry: servers and the reads of tools, resources and prompts (tools
//! registered by hand: `mcp_tools`; a refresh: `mcp_refresh`; rows: `mcp_rows`).
//!
//! Every statement names the tenant, so another tenant's row is a missing row. A write
//! transaction here locks the server's row first (`lock_server`, or the `UPDATE` that changes
//! it) and then writes its tools, resources or prompts; no billing transaction touches these
//! tables.

use uuid::Uuid;

use super::mcp_rows::{
    by_id, filtered, object_text, rows, PromptRow, ResourceRow, ServerRow, PROMPT_SELECT,
    RESOURCE_SELECT, SERVER_COLUMNS,
};
use crate::db::{query, Db, Sql, Tx};
use crate::model::*;
use crate::StoreError;

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
    .await
    .map_err(|e| named_twice(e, &s.name))?;
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

/// A unique violation on a server's name, said as such.
fn named_twice(e: StoreError, name: &str) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "the tenant already has an MCP server named '{name}'"
        )),
        other => other,
    }
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
    let changed = sql.execute(&mut tx).await.map_err(|e| match &change.name {
        Some(name) => named_twice(e, name),
        None => e,
    })?;
    if changed == 0 {
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
