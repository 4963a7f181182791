//! Tools (M7–M9, and Tollgate's `PATCH`): register one by hand on a server of the tenant,
//! list them with their servers, get one, change its description, schema, status or price.

use std::str::FromStr;

use axum::extract::State;
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use tollgate_api::billing::Loose;
use tollgate_api::mcp::{McpTool, McpToolCreate, McpToolUpdate, McpToolWithServer};
use tollgate_core::time::now_us;
use tollgate_core::Currency;
use tollgate_store::{McpFilter, McpToolChange, NewMcpTool, StoreError, ToolPrice};
use uuid::Uuid;

use super::{check_length, path_id, query_id, tool_view, tool_with_server};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// A price: a non-negative exact decimal of at most [`MAX_PRICE`], read from its text; 422
/// naming `field` otherwise.
fn price(field: &str, value: &Loose) -> Result<Decimal, ApiError> {
    let example = "a decimal string such as \"0.01\"";
    let bad = |why: String| ApiError::invalid_field(field, format!("{field} {why}"));
    let text = match value {
        Loose::Text(t) => t.trim(),
        Loose::Number(_) => {
            return Err(bad(format!(
                "must be {example}, not a JSON number (numbers lose precision)"
            )))
        }
        Loose::Other(_) => return Err(bad(format!("must be {example}"))),
    };
    let amount = Decimal::from_str(text)
        .map_err(|_| bad(format!("'{text}' is not a decimal number; send {example}")))?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(bad(format!("must not be negative, not '{text}'")));
    }
    // So that a call of up to MAX_UNITS units stays far inside what a cost can hold.
    if amount > Decimal::from(MAX_PRICE) {
        return Err(bad(format!("must be at most {MAX_PRICE}, not '{text}'")));
    }
    Ok(amount)
}

/// The highest price per call or per unit a tool may carry.
const MAX_PRICE: i64 = 1_000;

fn currency(value: &str) -> Result<String, ApiError> {
    Currency::try_from(value.to_string())
        .map(String::from)
        .map_err(|why| ApiError::invalid_field("currency", format!("currency: {why}")))
}

