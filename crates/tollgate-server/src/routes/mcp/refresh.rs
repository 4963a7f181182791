//! A server's refresh (M6): the tools, resources and prompts it offers, from the body (as
//! llmring's CLI `prompts register`, `resources register` and `apply` send them) or, with
//! `{}`, discovered from the MCP server itself, replace what was stored, in one transaction.

use std::collections::HashSet;

use axum::extract::State;
use axum::Json;
use tollgate_api::mcp::{McpCapabilities, McpRefreshBody};
use tollgate_core::time::now_us;
use tollgate_store::{CatalogPrompt, CatalogResource, CatalogTool, McpCatalog, McpRefreshed};

use super::{
    check_length, object_body, path_id, prompt_view, resource_view, server_view, tool_view,
};
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{PathParam, RawBody};
use crate::mcp;
use crate::state::AppState;

/// Where a list came from, which decides who is at fault for a bad item.
#[derive(Clone, Copy)]
enum Source {
    /// The request body: 422 naming the field.
    Body,
    /// The MCP server's answer: 502 naming it.
    Server,
}

impl Source {
    fn fault(self, error: ApiError) -> ApiError {
        match self {
            Source::Body => error,
            Source::Server => {
                mcp::upstream(format!("its listing is not usable: {}", error.message()))
            }
        }
    }
}

/// Checks a list's names (or URIs) and their uniqueness.
fn check_names<'a>(
    source: Source,
    kind: &str,
    key: &str,
    max: usize,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        let field = format!("{kind}[{i}].{key}");
        check_length(&field, name, max).map_err(|e| source.fault(e))?;
        if !seen.insert(name) {
            let e = ApiError::invalid_field(
                &field,
                format!("{field}: '{name}' is listed twice; each {key} once"),
            );
            return Err(source.fault(e));
        }
    }
    Ok(())
}

/// The catalog a refresh body (or discovery) describes, checked.
fn catalog(body: McpRefreshBody, source: Source) -> Result<McpCatalog, ApiError> {
    let tools = match body.tools {
        None => None,
        Some(list) => {
            check_names(
                source,
                "tools",
                "name",
                255,
                list.iter().map(|t| t.name.as_str()),
            )?;
            let mut tools = Vec::with_capacity(list.len());
            for (i, t) in list.into_iter().enumerate() {
                let input_schema = match t.input_schema {
                    None | Some(serde_json::Value::Null) => serde_json::json!({}),
                    Some(schema @ serde_json::Value::Object(_)) => schema,
                    Some(_) => {
                        let field = format!("tools[{i}].inputSchema");
                        let e =
                            ApiError::invalid_field(&field, format!("{field} must be an object"));
                        return Err(source.fault(e));
                    }
                };
                tools.push(CatalogTool {
                    name: t.name,
                    description: t.description,
                    input_schema,
                });
            }
            Some(tools)
        }
    };
    let resources = match body.resources {
        None => None,
        Some(list) => {
            check_names(
                source,
                "resources",
                "uri",
                1000,
                list.iter().map(|r| r.uri.as_str()),
            )?;
            Some(
                list.into_iter()
                    .map(|r| CatalogResource {
                        uri: r.uri,
                        name: r.name,
                        description: r.description,
                        mime_type: r.mime_type,
                    })
                    .collect(),
            )
        }
    };
    let prompts = match body.prompts {
        None => None,
        Some(list) => {
            check_names(
                source,
                "prompts",
                "name",
                255,
                list.iter().map(|p| p.name.as_str()),
            )?;
            Some(
                list.into_iter()
                    .map(|p| CatalogPrompt {
                        name: p.name,
                        description: p.description,
                        arguments: p.arguments,
                    })
                    .collect(),
            )
        }
    };
    Ok(McpCatalog {
        tools,
        resources,
        prompts,
    })
}

fn capabilities(r: &McpRefreshed) -> McpCapabilities {
    McpCapabilities {
        tools: r.tools.iter().map(tool_view).collect(),
        resources: r.resources.iter().map(resource_view).collect(),
        prompts: r.prompts.iter().map(prompt_view).collect(),
        server: server_view(&r.server),
    }
}

/// Refresh an MCP server
///
/// The body is a JSON object. With any of `tools`, `resources`, `prompts` (MCP's objects:
/// `inputSchema`, `mimeType`; `input_schema`, `mime_type` too), those lists become what the
/// server offers; a kind left out is left as it is. With `{}`, Tollgate discovers all three
/// from the MCP server over Streamable HTTP (`initialize`, `tools/list`, `resources/list`,
/// `prompts/list`, every page; a capability it does not declare is an empty list), or by
/// running a `stdio` server's command when `mcp.allow_stdio` is set.
///
/// In one transaction, rows are matched by name (resources by URI) and updated in place,
/// keeping their ids and a tool's price; rows no longer listed are marked inactive, not
/// deleted; `capabilities` becomes `{"tools": n, "resources": n, "prompts": n}` of the active
/// lists, which the answer holds. Needs the `ingest` or `admin` scope.
#[utoipa::path(
    post,
    path = "/api/v1/mcp/servers/{id}/refresh",
    tag = "mcp",
    operation_id = "mcp_refresh_server",
    params(("id" = String, Path, description = "The server's id (a UUID)")),
    request_body = McpRefreshBody,
    responses(
        (status = 200, description = "What the server now offers", body = McpCapabilities),
        (status = 400, description = "Discovery: the server's URL is on an internal network and `mcp.allow_private_networks` is off (`INVALID_URL`)"),
        (status = 403, description = "The key has neither the `ingest` nor the `admin` scope"),
        (status = 404, description = "No such server, or another tenant's, which is left as it is"),
        (status = 422, description = "The id is not a UUID; the body is absent, not an object, or has a bad item (naming it: an empty or repeated name or URI, an `inputSchema` that is not an object); or discovery over a transport Tollgate does not use (`websocket`, or `stdio` without `mcp.allow_stdio`)"),
        (status = 502, description = "Discovery: the MCP server could not be reached, or failed (`MCP_SERVER_ERROR`, saying how); nothing was changed"),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    auth: Can<need::IngestOrAdmin>,
    PathParam(id): PathParam,
    RawBody(bytes): RawBody,
) -> Result<Json<McpCapabilities>, ApiError> {
    let id = path_id(&id)?;
    let body: McpRefreshBody = object_body(&bytes)?;
    let not_found = || ApiError::not_found("Server");
    let catalog = if body.is_empty() {
        let server = state
            .store()
            .get_mcp_server(&auth.tenant_id, id)
            .await?
            .ok_or_else(not_found)?;
        let found =
            mcp::with_session(&server, &state.settings().mcp, async |s| s.discover().await).await?;
        catalog(found, Source::Server)?
    } else {
        catalog(body, Source::Body)?
    };
    let refreshed = state
        .store()
        .refresh_mcp_server(&auth.tenant_id, id, &catalog, now_us())
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(capabilities(&refreshed)))
}
