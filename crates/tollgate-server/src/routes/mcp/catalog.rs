//! Resources and prompts (M12–M17): what refreshes stored, listed and read back, a resource's
//! content read from its MCP server now (`resources/read`), and a prompt rendered by it
//! (`prompts/get`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_api::mcp::{McpPrompt, McpPromptRendered, McpResource, McpResourceContent};
use tollgate_store::{McpFilter, McpServer, McpServerRef};

use super::{object_body, path_id, prompt_row, prompt_view, query_id, resource_row, resource_view};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, RawBody};
use crate::mcp;
use crate::state::AppState;

/// Query of `GET /api/v1/mcp/resources` and `GET /api/v1/mcp/prompts`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Of this server only (a UUID).
    server_id: Option<String>,
    /// With this status (default true).
    is_active: Option<bool>,
    /// Ignored: everything listed is the key's tenant's.
    #[allow(dead_code)]
    api_key_id: Option<String>,
    /// Ignored (llmring's client may send it).
    #[allow(dead_code)]
    project_id: Option<String>,
}

impl CatalogQuery {
    fn filter(&self) -> Result<McpFilter, ApiError> {
        Ok(McpFilter {
            server_id: query_id("server_id", self.server_id.as_deref())?,
            is_active: Some(self.is_active.unwrap_or(true)),
        })
    }
}

/// The server of a resource or prompt, read again for its transport and credentials.
async fn server_of(
    state: &AppState,
    tenant: &str,
    of: &McpServerRef,
) -> Result<McpServer, ApiError> {
    state
        .store()
        .get_mcp_server(tenant, of.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Server"))
}

/// List resources
///
/// The tenant's resources with that `is_active` (of one server with `server_id`), by URI.
/// Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/resources",
    tag = "mcp",
    operation_id = "mcp_list_resources",
    params(CatalogQuery),
    responses(
        (status = 200, description = "The resources, by URI", body = Vec<McpResource>),
        (status = 400, description = "`server_id` is not a UUID, or `is_active` not `true` or `false`"),
    )
)]
pub async fn list_resources(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<CatalogQuery>,
) -> Result<Json<Vec<McpResource>>, ApiError> {
    let found = state
        .store()
        .list_mcp_resources(&auth.tenant_id, &q.filter()?)
        .await?;
    Ok(Json(found.iter().map(resource_view).collect()))
}

