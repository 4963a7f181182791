//! A server's refresh: what it offers now replaces what was stored, in one transaction.
//!
//! Rows are matched by their natural key (tools and prompts by name, resources by URI) and
//! updated in place, so their ids, a tool's price and its execution history survive; rows the
//! new lists leave out are marked inactive, never deleted. A kind the catalog leaves out is
//! not touched. The server's `capabilities` become the counts of the active lists.

use serde_json::{json, Map};
use uuid::Uuid;

use super::mcp::{lock_server, server_in};
use super::mcp_rows::{
    filtered, object_text, rows, PromptRow, ResourceRow, ToolRow, PROMPT_SELECT, RESOURCE_SELECT,
    TOOL_SELECT,
};
use crate::db::{query, Db, Tx};
use crate::model::*;
use crate::StoreError;

/// Replaces the server's tools, resources and prompts the catalog lists; None when the
/// tenant has no such server.
pub(super) async fn refresh(
    db: &Db,
    tenant: &str,
    id: Uuid,
    catalog: &McpCatalog,
    now_us: i64,
) -> Result<Option<McpRefreshed>, StoreError> {
    let mut tx = db.begin_write().await?;
    if !lock_server(&mut tx, tenant, id, Some(now_us)).await? {
        return Ok(None);
    }
    let server = id.to_string();
    if let Some(tools) = &catalog.tools {
        deactivate(&mut tx, "mcp_tools", tenant, &server).await?;
        for t in tools {
            query(
                "INSERT INTO mcp_tools (tenant_id, id, server_id, name, description, input_schema,
                                        is_active, created_us)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
                 ON CONFLICT (tenant_id, server_id, name) DO UPDATE SET
                     description = excluded.description, input_schema = excluded.input_schema,
                     is_active = 1",
            )
            .bind(tenant)
            .bind(Uuid::now_v7().to_string())
            .bind(&server)
            .bind(&t.name)
            .bind(&t.description)
            .bind(t.input_schema.to_string())
            .bind(now_us)
            .execute(&mut tx)
            .await?;
        }
    }
    if let Some(resources) = &catalog.resources {
        deactivate(&mut tx, "mcp_resources", tenant, &server).await?;
        for r in resources {
            query(
                "INSERT INTO mcp_resources (tenant_id, id, server_id, uri, name, description,
                                            mime_type, is_active, created_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
                 ON CONFLICT (tenant_id, server_id, uri) DO UPDATE SET
                     name = excluded.name, description = excluded.description,
                     mime_type = excluded.mime_type, is_active = 1",
            )
            .bind(tenant)
            .bind(Uuid::now_v7().to_string())
            .bind(&server)
            .bind(&r.uri)
            .bind(&r.name)
            .bind(&r.description)
            .bind(&r.mime_type)
            .bind(now_us)
            .execute(&mut tx)
            .await?;
        }
    }
    if let Some(prompts) = &catalog.prompts {
        deactivate(&mut tx, "mcp_prompts", tenant, &server).await?;
        for p in prompts {
            query(
                "INSERT INTO mcp_prompts (tenant_id, id, server_id, name, description, arguments,
                                          is_active, created_us)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
                 ON CONFLICT (tenant_id, server_id, name) DO UPDATE SET
                     description = excluded.description, arguments = excluded.arguments,
                     is_active = 1",
            )
            .bind(tenant)
            .bind(Uuid::now_v7().to_string())
            .bind(&server)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.arguments.as_ref().map(|a| a.to_string()))
            .bind(now_us)
            .execute(&mut tx)
            .await?;
        }
    }
    let refreshed = read_back(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok(Some(refreshed))
}

/// Marks every row of `table` of the server inactive; the upserts that follow reactivate the
/// ones still offered.
async fn deactivate(
    tx: &mut Tx,
    table: &str,
    tenant: &str,
    server: &str,
) -> Result<(), StoreError> {
    query(format!(
        "UPDATE {table} SET is_active = 0 WHERE tenant_id = $1 AND server_id = $2 AND is_active = 1"
    ))
    .bind(tenant)
    .bind(server)
    .execute(tx)
    .await?;
    Ok(())
}

/// The active lists, with the server's capabilities set to their counts.
async fn read_back(tx: &mut Tx, tenant: &str, id: Uuid) -> Result<McpRefreshed, StoreError> {
    let filter = McpFilter {
        server_id: Some(id),
        is_active: Some(true),
    };
    let tools: Vec<McpTool> = rows::<ToolRow, _>(
        &filtered(TOOL_SELECT, "t", tenant, &filter, "name"),
        &mut *tx,
    )
    .await?;
    let resources: Vec<McpResource> = rows::<ResourceRow, _>(
        &filtered(RESOURCE_SELECT, "r", tenant, &filter, "uri"),
        &mut *tx,
    )
    .await?;
    let prompts: Vec<McpPrompt> = rows::<PromptRow, _>(
        &filtered(PROMPT_SELECT, "p", tenant, &filter, "name"),
        &mut *tx,
    )
    .await?;
    let counts =
        json!({"tools": tools.len(), "resources": resources.len(), "prompts": prompts.len()});
    let counts: Option<&Map<_, _>> = counts.as_object();
    query("UPDATE mcp_servers SET capabilities = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(object_text(counts))
        .bind(tenant)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let server = server_in(tx, tenant, id).await?.ok_or_else(|| {
        StoreError::Invariant("a server locked for its refresh is missing".into())
    })?;
    Ok(McpRefreshed {
        server,
        tools,
        resources,
        prompts,
    })
}