/// Register a tool
///
/// llmring's `MCPToolCreate`, on one of the tenant's servers, with Tollgate's optional price
/// (`price_per_call`, `price_per_unit`: non-negative decimal strings; `currency`, USD by
/// default). Answers the tool without its server. Needs the `ingest` or `admin` scope.
#[utoipa::path(
    post,
    path = "/api/v1/mcp/tools",
    tag = "mcp",
    operation_id = "mcp_create_tool",
    request_body = McpToolCreate,
    responses(
        (status = 200, description = "The tool registered", body = McpTool),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "`server_id` is no server of the tenant's (`Server not found`, naming `server_id`)"),
        (status = 409, description = "The server already has a tool of that name (`CONFLICT`, naming `name`)"),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it): `server_id` (a UUID), `name` (1 to 255 characters), `input_schema` (an object, required), a price or the currency"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    Body(b): Body<McpToolCreate>,
) -> Result<Json<McpTool>, ApiError> {
    let server_id = Uuid::parse_str(b.server_id.trim())
        .map_err(|_| ApiError::invalid_field("server_id", "server_id must be a UUID"))?;
    check_length("name", &b.name, 255)?;
    let per_call = b
        .price_per_call
        .as_ref()
        .map(|p| price("price_per_call", p))
        .transpose()?;
    let per_unit = b
        .price_per_unit
        .as_ref()
        .map(|p| price("price_per_unit", p))
        .transpose()?;
    let code = b.currency.as_deref().map(currency).transpose()?;
    let priced = per_call.is_some() || per_unit.is_some();
    let new = NewMcpTool {
        tenant_id: auth.tenant_id.clone(),
        id: Uuid::now_v7(),
        server_id,
        name: b.name,
        description: b.description,
        input_schema: serde_json::Value::Object(b.input_schema),
        price: ToolPrice {
            per_call,
            per_unit,
            currency: code.or_else(|| priced.then(|| "USD".to_string())),
        },
        created_us: now_us(),
    };
    match state.store().create_mcp_tool(&new).await {
        Ok(Some(tool)) => Ok(Json(tool_view(&tool))),
        Ok(None) => Err(ApiError::not_found("Server").with_field("server_id")),
        Err(StoreError::Conflict(message)) => {
            Err(ApiError::new(ErrorCode::Conflict, message).with_field("name"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Query of `GET /api/v1/mcp/tools`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolQuery {
    /// Tools of this server only (a UUID).
    server_id: Option<String>,
    /// Tools with this status (default true).
    is_active: Option<bool>,
    /// Ignored (llmring's client may send it).
    #[allow(dead_code)]
    project_id: Option<String>,
}

/// List tools
///
/// The tenant's tools with that `is_active` (of one server with `server_id`), by name, each
/// with its server. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/tools",
    tag = "mcp",
    operation_id = "mcp_list_tools",
    params(ToolQuery),
    responses(
        (status = 200, description = "The tools, by name", body = Vec<McpToolWithServer>),
        (status = 400, description = "`server_id` is not a UUID, or `is_active` not `true` or `false`"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<ToolQuery>,
) -> Result<Json<Vec<McpToolWithServer>>, ApiError> {
    let filter = McpFilter {
        server_id: query_id("server_id", q.server_id.as_deref())?,
        is_active: Some(q.is_active.unwrap_or(true)),
    };
    let found = state
        .store()
        .list_mcp_tools(&auth.tenant_id, &filter)
        .await?;
    Ok(Json(found.iter().map(tool_with_server).collect()))
}

/// Get a tool
///
/// With its server, active or not. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/tools/{id}",
    tag = "mcp",
    operation_id = "mcp_get_tool",
    params(("id" = String, Path, description = "The tool's id (a UUID)")),
    responses(
        (status = 200, description = "The tool with its server", body = McpToolWithServer),
        (status = 404, description = "No such tool, or another tenant's (`Tool not found`)"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<McpToolWithServer>, ApiError> {
    let id = path_id(&id)?;
    let tool = state
        .store()
        .get_mcp_tool(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;
    Ok(Json(tool_with_server(&tool)))
}

/// Change a tool
///
/// Tollgate's: sets the members the body has (`description`, `input_schema`, `is_active`,
/// `price_per_call`, `price_per_unit`, `currency`); null clears one. A price without a currency
/// is in USD; clearing both prices clears the currency unless the body sets one. A refresh
/// keeps what is set here except the description and schema the server lists. Needs the
/// `ingest` or `admin` scope.
#[utoipa::path(
    patch,
    path = "/api/v1/mcp/tools/{id}",
    tag = "mcp",
    operation_id = "mcp_update_tool",
    params(("id" = String, Path, description = "The tool's id (a UUID)")),
    request_body = McpToolUpdate,
    responses(
        (status = 200, description = "The tool with its server", body = McpToolWithServer),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "No such tool, or another tenant's, which is left as it is"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (naming it): a negative or malformed price, a currency that is not an ISO 4217 code"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    PathParam(id): PathParam,
    Body(b): Body<McpToolUpdate>,
) -> Result<Json<McpToolWithServer>, ApiError> {
    let id = path_id(&id)?;
    let opt_price = |field: &str, v: Option<Option<Loose>>| {
        v.map(|p| p.map(|p| price(field, &p)).transpose())
            .transpose()
    };
    let change = McpToolChange {
        description: b.description,
        input_schema: b.input_schema.map(serde_json::Value::Object),
        is_active: b.is_active,
        price_per_call: opt_price("price_per_call", b.price_per_call)?,
        price_per_unit: opt_price("price_per_unit", b.price_per_unit)?,
        currency: b
            .currency
            .map(|c| c.as_deref().map(currency).transpose())
            .transpose()?,
    };
    let tool = state
        .store()
        .update_mcp_tool(&auth.tenant_id, id, &change)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;
    Ok(Json(tool_with_server(&tool)))
}
