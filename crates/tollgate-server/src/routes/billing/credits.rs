//! The credits a `billing` key posts to an account of its own tenant (an operator key, to any
//! tenant's): top-ups, refunds and adjustments, with the reading of their currency and
//! `Idempotency-Key`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use tollgate_api::billing::{CreditBody, Credited, Loose};
use tollgate_api::ErrorCode;
use tollgate_core::validate::optional_text;
use tollgate_core::{Currency, Nanos};
use tollgate_store::{LedgerKind, NewCredit};
use uuid::Uuid;

use super::accounts::{balance_view, entry_view};
use super::{amount, body_user};
use crate::auth::{need, Auth, Can};
use crate::error::ApiError;
use crate::extract::Body;
use crate::state::AppState;

/// The header that marks an answer repeated from the first request with its Idempotency-Key.
pub(super) const REPLAYED: &str = "idempotent-replayed";

/// A currency code, or `default` when absent.
fn currency(value: Option<&Loose>, default: &Currency) -> Result<Currency, ApiError> {
    let bad =
        |message: String| ApiError::new(ErrorCode::InvalidCurrency, message).with_field("currency");
    match value {
        None => Ok(default.clone()),
        Some(Loose::Text(s)) => Currency::try_from(s.clone()).map_err(bad),
        Some(Loose::Number(_) | Loose::Other(_)) => Err(bad(
            "currency must be a three-letter ISO 4217 code as a string, like \"USD\"".into(),
        )),
    }
}

/// The `Idempotency-Key` header: 1 to 255 printable ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = v.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
        .with_field("Idempotency-Key"));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Top up an account
///
/// Money paid in, credited to the account's balance. Needs the `billing` scope.
#[utoipa::path(
    post,
    path = "/api/v1/billing/topup",
    tag = "billing",
    operation_id = "billing_topup",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Credited),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 403, description = "The key lacks the `billing` scope"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn topup(
    State(state): State<AppState>,
    auth: Can<need::Billing>,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Topup).await
}

/// Refund an account
///
/// Money given back, optionally for one usage event (`log_id`). Needs the `billing` scope.
#[utoipa::path(
    post,
    path = "/api/v1/billing/refund",
    tag = "billing",
    operation_id = "billing_refund",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Credited),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 403, description = "The key lacks the `billing` scope"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
        (status = 404, description = "No such usage event (`log_id`)"),
    )
)]
pub async fn refund(
    State(state): State<AppState>,
    auth: Can<need::Billing>,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Refund).await
}

/// Adjust an account
///
/// A correction, either way (`direction`: `credit` or `debit`). Needs the `billing` scope.
#[utoipa::path(
    post,
    path = "/api/v1/billing/adjustment",
    tag = "billing",
    operation_id = "billing_adjustment",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a repeat with the same body returns the first result (header `idempotent-replayed: true`); with another body, 409")),
    request_body = CreditBody,
    responses(
        (status = 200, description = "`transaction` (the ledger entry, with `balance_after`) and the account's `balance`", body = Credited),
        (status = 400, description = "A bad amount (`INVALID_AMOUNT`), currency (`INVALID_CURRENCY`) or `Idempotency-Key`"),
        (status = 403, description = "The key lacks the `billing` scope"),
        (status = 409, description = "The `Idempotency-Key` was used with another body"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn adjustment(
    State(state): State<AppState>,
    auth: Can<need::Billing>,
    headers: HeaderMap,
    Body(body): Body<CreditBody>,
) -> Result<Response, ApiError> {
    credit(&state, &auth, &headers, body, LedgerKind::Adjustment).await
}

/// Whether an adjustment takes money away; the field is refused on other kinds.
fn debits(kind: LedgerKind, direction: Option<&str>) -> Result<bool, ApiError> {
    match (kind, direction) {
        (_, None) => Ok(false),
        (LedgerKind::Adjustment, Some("credit")) => Ok(false),
        (LedgerKind::Adjustment, Some("debit")) => Ok(true),
        (LedgerKind::Adjustment, Some(other)) => Err(ApiError::invalid_field(
            "direction",
            format!("direction must be \"credit\" or \"debit\", not '{other}'"),
        )),
        (_, Some(_)) => Err(ApiError::invalid_field(
            "direction",
            "direction applies to adjustments only",
        )),
    }
}

async fn credit(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    b: CreditBody,
    kind: LedgerKind,
) -> Result<Response, ApiError> {
    let (credited, replayed) = post(state, auth, idempotency_key(headers)?, b, kind).await?;
    let mut response = Json(credited).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Posts a credit: the ledger entry and the account after it, and whether it was posted
/// before under the same idempotency key.
pub(super) async fn post(
    state: &AppState,
    auth: &Auth,
    idempotency_key: Option<String>,
    b: CreditBody,
    kind: LedgerKind,
) -> Result<(Credited, bool), ApiError> {
    let user_id = body_user(b.user_id.as_deref())?;
    let amount = amount("amount", b.amount.as_ref(), false)?;
    let defaults = &state.billing().defaults;
    let currency = currency(b.currency.as_ref(), &defaults.limit_currency)?;
    let debit = debits(kind, b.direction.as_deref())?;
    let log_id = match (kind, b.log_id.as_deref()) {
        (_, None) => None,
        (LedgerKind::Refund, Some(id)) => {
            let uuid = Uuid::parse_str(id.trim()).map_err(|_| {
                ApiError::invalid_field("log_id", "log_id must be a usage event's id (a UUID)")
            })?;
            state
                .store()
                .find_log_entry(&auth.tenant_id, uuid)
                .await?
                .ok_or_else(|| ApiError::not_found("usage event"))?;
            Some(uuid.to_string())
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_field(
                "log_id",
                "log_id applies to refunds only",
            ))
        }
    };
    let description = optional_text("description", b.description.as_deref(), 1000)?;
    let payment_provider = optional_text("payment_provider", b.payment_provider.as_deref(), 100)?;
    let payment_id = optional_text("payment_id", b.payment_id.as_deref(), 255)?;
    let metadata = b.metadata.unwrap_or_default();
    // The request as understood, so "10" and "10.0" under one key are the same request.
    let understood = json!({
        "user_id": user_id, "amount": amount.to_string(), "currency": currency,
        "debit": debit, "log_id": log_id, "description": description,
        "payment_provider": payment_provider, "payment_id": payment_id, "metadata": metadata,
    });
    let canonical = tollgate_receipts::canonicalize(&understood)
        .map_err(|e| ApiError::invalid_field("metadata", format!("metadata: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(format!("billing/{}\n", kind.as_str()).as_bytes());
    hasher.update(&canonical);
    let credit = NewCredit {
        tenant_id: auth.tenant_id.clone(),
        user_id,
        kind,
        amount,
        delta: if debit { Nanos(-amount.0) } else { amount },
        currency,
        description,
        payment_provider,
        payment_id,
        log_id,
        metadata,
        idempotency_key,
        request_hash: hex::encode(hasher.finalize()),
        balance_low: state.billing().balance_low,
    };
    let (entry, replayed) = state.store().post_credit(&credit, defaults).await?;
    let balance = balance_view(state, &auth.tenant_id, &entry.user_id).await?;
    let credited = Credited {
        balance,
        transaction: entry_view(&entry),
    };
    Ok((credited, replayed))
}
