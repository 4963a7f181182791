//! Operate › API keys: the tenant's keys, creating one (its secret shown once, on the answer
//! to the form) and revoking one. No API route manages keys (the CLI does, on the database),
//! so this page calls the store itself: only with the `admin` scope, only on the session's
//! tenant, and a new key never gets a scope its creator lacks.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_store::{ApiKeyInfo, KeyRole, Scope};

use super::fmt::micros;
use super::page::{html, render, Chrome, ConsoleError};
use super::session::Viewer;
use super::sign_in::form;
use super::Notice;
use crate::auth::need;
use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;

struct KeyRow {
    id: String,
    prefix: String,
    name: String,
    scopes: String,
    role: &'static str,
    created: String,
    revoked: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    problem: Option<String>,
    created: Option<String>,
    keys: Vec<KeyRow>,
    /// The scopes the viewer may give a new key.
    grantable: Vec<&'static str>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct KeysQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    csrf: String,
}

fn row(k: &ApiKeyInfo) -> KeyRow {
    KeyRow {
        id: k.id.clone(),
        prefix: k.prefix.clone(),
        name: k.name.clone().unwrap_or_default(),
        scopes: k
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        role: match k.role {
            KeyRole::Operator => "operator",
            KeyRole::Tenant => "tenant",
        },
        created: micros(k.created_us),
        revoked: k.revoked_us.map(micros).unwrap_or_default(),
        active: k.revoked_us.is_none(),
    }
}

/// The scopes `viewer` may hand on: its own (every one for an operator).
fn grantable(viewer: &Viewer) -> Vec<Scope> {
    Scope::ALL.into_iter().filter(|s| viewer.can(*s)).collect()
}

async fn keys_page(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<&'static str>,
    problem: Option<String>,
    created: Option<String>,
) -> Result<KeysPage, ConsoleError> {
    viewer.may::<need::Admin>()?;
    let mut all = state
        .store()
        .list_keys(Some(&viewer.auth.tenant_id))
        .await?;
    // An operator key is the deployment's, not the tenant's to manage.
    if !viewer.is_operator() {
        all.retain(|k| k.role != KeyRole::Operator);
    }
    all.sort_by(|a, b| {
        a.revoked_us
            .is_some()
            .cmp(&b.revoked_us.is_some())
            .then(b.created_us.cmp(&a.created_us))
    });
    Ok(KeysPage {
        chrome: Chrome::new(viewer, "API keys", "/ui/operate"),
        notice,
        problem,
        created,
        keys: all.iter().map(row).collect(),
        grantable: grantable(viewer).into_iter().map(Scope::as_str).collect(),
    })
}

/// `GET /ui/operate/keys`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<KeysQuery>,
) -> Result<Response, ConsoleError> {
    let notice = Notice::read(q.notice.as_deref());
    render(&keys_page(&state, &viewer, notice, None, None).await?)
}

/// `POST /ui/operate/keys`: creates a tenant key with the chosen scopes; its secret is on the
/// answer, once.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: CreateForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    viewer.may::<need::Admin>()?;
    let pairs: Vec<(String, String)> = form(&body)?;
    let mut scopes = Vec::new();
    for (_, name) in pairs.iter().filter(|(k, _)| k == "scope") {
        let scope = Scope::parse(name)
            .ok_or_else(|| ApiError::invalid_field("scope", format!("'{name}' is not a scope")))?;
        if !viewer.can(scope) {
            return Err(ApiError::forbidden(format!(
                "a key cannot give a new key the '{}' scope it lacks itself",
                scope.as_str()
            ))
            .into());
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let name = tollgate_core::validate::optional_text("name", Some(&f.name), 128);
    let problem = if scopes.is_empty() {
        Some("Choose at least one scope.".to_string())
    } else {
        name.as_ref().err().map(|e| e.message.clone())
    };
    if let Some(problem) = problem {
        let page = keys_page(&state, &viewer, None, Some(problem), None).await?;
        let body = page.render().map_err(ApiError::internal)?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, body));
    }
    let name = name.map_err(|e| ApiError::invalid_field("name", e.message))?;
    let key = keys::generate(&viewer.auth.tenant_id, scopes, name);
    state.store().create_key(key.record).await?;
    render(
        &keys_page(
            &state,
            &viewer,
            Some("Key created."),
            None,
            Some(key.secret),
        )
        .await?,
    )
}

/// `POST /ui/operate/keys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: RevokeForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    viewer.may::<need::Admin>()?;
    // An operator key is the deployment's: only an operator revokes one, and to anyone else it
    // is as missing as another tenant's key.
    let listed = state
        .store()
        .list_keys(Some(&viewer.auth.tenant_id))
        .await?;
    let target = listed
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found("key"))?;
    if target.role == KeyRole::Operator && !viewer.is_operator() {
        return Err(ApiError::not_found("key").into());
    }
    state
        .store()
        .revoke_key(&id, Some(&viewer.auth.tenant_id))
        .await?;
    state.auth_cache().forget(&id);
    Ok(Redirect::to("/ui/operate/keys?notice=key-revoked").into_response())
}
