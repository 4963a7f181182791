//! Tools registered by hand (`POST /api/v1/mcp/tools`) and changed (`PATCH`): their
//! description, schema, status and own price.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::mcp::lock_server;
use super::mcp_rows::{by_id, filtered, rows, ToolRow, TOOL_SELECT};
use crate::db::{query, Db};
use crate::model::*;
use crate::StoreError;

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
