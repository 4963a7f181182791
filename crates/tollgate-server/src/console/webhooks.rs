//! Operate › Webhooks: the tenant's endpoints, adding one (its generated secret shown once,
//! on the answer to the form, never in a URL), removing one, and one endpoint's deliveries.
//! Everything goes through the API's `/api/v1/webhooks` handlers, which need `admin`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_api::webhooks::{CreateWebhookBody, DeliveriesQuery, Webhook, WebhookEventType};

use super::fmt::instant;
use super::page::{html, render, Chrome, ConsoleError};
use super::session::Viewer;
use super::sign_in::form;
use super::{json_of, Notice};
use crate::auth::need;
use crate::extract::{Body, Params, PathParam};
use crate::routes::webhooks as api;
use crate::state::AppState;

/// Deliveries shown per page.
const DELIVERIES: i64 = 50;

struct EndpointRow {
    id: String,
    url: String,
    events: String,
    description: String,
    created: String,
}

struct DeliveryRow {
    created: String,
    event: &'static str,
    status: &'static str,
    attempts: i64,
    last: String,
    next: String,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    problem: Option<String>,
    created_secret: Option<(String, String)>,
    endpoints: Vec<EndpointRow>,
    event_names: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    chrome: Chrome,
    endpoint: EndpointRow,
    deliveries: Vec<DeliveryRow>,
    previous: Option<i64>,
    next: Option<i64>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    notice: Option<String>,
}

/// The paging of the deliveries page.
#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesPageQuery {
    #[serde(default)]
    offset: Option<i64>,
}

/// The form that adds an endpoint (`event` repeated, one per chosen type).
#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: String,
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    secret: String,
}

/// The form that removes one.
#[derive(Debug, Deserialize)]
struct DeleteForm {
    csrf: String,
}

fn row(w: &Webhook) -> EndpointRow {
    EndpointRow {
        id: w.id.clone(),
        url: w.url.clone(),
        events: w
            .event_types
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        description: w.description.clone().unwrap_or_default(),
        created: instant(&w.created_at),
    }
}

async fn list_page(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<&'static str>,
    problem: Option<String>,
    created_secret: Option<(String, String)>,
) -> Result<WebhooksPage, ConsoleError> {
    let axum::Json(list) = api::list(State(state.clone()), viewer.may::<need::Admin>()?).await?;
    Ok(WebhooksPage {
        chrome: Chrome::new(viewer, "Webhooks", "/ui/operate"),
        notice,
        problem,
        created_secret,
        endpoints: list.webhooks.iter().map(row).collect(),
        event_names: WebhookEventType::ALL.iter().map(|e| e.as_str()).collect(),
    })
}

/// `GET /ui/operate/webhooks`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let notice = Notice::read(q.notice.as_deref());
    render(&list_page(&state, &viewer, notice, None, None).await?)
}

/// The chosen event types of the form: every `event=` member, in order.
fn events(body: &[u8]) -> Vec<String> {
    form::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v)
        .collect()
}

/// `POST /ui/operate/webhooks`: adds an endpoint; a generated secret is shown on the answer.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: CreateForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let chosen = events(&body);
    let request = CreateWebhookBody {
        url: Some(f.url.trim().to_string()),
        event_types: (!chosen.is_empty()).then_some(chosen),
        secret: Some(f.secret).filter(|s| !s.trim().is_empty()),
        description: Some(f.description).filter(|d| !d.trim().is_empty()),
    };
    match api::create(
        State(state.clone()),
        viewer.may::<need::Admin>()?,
        Body(request),
    )
    .await
    {
        Ok(response) => {
            let created: Webhook = json_of(response).await?;
            let secret = created.secret.clone().map(|s| (created.url.clone(), s));
            let page = list_page(&state, &viewer, Some("Endpoint added."), None, secret).await?;
            render(&page)
        }
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
            let page =
                list_page(&state, &viewer, None, Some(e.message().to_string()), None).await?;
            let body = page
                .render()
                .map_err(|e| ConsoleError::Api(crate::error::ApiError::internal(e)))?;
            Ok(html(e.status(), body))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/operate/webhooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: DeleteForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    api::delete(State(state), viewer.may::<need::Admin>()?, PathParam(id)).await?;
    Ok(Redirect::to("/ui/operate/webhooks?notice=webhook-removed").into_response())
}

/// `GET /ui/operate/webhooks/{id}`: the endpoint's deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesPageQuery>,
) -> Result<Response, ConsoleError> {
    let axum::Json(endpoint) = api::get(
        State(state.clone()),
        viewer.may::<need::Admin>()?,
        PathParam(id.clone()),
    )
    .await?;
    let offset = q.offset.unwrap_or(0).max(0);
    let axum::Json(log) = api::deliveries(
        State(state.clone()),
        viewer.may::<need::Admin>()?,
        PathParam(id),
        Params(DeliveriesQuery {
            limit: Some(DELIVERIES),
            offset: Some(offset),
        }),
    )
    .await?;
    let deliveries = log
        .deliveries
        .iter()
        .map(|d| DeliveryRow {
            created: instant(&d.created_at),
            event: d.event_type.as_str(),
            status: d.status.as_str(),
            attempts: d.attempts,
            last: match (&d.last_status_code, &d.last_error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(error)) => error.clone(),
                (None, None) => String::new(),
            },
            next: d
                .next_attempt_at
                .as_deref()
                .map(instant)
                .unwrap_or_default(),
        })
        .collect();
    render(&DeliveriesPage {
        chrome: Chrome::new(&viewer, "Webhook deliveries", "/ui/operate"),
        endpoint: row(&endpoint),
        deliveries,
        previous: (offset > 0).then(|| (offset - DELIVERIES).max(0)),
        next: log.pagination.has_more.then_some(offset + DELIVERIES),
    })
}
