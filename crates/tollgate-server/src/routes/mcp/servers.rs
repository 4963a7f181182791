//! A tenant's MCP servers (M1–M5): register, list, get, change (`PATCH`, and `PUT` as
//! llmring's `MCPHttpClient.update_server` sends it) and delete.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_api::mcp::{McpServer, McpServerCreate, McpServerDeleted, McpServerUpdate};
use tollgate_core::time::now_us;
use tollgate_store::{McpServerChange, NewMcpServer, StoreError};
use uuid::Uuid;

use super::{check_length, check_url, non_empty, path_id, server_view, transport};
use crate::auth::{need, Auth, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::mcp::check_auth_config;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Register an MCP server
///
/// llmring's `mcp servers register`. The server is the key's tenant's and active; `{}` for
/// `auth_config` or `capabilities` is stored as null. An http server's `url` must be an http(s)
/// URL (it may be on a private network: that is checked when Tollgate connects to it).
/// Needs the `ingest` or `admin` scope.
#[utoipa::path(
    post,
    path = "/api/v1/mcp/servers",
    tag = "mcp",
    operation_id = "mcp_create_server",
    request_body = McpServerCreate,
    responses(
        (status = 200, description = "The server registered", body = McpServer),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it): `name` (1 to 255 characters), `url` (1 to 1000), `transport_type` (`stdio`, `http`, `websocket`), `auth_config`"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    Body(b): Body<McpServerCreate>,
) -> Result<Json<McpServer>, ApiError> {
    check_server_name(&b.name)?;
    let t = transport(b.transport_type);
    check_url(&b.url, t)?;
    if let Some(config) = &b.auth_config {
        check_auth_config(config)?;
    }
    let server = state
        .store()
        .create_mcp_server(&NewMcpServer {
            tenant_id: auth.tenant_id.clone(),
            id: Uuid::now_v7(),
            name: b.name,
            url: b.url,
            transport: t,
            auth_config: non_empty(b.auth_config),
            capabilities: non_empty(b.capabilities),
            created_us: now_us(),
        })
        .await
        .map_err(name_taken)?;
    Ok(Json(server_view(&server)))
}

/// A server's name: 1 to 255 characters, no `/` (a tool is priced and counted as
/// `<server>/<tool>`, which must name one tool).
fn check_server_name(name: &str) -> Result<(), ApiError> {
    check_length("name", name, 255)?;
    if name.contains('/') {
        return Err(ApiError::invalid_field(
            "name",
            "name must not contain '/': a tool is priced and counted as <server>/<tool>",
        ));
    }
    Ok(())
}

/// 409 naming `name` for a name another of the tenant's servers has.
fn name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(message) => {
            ApiError::new(ErrorCode::Conflict, message).with_field("name")
        }
        other => other.into(),
    }
}

/// Query of `GET /api/v1/mcp/servers`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServerQuery {
    /// Servers with this status (default true).
    is_active: Option<bool>,
    /// Ignored (llmring's client may send it).
    #[allow(dead_code)]
    project_id: Option<String>,
}

