//! Where a tenant's alerts are emailed: the recipient list and the email delivery log. Every
//! route needs an `admin` key and acts on the key's tenant.
//!
//! Setting the list records the key that set it (shown beside each address, and logged), so a
//! person can tell who sends the tenant's alerts where.

use axum::extract::State;
use axum::Json;
use tollgate_api::alerts::{
    AlertRecipient as RecipientView, AlertRecipients, EmailDelivery as EmailDeliveryView,
    EmailDeliveryLog, SetAlertRecipientsBody,
};
use tollgate_api::billing::Pagination;
use tollgate_api::webhooks::DeliveriesQuery;
use tollgate_api::ErrorCode;
use tollgate_core::time::{format_us, now_us};
use tollgate_store::{AlertRecipient, EmailDelivery};

use super::conversations::bounded;
use super::webhooks::{logged_event_type, status_view};
use crate::auth::{need, Auth, Can, Principal};
use crate::error::ApiError;
use crate::extract::{Body, Params};
use crate::notify::smtp::check_address;
use crate::state::AppState;

/// Most addresses on a tenant's list.
const MAX_RECIPIENTS: usize = 20;

fn recipients_view(state: &AppState, list: &[AlertRecipient]) -> AlertRecipients {
    AlertRecipients {
        email_enabled: state.settings().notifications.smtp.is_some(),
        recipients: list
            .iter()
            .map(|r| RecipientView {
                email: r.email.clone(),
                set_by: r.set_by.clone(),
                set_at: format_us(r.created_us),
            })
            .collect(),
    }
}

/// Who set the list: the key's id (an end user cannot reach these routes).
fn setter(auth: &Auth) -> String {
    match &auth.principal {
        Principal::Key(k) => k.id.clone(),
        Principal::User(sub) => format!("user:{sub}"),
    }
}

/// The addresses, trimmed, checked and without repeats (in the order given).
fn addresses(given: &[String]) -> Result<Vec<String>, ApiError> {
    if given.len() > MAX_RECIPIENTS {
        return Err(ApiError::invalid_field(
            "recipients",
            format!("recipients may list at most {MAX_RECIPIENTS} addresses"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for a in given {
        let a = a.trim();
        check_address(a).map_err(|why| ApiError::invalid_field("recipients", why))?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// The tenant's alert email recipients
#[utoipa::path(
    get,
    path = "/api/v1/alerts/email",
    tag = "webhooks",
    operation_id = "get_alert_recipients",
    responses(
        (status = 200, description = "The addresses alerts are emailed to, and whether this server sends email", body = AlertRecipients),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
) -> Result<Json<AlertRecipients>, ApiError> {
    let list = state.store().alert_recipients(&auth.tenant_id).await?;
    Ok(Json(recipients_view(&state, &list)))
}

/// Set the tenant's alert email recipients
///
/// Replaces the list. Each alert a person acts on (`quota.threshold`, `limit.threshold`,
/// `balance.low`, `spend.unusual`) raised from now on is emailed to each address once.
#[utoipa::path(
    put,
    path = "/api/v1/alerts/email",
    tag = "webhooks",
    operation_id = "set_alert_recipients",
    request_body = SetAlertRecipientsBody,
    responses(
        (status = 200, description = "The list as stored", body = AlertRecipients),
        (status = 422, description = "An address that is not one, or more than 20 (`INVALID_FIELD`)"),
        (status = 403, description = "The key lacks the `admin` scope"),
        (status = 409, description = "This server has no `notifications.smtp` configured, so it cannot send email (`CONFLICT`)"),
    )
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Body(b): Body<SetAlertRecipientsBody>,
) -> Result<Json<AlertRecipients>, ApiError> {
    let emails = addresses(&b.recipients)?;
    if !emails.is_empty() && state.settings().notifications.smtp.is_none() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this server sends no email: its operator has not configured notifications.smtp",
        ));
    }
    let by = setter(&auth);
    let list = state
        .store()
        .set_alert_recipients(&auth.tenant_id, &emails, &by, now_us())
        .await?;
    tracing::info!(tenant = %auth.tenant_id, set_by = %by, recipients = list.len(), "alert email recipients set");
    Ok(Json(recipients_view(&state, &list)))
}

fn delivery_view(d: &EmailDelivery) -> Result<EmailDeliveryView, ApiError> {
    Ok(EmailDeliveryView {
        attempts: d.attempts,
        created_at: format_us(d.created_us),
        event_id: d.event_id.clone(),
        event_type: logged_event_type("email delivery", &d.id, &d.event_type)?,
        id: d.id.clone(),
        last_attempt_at: d.last_attempt_us.map(format_us),
        last_error: d.last_error.clone(),
        last_status_code: d.last_status_code,
        next_attempt_at: d.next_attempt_us.map(format_us),
        recipient: d.recipient.clone(),
        status: status_view(d.status),
    })
}

/// The tenant's alert email log
///
/// Newest first: each email's alert, address, status (`pending`, `delivered`, `failed`),
/// attempts, next and last attempt, the SMTP server's last reply code and the error.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/email/deliveries",
    tag = "webhooks",
    operation_id = "alert_email_deliveries",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "A page of the email log, newest first", body = EmailDeliveryLog),
        (status = 400, description = "A bad `limit` or `offset`"),
        (status = 403, description = "The key lacks the `admin` scope"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Params(p): Params<DeliveriesQuery>,
) -> Result<Json<EmailDeliveryLog>, ApiError> {
    let limit = bounded("limit", p.limit, 100, 1, 1000)?;
    let offset = bounded("offset", p.offset, 0, 0, i64::MAX)?;
    let (list, total) = state
        .store()
        .email_deliveries(&auth.tenant_id, limit, offset)
        .await?;
    Ok(Json(EmailDeliveryLog {
        deliveries: list.iter().map(delivery_view).collect::<Result<_, _>>()?,
        pagination: Pagination::new(limit, offset, list.len(), total),
    }))
}
