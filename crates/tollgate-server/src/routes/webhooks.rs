//! Webhook endpoints of a tenant and their delivery logs. Every route needs an `admin` key;
//! another tenant's endpoint is a 404, like one that does not exist.
//!
//! A secret is shown once, in the answer that creates it when Tollgate generated it; no
//! listing shows secrets.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::billing::Pagination;
use tollgate_api::webhooks::{
    CreateWebhookBody, DeliveriesQuery, Delivery as DeliveryView, DeliveryLog,
    DeliveryStatus as StatusView, Webhook as WebhookView, WebhookEventType, WebhookList,
};
use tollgate_api::ErrorCode;
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::optional_text;
use tollgate_store::{Delivery, DeliveryStatus, EventType, NewWebhook, Webhook};

use super::conversations::bounded;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::state::AppState;
use crate::webhooks::{check_secret, new_secret, refused_host};

/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// Accepts absolute `http` and `https` URLs with a host and no credentials; unless
/// `allow_private` (`webhooks.allow_private_networks`), not one whose host is an internal IP
/// or `localhost` (names are checked again, as resolved, at every delivery).
fn check_url(url: Option<&str>, allow_private: bool) -> Result<String, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::InvalidUrl, m).with_field("url");
    let text = url.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(bad(
            "url is required: the http or https address deliveries are POSTed to".into(),
        ));
    }
    if text.len() > MAX_URL {
        return Err(bad(format!("url must be at most {MAX_URL} characters")));
    }
    let parsed = reqwest::Url::parse(text).map_err(|e| {
        bad(format!(
            "url '{text}' is not an absolute URL ({e}); send one like https://example.com/hooks"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "url must use http or https, not '{}'",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("url must name a host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "url must not carry credentials; deliveries are signed with the secret instead".into(),
        ));
    }
    if !allow_private {
        if let Some(why) = refused_host(&parsed) {
            return Err(bad(why));
        }
    }
    Ok(parsed.to_string())
}

/// The event types asked for; absent means all of them.
fn event_types(names: Option<Vec<String>>) -> Result<Vec<EventType>, ApiError> {
    let known = || {
        EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(names) = names else {
        return Ok(EventType::ALL.to_vec());
    };
    if names.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidEventType,
            format!(
                "event_types must name at least one of {}, or be left out for all",
                known()
            ),
        )
        .with_field("event_types"));
    }
    let mut out = Vec::new();
    for n in &names {
        let t = EventType::parse(n).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidEventType,
                format!("unknown event type '{n}'; known: {}", known()),
            )
            .with_field("event_types")
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.sort();
    Ok(out)
}

fn event_type(t: EventType) -> WebhookEventType {
    match t {
        EventType::QuotaThreshold => WebhookEventType::QuotaThreshold,
        EventType::LimitThreshold => WebhookEventType::LimitThreshold,
        EventType::BalanceLow => WebhookEventType::BalanceLow,
        EventType::ReceiptGenerated => WebhookEventType::ReceiptGenerated,
        EventType::UnusualSpend => WebhookEventType::UnusualSpend,
    }
}

/// An endpoint as listed: never with its secret.
fn webhook_view(w: &Webhook) -> WebhookView {
    WebhookView {
        created_at: format_us(w.created_us),
        description: w.description.clone(),
        event_types: w.event_types.iter().copied().map(event_type).collect(),
        id: w.id.clone(),
        secret: None,
        url: w.url.clone(),
    }
}

/// A logged delivery's event type as the wire spells it; `what` names the log in the error.
/// The store records only the names `EventType` writes; another one is a fault of ours.
pub(super) fn logged_event_type(
    what: &str,
    id: &str,
    name: &str,
) -> Result<WebhookEventType, ApiError> {
    let kind = EventType::parse(name).ok_or_else(|| {
        ApiError::internal(format!("{what} {id} has the unknown event type '{name}'"))
    })?;
    Ok(event_type(kind))
}

/// A delivery status as the wire spells it.
pub(super) fn status_view(s: DeliveryStatus) -> StatusView {
    match s {
        DeliveryStatus::Pending => StatusView::Pending,
        DeliveryStatus::Delivered => StatusView::Delivered,
        DeliveryStatus::Failed => StatusView::Failed,
    }
}

