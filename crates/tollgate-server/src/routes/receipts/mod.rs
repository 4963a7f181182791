//! The receipt routes (llmring's `/api/v1/receipts/…`): listing, reading and verifying receipts
//! and proving a log is in one; [`issue`] signs and previews them. The key routes are in
//! [`super::keys`], the tenant-log transparency routes in [`super::transparency`].

pub(super) mod issue;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::format_us;
use tollgate_receipts::merkle::{inclusion_spans, needs, verify_inclusion};
use tollgate_store::{CertifiedLog, Scope, StoredEvent, StoredReceipt};
use uuid::Uuid;

use super::conversations::bounded;
use super::logs::event_json;
use crate::auth::{need, Can, MaybeAuth};
use crate::error::ApiError;
use crate::extract::{parse_json, Params, PathParam, RawBody};
use crate::receipts::{self, b64};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// `?limit&offset`, as llmring bounds them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
    /// Receipts only: those carrying this tag.
    tag: Option<String>,
}

fn page(p: &Page) -> Result<(i64, i64), ApiError> {
    Ok((
        bounded("limit", p.limit, 100, 1, 1000)?,
        bounded("offset", p.offset, 0, 0, i64::MAX / 2)?,
    ))
}

/// A log as llmring's uncertified and receipt-log listings show it, with Tollgate's fields.
fn listed_log(s: &StoredEvent) -> Value {
    let mut v = event_json(s);
    let e = &s.event;
    v["type"] = json!(if e.source.as_str() == "conversation" {
        "conversation"
    } else {
        "usage"
    });
    v["alias"] = json!(e.alias.as_deref().unwrap_or("default"));
    v["timestamp"] = json!(format_us(e.timestamp_us));
    v
}