/// Get a resource
///
/// Active or not. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/resources/{id}",
    tag = "mcp",
    operation_id = "mcp_get_resource",
    params(("id" = String, Path, description = "The resource's id (a UUID)")),
    responses(
        (status = 200, description = "The resource", body = McpResource),
        (status = 404, description = "No such resource, or another tenant's (`Resource not found`)"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn get_resource(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<McpResource>, ApiError> {
    let id = path_id(&id)?;
    let r = state
        .store()
        .get_mcp_resource(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Resource"))?;
    Ok(Json(resource_view(&r)))
}

/// Read a resource's content
///
/// The resource with its server's name and URL, and `content`: the MCP server's
/// `resources/read` result, fetched now over Streamable HTTP (or from a `stdio` server's
/// process when `mcp.allow_stdio` is set); null for a transport Tollgate does not reach
/// (`websocket`). Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/resources/{id}/content",
    tag = "mcp",
    operation_id = "mcp_resource_content",
    params(("id" = String, Path, description = "The resource's id (a UUID)")),
    responses(
        (status = 200, description = "The resource and its content", body = McpResourceContent),
        (status = 400, description = "The server's URL is on an internal network and `mcp.allow_private_networks` is off (`INVALID_URL`)"),
        (status = 404, description = "No such resource, or another tenant's (`Resource not found`)"),
        (status = 422, description = "The id is not a UUID, or the server's `auth_config` cannot be used (naming the member)"),
        (status = 502, description = "The MCP server could not be reached, or failed (`MCP_SERVER_ERROR`, saying how)"),
    )
)]
pub async fn resource_content(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<McpResourceContent>, ApiError> {
    let id = path_id(&id)?;
    let r = state
        .store()
        .get_mcp_resource(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Resource"))?;
    let server = server_of(&state, &auth.tenant_id, &r.server).await?;
    let settings = &state.settings().mcp;
    let content = if mcp::reachable(&server, settings) {
        let uri = r.uri.clone();
        Some(
            mcp::with_session(&server, settings, async move |s| {
                s.read_resource(&uri).await
            })
            .await?,
        )
    } else {
        None
    };
    Ok(Json(McpResourceContent {
        resource: resource_row(&r),
        content,
    }))
}

/// List prompts
///
/// The tenant's prompts with that `is_active` (of one server with `server_id`), by name, their
/// `arguments` as stored. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/prompts",
    tag = "mcp",
    operation_id = "mcp_list_prompts",
    params(CatalogQuery),
    responses(
        (status = 200, description = "The prompts, by name", body = Vec<McpPrompt>),
        (status = 400, description = "`server_id` is not a UUID, or `is_active` not `true` or `false`"),
    )
)]
pub async fn list_prompts(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<CatalogQuery>,
) -> Result<Json<Vec<McpPrompt>>, ApiError> {
    let found = state
        .store()
        .list_mcp_prompts(&auth.tenant_id, &q.filter()?)
        .await?;
    Ok(Json(found.iter().map(prompt_view).collect()))
}

/// Get a prompt
///
/// Active or not. Needs the `read` scope.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/prompts/{id}",
    tag = "mcp",
    operation_id = "mcp_get_prompt",
    params(("id" = String, Path, description = "The prompt's id (a UUID)")),
    responses(
        (status = 200, description = "The prompt", body = McpPrompt),
        (status = 404, description = "No such prompt, or another tenant's (`Prompt not found`)"),
        (status = 422, description = "The id is not a UUID"),
    )
)]
pub async fn get_prompt(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<McpPrompt>, ApiError> {
    let id = path_id(&id)?;
    let p = state
        .store()
        .get_mcp_prompt(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Prompt"))?;
    Ok(Json(prompt_view(&p)))
}

/// Render a prompt
///
/// The body, any JSON object, is the arguments (llmring's `render_prompt` sends them so),
/// passed to the MCP server's `prompts/get`; `rendered` is its result, fetched now (null for a
/// transport Tollgate does not reach). Changes nothing, so it needs only the `read` scope.
#[utoipa::path(
    post,
    path = "/api/v1/mcp/prompts/{id}/render",
    tag = "mcp",
    operation_id = "mcp_render_prompt",
    params(("id" = String, Path, description = "The prompt's id (a UUID)")),
    request_body(content = Object, description = "The arguments: any JSON object"),
    responses(
        (status = 200, description = "The prompt, the arguments and the rendering", body = McpPromptRendered),
        (status = 400, description = "The body is not JSON; or the server's URL is on an internal network and `mcp.allow_private_networks` is off (`INVALID_URL`)"),
        (status = 404, description = "No such prompt, or another tenant's (`Prompt not found`)"),
        (status = 422, description = "The id is not a UUID, or the body is absent or not an object"),
        (status = 502, description = "The MCP server could not be reached, or failed (`MCP_SERVER_ERROR`, saying how)"),
    )
)]
pub async fn render_prompt(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    RawBody(bytes): RawBody,
) -> Result<Json<McpPromptRendered>, ApiError> {
    let id = path_id(&id)?;
    let arguments: Map<String, Value> = object_body(&bytes)?;
    let p = state
        .store()
        .get_mcp_prompt(&auth.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Prompt"))?;
    let server = server_of(&state, &auth.tenant_id, &p.server).await?;
    let settings = &state.settings().mcp;
    let rendered = if mcp::reachable(&server, settings) {
        let (name, args) = (p.name.clone(), arguments.clone());
        Some(
            mcp::with_session(&server, settings, async move |s| {
                s.get_prompt(&name, &args).await
            })
            .await?,
        )
    } else {
        None
    };
    Ok(Json(McpPromptRendered {
        prompt: prompt_row(&p),
        arguments,
        rendered,
    }))
}