/// List MCP servers
///
/// The tenant's servers with that `is_active`, newest first. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/servers",
    tag = "mcp",
    operation_id = "mcp_list_servers",
    params(ServerQuery),
    responses(
        (status = 200, description = "The servers, newest first", body = Vec<McpServer>),
        (status = 400, description = "`is_active` is not `true` or `false`"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<ServerQuery>,
) -> Result<Json<Vec<McpServer>>, ApiError> {
    let found = state
        .store()
        .list_mcp_servers(&auth.tenant_id, Some(q.is_active.unwrap_or(true)))
        .await?;
    Ok(Json(found.iter().map(server_view).collect()))
}

/// Get an MCP server
///
/// Active or not. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/servers/{id}",
    tag = "mcp",
    operation_id = "mcp_get_server",
    params(("id" = String, Path, description = "The server's id (a UUID)")),
    responses(
        (status = 200, description = "The server", body = McpServer),
        (status = 404, description = "No such server, or another tenant's (`Server not found`)"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<McpServer>, ApiError> {
    let id = path_id(&id)?;
    let server = state
        .store()
        .get_mcp_server(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Server"))?;
    Ok(Json(server_view(&server)))
}

async fn change(
    state: &AppState,
    auth: &Auth,
    id: &str,
    b: McpServerUpdate,
) -> Result<Json<McpServer>, ApiError> {
    let id = path_id(id)?;
    if let Some(name) = &b.name {
        check_server_name(name)?;
    }
    if let Some(Some(config)) = &b.auth_config {
        check_auth_config(config)?;
    }
    let store = state.store();
    let not_found = || ApiError::not_found("Server");
    if b.url.is_some() || b.transport_type.is_some() {
        let current = store
            .get_mcp_server(&auth.tenant_id, id)
            .await?
            .ok_or_else(not_found)?;
        let t = b.transport_type.map(transport).unwrap_or(current.transport);
        check_url(b.url.as_deref().unwrap_or(&current.url), t)?;
    }
    let change = McpServerChange {
        name: b.name,
        url: b.url,
        transport: b.transport_type.map(transport),
        auth_config: b.auth_config.map(non_empty),
        capabilities: b.capabilities.map(non_empty),
        is_active: b.is_active,
    };
    let server = store
        .update_mcp_server(&auth.tenant_id, id, &change, now_us())
        .await
        .map_err(name_taken)?
        .ok_or_else(not_found)?;
    Ok(Json(server_view(&server)))
}

/// Change an MCP server
///
/// Sets the members the body has (`name`, `url`, `transport_type`, `auth_config`,
/// `capabilities`, `is_active`) and bumps `updated_at`; `{}` changes nothing (200, the server
/// as it is). Null or `{}` clears `auth_config` or `capabilities`. Needs the `ingest` or
/// `admin` scope.
#[utoipa::path(
    patch,
    path = "/api/v1/mcp/servers/{id}",
    tag = "mcp",
    operation_id = "mcp_update_server",
    params(("id" = String, Path, description = "The server's id (a UUID)")),
    request_body = McpServerUpdate,
    responses(
        (status = 200, description = "The server, changed", body = McpServer),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "No such server, or another tenant's, which is left as it is"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (naming it)"),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    PathParam(id): PathParam,
    Body(b): Body<McpServerUpdate>,
) -> Result<Json<McpServer>, ApiError> {
    change(&state, &auth, &id, b).await
}

/// Change an MCP server (PUT)
///
/// As `PATCH`: llmring's `MCPHttpClient.update_server` sends `PUT` with the members it sets,
/// so a member left out is left as it is. Needs the `ingest` or `admin` scope.
#[utoipa::path(
    put,
    path = "/api/v1/mcp/servers/{id}",
    tag = "mcp",
    operation_id = "mcp_put_server",
    params(("id" = String, Path, description = "The server's id (a UUID)")),
    request_body = McpServerUpdate,
    responses(
        (status = 200, description = "The server, changed", body = McpServer),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "No such server, or another tenant's, which is left as it is"),
        (status = 422, description = "The id is not a UUID, or a field is invalid (naming it)"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    PathParam(id): PathParam,
    Body(b): Body<McpServerUpdate>,
) -> Result<Json<McpServer>, ApiError> {
    change(&state, &auth, &id, b).await
}

/// Delete an MCP server
///
/// With its tools (and their recorded executions), resources and prompts. Needs the `ingest`
/// or `admin` scope.
#[utoipa::path(
    delete,
    path = "/api/v1/mcp/servers/{id}",
    tag = "mcp",
    operation_id = "mcp_delete_server",
    params(("id" = String, Path, description = "The server's id (a UUID)")),
    responses(
        (status = 200, description = "`{\"message\": \"Server deleted successfully\"}`", body = McpServerDeleted),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "No such server, or another tenant's, which is left as it is"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    PathParam(id): PathParam,
) -> Result<Json<McpServerDeleted>, ApiError> {
    let id = path_id(&id)?;
    if !state.store().delete_mcp_server(&auth.tenant_id, id).await? {
        return Err(ApiError::not_found("Server"));
    }
    Ok(Json(McpServerDeleted {
        message: "Server deleted successfully".into(),
    }))
}