fn delivery_view(d: &Delivery) -> Result<DeliveryView, ApiError> {
    Ok(DeliveryView {
        attempts: d.attempts,
        created_at: format_us(d.created_us),
        event_id: d.event_id.clone(),
        event_type: logged_event_type("delivery", &d.id, &d.event_type)?,
        id: d.id.clone(),
        last_attempt_at: d.last_attempt_us.map(format_us),
        last_error: d.last_error.clone(),
        last_status_code: d.last_status_code,
        next_attempt_at: d.next_attempt_us.map(format_us),
        status: status_view(d.status),
        webhook_id: d.endpoint_id.clone(),
    })
}

/// Add a webhook endpoint
///
/// 201 with the endpoint, and its secret when Tollgate generated it (shown only here).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = CreateWebhookBody,
    responses(
        (status = 201, description = "The endpoint, with `secret` when Tollgate generated it", body = WebhookView),
        (status = 400, description = "A bad `url` (`INVALID_URL`; also a loopback, private or link-local IP, or `localhost`, unless `webhooks.allow_private_networks` is set), event type (`INVALID_EVENT_TYPE`) or secret (`INVALID_SECRET`)"),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Body(b): Body<CreateWebhookBody>,
) -> Result<Response, ApiError> {
    let url = check_url(
        b.url.as_deref(),
        state.settings().webhooks.allow_private_networks,
    )?;
    let event_types = event_types(b.event_types)?;
    let description = optional_text("description", b.description.as_deref(), 500)?;
    let (secret, generated) = match b.secret.as_deref().map(str::trim) {
        None | Some("") => (new_secret(), true),
        Some(s) => {
            check_secret(s)
                .map_err(|why| ApiError::new(ErrorCode::InvalidSecret, why).with_field("secret"))?;
            (s.to_string(), false)
        }
    };
    let webhook = state
        .store()
        .create_webhook(&NewWebhook {
            tenant_id: auth.tenant_id.clone(),
            id: new_id(IdKind::Webhook),
            url,
            secret,
            event_types,
            description,
            created_us: now_us(),
        })
        .await?;
    let mut out = webhook_view(&webhook);
    if generated {
        out.secret = Some(webhook.secret.clone());
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// List webhook endpoints
///
/// The tenant's endpoints, oldest first; secrets are never listed.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    responses(
        (status = 200, description = "The endpoints, oldest first", body = WebhookList),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
) -> Result<Json<WebhookList>, ApiError> {
    let all = state.store().list_webhooks(&auth.tenant_id).await?;
    Ok(Json(WebhookList {
        webhooks: all.iter().map(webhook_view).collect(),
    }))
}

/// Get a webhook endpoint
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookView),
        (status = 404, description = "No such endpoint in this tenant"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(id): PathParam,
) -> Result<Json<WebhookView>, ApiError> {
    let w = state
        .store()
        .get_webhook(&auth.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(webhook_view(&w)))
}

/// Remove a webhook endpoint
///
/// Its pending deliveries are dropped.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint in this tenant"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    if state.store().delete_webhook(&auth.tenant_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// A webhook endpoint's delivery log
///
/// Newest first: each delivery's event, status (`pending`, `delivered`, `failed`), attempts,
/// next and last attempt, last status code and error.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "webhook_deliveries",
    params(("id" = String, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of the delivery log, newest first", body = DeliveryLog),
        (status = 400, description = "A bad `limit` or `offset`"),
        (status = 404, description = "No such endpoint in this tenant"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    PathParam(id): PathParam,
    Params(p): Params<DeliveriesQuery>,
) -> Result<Json<DeliveryLog>, ApiError> {
    let limit = bounded("limit", p.limit, 100, 1, 1000)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let (list, total) = state
        .store()
        .webhook_deliveries(&auth.tenant_id, &id, limit, offset)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(DeliveryLog {
        deliveries: list.iter().map(delivery_view).collect::<Result<_, _>>()?,
        pagination: Pagination::new(limit, offset, list.len(), total),
    }))
}
