//! Tenants, for operators: every tenant with its plan and log size, adding one, and choosing
//! the tenant the console acts on (the console's form of the API's `X-Tenant-Id`). No API
//! route lists or adds tenants (the CLI does, on the database), so this page calls the store,
//! for operator keys only.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::fmt::{count, micros};
use super::page::{html, render, Chrome, ConsoleError};
use super::session::Viewer;
use super::sign_in::form;
use super::Notice;
use crate::auth::need;
use crate::error::ApiError;
use crate::state::AppState;

struct TenantRow {
    id: String,
    name: String,
    plan: String,
    events: String,
    created: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    problem: Option<String>,
    tenants: Vec<TenantRow>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct TenantsQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ActForm {
    csrf: String,
}

async fn tenants_page(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<TenantsPage, ConsoleError> {
    viewer.may::<need::Operator>()?;
    let all = state.store().list_tenants().await?;
    Ok(TenantsPage {
        chrome: Chrome::new(viewer, "Tenants", "/ui/tenants"),
        notice,
        problem,
        tenants: all
            .iter()
            .map(|t| TenantRow {
                id: t.id.clone(),
                name: t.name.clone(),
                plan: t.plan.clone().unwrap_or_else(|| "(default)".into()),
                events: count(t.log_size),
                created: micros(t.created_us),
                current: t.id == viewer.auth.tenant_id,
            })
            .collect(),
    })
}

/// `GET /ui/tenants`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<TenantsQuery>,
) -> Result<Response, ConsoleError> {
    let notice = Notice::read(q.notice.as_deref());
    render(&tenants_page(&state, &viewer, notice, None).await?)
}

/// `POST /ui/tenants`: adds a tenant.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: CreateForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    viewer.may::<need::Operator>()?;
    // The CLI's rule for a tenant's name, so a name made here reads the same everywhere.
    let checked = tollgate_core::validate::required_text("name", &f.name, 128);
    let problem = match &checked {
        Err(e) => Some(e.message.clone()),
        Ok(name) if state.store().find_tenant(name).await?.is_some() => {
            Some(format!("A tenant named '{name}' exists already."))
        }
        Ok(_) => None,
    };
    if let Some(problem) = problem {
        let page = tenants_page(&state, &viewer, None, Some(problem)).await?;
        let body = page.render().map_err(ApiError::internal)?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, body));
    }
    let name = checked.map_err(|e| ApiError::invalid_field("name", e.message))?;
    state.store().create_tenant(&name).await?;
    Ok(Redirect::to("/ui/tenants?notice=tenant-added").into_response())
}

/// `POST /ui/tenants/{id}/act`: the console acts on that tenant from now on.
pub async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: ActForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    viewer.may::<need::Operator>()?;
    let tenant = state
        .store()
        .find_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    state
        .store()
        .switch_console_tenant(&viewer.session.id_hash, &tenant.id)
        .await?;
    Ok(Redirect::to("/ui/").into_response())
}