/// List uncertified logs
///
/// Logs no receipt certifies yet, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/receipts/uncertified",
    tag = "receipts",
    operation_id = "list_uncertified_logs",
    params(Page),
    responses(
        (status = 200, description = "`logs`, `total`, `limit`, `offset`", body = Value),
    )
)]
pub async fn uncertified(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = page(&p)?;
    let (logs, total) = state
        .store()
        .uncertified(&auth.tenant_id, limit, offset)
        .await?;
    Ok(Json(json!({
        "logs": logs.iter().map(listed_log).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

pub(super) fn stored_document(r: &StoredReceipt) -> Result<Value, ApiError> {
    serde_json::from_str(&r.document).map_err(ApiError::internal)
}

/// List receipts
///
/// Newest first, each as issued.
#[utoipa::path(
    get,
    path = "/api/v1/receipts",
    tag = "receipts",
    operation_id = "list_receipts",
    params(Page),
    responses(
        (status = 200, description = "`receipts`, `total`, `limit`, `offset`", body = Value),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = page(&p)?;
    let tag = p.tag.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (found, total) = state
        .store()
        .list_receipts(&auth.tenant_id, tag, limit, offset)
        .await?;
    let receipts = found
        .iter()
        .map(stored_document)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "receipts": receipts,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

pub(super) async fn owned(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<StoredReceipt, ApiError> {
    state
        .store()
        .get_receipt(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Receipt"))
}

/// Get a receipt
///
/// Byte for byte as signed.
#[utoipa::path(
    get,
    path = "/api/v1/receipts/{id}",
    tag = "receipts",
    operation_id = "get_receipt",
    params(("id" = String, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "The signed receipt document", body = Value),
        (status = 404, description = "No such receipt, or another tenant's"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let r = owned(&state, &auth.tenant_id, &id).await?;
    Ok(Json(stored_document(&r)?))
}

/// List the logs a receipt certifies
///
/// In leaf order, each with its canonical `entry` (RFC 8785 JSON) and `index`.
#[utoipa::path(
    get,
    path = "/api/v1/receipts/{id}/logs",
    tag = "receipts",
    operation_id = "list_receipt_logs",
    params(("id" = String, Path, description = "The receipt's id"), Page),
    responses(
        (status = 200, description = "`receipt_id`, `logs`, `total`, `limit`, `offset`", body = Value),
        (status = 404, description = "No such receipt, or another tenant's"),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = page(&p)?;
    let r = owned(&state, &auth.tenant_id, &id).await?;
    let logs = state
        .store()
        .receipt_logs(&auth.tenant_id, &id, limit, offset)
        .await?
        .ok_or_else(|| ApiError::not_found("Receipt"))?;
    let logs: Vec<Value> = logs
        .iter()
        .map(|l| {
            let mut v = match &l.log {
                CertifiedLog::Live { event, entry } => {
                    let mut v = listed_log(event);
                    v["entry"] = json!(String::from_utf8_lossy(entry));
                    v
                }
                // Retention moved it to an archive file: what stays is enough to prove it.
                CertifiedLog::Archived {
                    seq,
                    log_id,
                    leaf_hash,
                    archive_id,
                } => json!({
                    "id": log_id,
                    "seq": seq,
                    "entry": null,
                    "leaf_hash": b64(leaf_hash),
                    "archived": archive_id,
                }),
            };
            v["index"] = json!(l.index);
            v
        })
        .collect();
    Ok(Json(json!({
        "receipt_id": r.id,
        "logs": logs,
        "total": r.count,
        "limit": limit,
        "offset": offset,
    })))
}

/// `?log_id=` of a receipt proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The log (a UUID); required.
    log_id: Option<String>,
}

/// Prove a log is in a receipt
///
/// The inclusion proof of one log in the receipt's Merkle root (RFC 6962), with the log's
/// canonical entry.
#[utoipa::path(
    get,
    path = "/api/v1/receipts/{id}/proof",
    tag = "receipts",
    operation_id = "receipt_inclusion_proof",
    params(("id" = String, Path, description = "The receipt's id"), ProofQuery),
    responses(
        (status = 200, description = "`receipt_id`, `log_id`, `seq`, `index`, `size`, `root`, `leaf_hash`, `entry` and `proof` (base64 hashes)", body = Value),
        (status = 400, description = "`log_id` is missing or not a UUID"),
        (status = 404, description = "No such receipt or log, or the receipt does not certify it (`NOT_CERTIFIED`)"),
    )
)]
pub async fn proof(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(q): Params<ProofQuery>,
) -> Result<Json<Value>, ApiError> {
    let log_id = q
        .log_id
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "log_id is required"))?;
    let log_id = Uuid::parse_str(log_id.trim())
        .map_err(|_| ApiError::new(ErrorCode::InvalidQuery, "log_id must be a UUID"))?;
    let r = owned(&state, &auth.tenant_id, &id).await?;
    let entry = state
        .store()
        .find_log_entry(&auth.tenant_id, log_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Log"))?;
    let index = state
        .store()
        .receipt_index(&auth.tenant_id, &id, entry.seq)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotCertified,
                "this receipt does not certify that log",
            )
        })?;
    let spans = inclusion_spans(index as u64, r.count as u64).map_err(ApiError::internal)?;
    let nodes = state
        .store()
        .receipt_nodes(&auth.tenant_id, &id, &needs(&spans))
        .await?
        .ok_or_else(|| ApiError::not_found("Receipt"))?;
    let path = nodes.hashes(&spans).map_err(ApiError::internal)?;
    let leaf: [u8; 32] = entry
        .leaf_hash
        .clone()
        .try_into()
        .map_err(|_| ApiError::internal("a stored leaf hash is not 32 bytes"))?;
    verify_inclusion(&leaf, index as u64, r.count as u64, &path, &r.root)
        .map_err(|e| ApiError::internal(format!("a stored receipt's proof fails: {e}")))?;
    Ok(Json(json!({
        "receipt_id": r.id,
        "log_id": log_id,
        "seq": entry.seq,
        "index": index,
        "size": r.count,
        "root": b64(r.root),
        "leaf_hash": b64(leaf),
        "entry": entry_text(&entry.entry),
        "proof": path.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// A canonical entry as JSON text, or null once retention archived it.
pub(super) fn entry_text(entry: &Option<Vec<u8>>) -> Value {
    entry
        .as_ref()
        .map_or(Value::Null, |e| json!(String::from_utf8_lossy(e)))
}

/// A wrapper (`{"receipt": …}`, `{"receipt_id": …}`) takes its one member: any other would
/// be ignored, so it is refused as an unknown field. A bare receipt has no such check: every
/// member of it is signed, so an added one fails the signature instead.
fn only_member(body: &Value, member: &str) -> Result<(), ApiError> {
    match body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != member))
    {
        Some(other) => Err(crate::unknown_field::unknown_field(other, other, &[member])),
        None => Ok(()),
    }
}

/// Verify a receipt
///
/// A receipt (bare, as llmring posts it, or under `"receipt"`), or `{"receipt_id"}` of a
/// stored one (with the owner's key); a wrapper with any other member is 422 naming it. Anyone may check a signature; with the owner's key the
/// set commitment is checked against the stored logs too.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/verify",
    tag = "receipts",
    operation_id = "verify_receipt",
    security((), ("api_key" = []), ("bearer" = [])),
    request_body(content = Value, description = "A receipt, `{\"receipt\": {...}}` or `{\"receipt_id\": \"...\"}`"),
    responses(
        (status = 200, description = "`receipt_id`, `valid`, `algorithm: \"Ed25519\"`, `key_id`, `signature_valid`, `commitment_valid` (null without the owner's key), `reason` when not valid", body = Value),
        (status = 400, description = "Not a receipt (`INVALID_RECEIPT`), or malformed JSON"),
        (status = 401, description = "A `receipt_id` without the owner's key"),
        (status = 422, description = "`{\"receipt\"}` or `{\"receipt_id\"}` with another member (`INVALID_FIELD`, naming it)"),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    // Malformed JSON is answered as everywhere; then the receipt is read strictly: a member
    // repeated in one object could show a reader numbers the signature does not cover.
    let _: Value = parse_json(&body)?;
    let body = tollgate_receipts::parse_strict(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidReceipt,
            format!("the receipt is not well-formed: {e}"),
        )
    })?;
    let tenant = match &auth {
        Some(a) => {
            a.require(Scope::Read)?;
            Some(a.tenant_id.as_str())
        }
        None => None,
    };
    let doc = match (
        &body.get("receipt"),
        body.get("receipt_id"),
        body.get("signature"),
    ) {
        (Some(r), _, _) if r.is_object() => {
            only_member(&body, "receipt")?;
            (*r).clone()
        }
        (_, Some(Value::String(id)), None) => {
            only_member(&body, "receipt_id")?;
            let Some(tenant) = tenant else {
                return Err(ApiError::unauthorized(
                    "checking a stored receipt by id needs the owner's API key; or post the receipt itself",
                ));
            };
            stored_document(&owned(&state, tenant, id).await?)?
        }
        _ if body.is_object() => body.clone(),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidReceipt,
                "post a receipt object, {\"receipt\": {...}} or {\"receipt_id\": \"...\"}",
            ))
        }
    };
    let verdict = receipts::verify(&state, &doc, tenant).await?;
    let valid = verdict.signature.is_ok() && !matches!(verdict.commitment, Some(Err(_)));
    let reason = match (&verdict.signature, &verdict.commitment) {
        (Err(e), _) => Some(e.clone()),
        (_, Some(Err(e))) => Some(e.clone()),
        _ => None,
    };
    Ok(Json(json!({
        "receipt_id": doc.get("receipt_id"),
        "valid": valid,
        "algorithm": "Ed25519",
        "key_id": doc.get("key_id"),
        "signature_valid": verdict.signature.is_ok(),
        "commitment_valid": verdict.commitment.as_ref().map(Result::is_ok),
        "reason": reason,
    })))
}
