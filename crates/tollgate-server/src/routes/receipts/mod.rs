//! The receipt routes (llmring's `/api/v1/receipts/…`): listing, reading and verifying receipts
//! and proving a log is in one; [`issue`] signs and previews them. The key routes are in
//! [`super::keys`], the tenant-log transparency routes in [`super::transparency`].

pub(crate) mod issue;

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use tollgate_api::receipts::{
    ArchivedLog, CertifiedLog as ListedCertifiedLog, ListedLog, PageQuery, ProofQuery,
    ReceiptDocument, ReceiptList, ReceiptLogs, ReceiptProof, ReceiptVerification, UncertifiedLogs,
    VerifyReceiptRequest,
};
use tollgate_receipts::merkle::{inclusion_spans, needs, verify_inclusion};
use tollgate_store::{CertifiedLog, Scope, StoredEvent, StoredReceipt};
use uuid::Uuid;

use super::conversations::bounded;
use crate::auth::{need, Can, MaybeAuth};
use crate::error::ApiError;
use crate::extract::{parse_json, Params, PathParam, RawBody};
use crate::receipts::{self, b64};
use crate::state::AppState;
use tollgate_api::ErrorCode;

fn page(p: &PageQuery) -> Result<(i64, i64), ApiError> {
    Ok((
        bounded("limit", p.limit, 100, 1, 1000)?,
        bounded("offset", p.offset, 0, 0, i64::MAX / 2)?,
    ))
}

/// A log as llmring's uncertified and receipt-log listings show it: the log as
/// `GET /api/v1/logs` lists it, its alias `default` when it had none.
fn listed_log(s: &StoredEvent) -> ListedLog {
    let mut log = crate::routes::logs::log_entry(s);
    log.alias.get_or_insert_with(|| "default".into());
    ListedLog {
        timestamp: log.logged_at.clone(),
        log_type: log.source,
        log,
        index: None,
        entry: None,
    }
}

/// List uncertified logs
///
/// Logs no receipt certifies yet, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/receipts/uncertified",
    tag = "receipts",
    operation_id = "list_uncertified_logs",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of logs no receipt certifies, and how many there are", body = UncertifiedLogs),
    )
)]
pub async fn uncertified(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(p): Params<PageQuery>,
) -> Result<Json<UncertifiedLogs>, ApiError> {
    let (limit, offset) = page(&p)?;
    let (logs, total) = state
        .store()
        .uncertified(&auth.tenant_id, limit, offset)
        .await?;
    Ok(Json(UncertifiedLogs {
        limit,
        logs: logs.iter().map(listed_log).collect(),
        offset,
        total,
    }))
}

/// A stored receipt: the document as it was signed and stored, with its reading.
pub(super) fn stored_document(r: &StoredReceipt) -> Result<ReceiptDocument, ApiError> {
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
    params(PageQuery),
    responses(
        (status = 200, description = "A page of receipts, and how many there are", body = ReceiptList),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(p): Params<PageQuery>,
) -> Result<Json<ReceiptList>, ApiError> {
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
    Ok(Json(ReceiptList {
        limit,
        offset,
        receipts,
        total,
    }))
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
        (status = 200, description = "The signed receipt", body = ReceiptDocument),
        (status = 404, description = "No such receipt, or another tenant's"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
) -> Result<Json<ReceiptDocument>, ApiError> {
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
    params(("id" = String, Path, description = "The receipt's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the receipt's logs in leaf order, each with its `index` and canonical `entry` (an archived one with its `leaf_hash` and archive)", body = ReceiptLogs),
        (status = 404, description = "No such receipt, or another tenant's"),
    )
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(p): Params<PageQuery>,
) -> Result<Json<ReceiptLogs>, ApiError> {
    let (limit, offset) = page(&p)?;
    let r = owned(&state, &auth.tenant_id, &id).await?;
    let logs = state
        .store()
        .receipt_logs(&auth.tenant_id, &id, limit, offset)
        .await?
        .ok_or_else(|| ApiError::not_found("Receipt"))?;
    let logs = logs
        .iter()
        .map(|l| match &l.log {
            CertifiedLog::Live { event, entry } => ListedCertifiedLog::Live(Box::new(ListedLog {
                entry: Some(String::from_utf8_lossy(entry).into_owned()),
                index: Some(l.index),
                ..listed_log(event)
            })),
            // Retention moved it to an archive file: what stays is enough to prove it.
            CertifiedLog::Archived {
                seq,
                log_id,
                leaf_hash,
                archive_id,
            } => ListedCertifiedLog::Archived(ArchivedLog {
                archived: archive_id.clone(),
                entry: None,
                id: log_id.clone(),
                index: l.index,
                leaf_hash: b64(leaf_hash),
                seq: *seq,
            }),
        })
        .collect();
    Ok(Json(ReceiptLogs {
        limit,
        logs,
        offset,
        receipt_id: r.id,
        total: r.count,
    }))
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
        (status = 200, description = "The log's leaf hash and entry, its index in the receipt's set, and the proof's base64 hashes", body = ReceiptProof),
        (status = 400, description = "`log_id` is missing or not a UUID"),
        (status = 404, description = "No such receipt or log, or the receipt does not certify it (`NOT_CERTIFIED`)"),
    )
)]
pub async fn proof(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(id): PathParam,
    Params(q): Params<ProofQuery>,
) -> Result<Json<ReceiptProof>, ApiError> {
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
    Ok(Json(ReceiptProof {
        entry: entry_text(&entry.entry),
        index,
        leaf_hash: b64(leaf),
        log_id: log_id.to_string(),
        proof: path.iter().map(b64).collect(),
        receipt_id: r.id,
        root: b64(r.root),
        seq: entry.seq,
        size: r.count,
    }))
}

/// A canonical entry as JSON text, or None once retention archived it.
pub(super) fn entry_text(entry: &Option<Vec<u8>>) -> Option<String> {
    entry
        .as_ref()
        .map(|e| String::from_utf8_lossy(e).into_owned())
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
    // Inline: a bare receipt is an open object (a member added to it fails the signature
    // rather than being refused), unlike the closed bodies of the other routes.
    request_body(content = inline(VerifyReceiptRequest), description = "A receipt, `{\"receipt\": {...}}` or `{\"receipt_id\": \"...\"}`"),
    responses(
        (status = 200, description = "Whether it is valid, what was checked, and why not when it is not", body = ReceiptVerification),
        (status = 400, description = "Not a receipt (`INVALID_RECEIPT`), or malformed JSON"),
        (status = 401, description = "A `receipt_id` without the owner's key"),
        (status = 422, description = "`{\"receipt\"}` or `{\"receipt_id\"}` with another member (`INVALID_FIELD`, naming it)"),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    RawBody(body): RawBody,
) -> Result<Json<ReceiptVerification>, ApiError> {
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
            stored_document(&owned(&state, tenant, id).await?)?.document
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
    Ok(Json(ReceiptVerification {
        algorithm: "Ed25519".into(),
        commitment_valid: verdict.commitment.as_ref().map(Result::is_ok),
        key_id: text_member(&doc, "key_id"),
        reason,
        receipt_id: text_member(&doc, "receipt_id"),
        signature_valid: verdict.signature.is_ok(),
        valid,
    }))
}

/// A string member of a posted document, echoed in the answer. The document is read as
/// received, whatever it holds (an llmring receipt, a forgery), so it is not a typed receipt.
fn text_member(doc: &Value, name: &str) -> Option<String> {
    doc.get(name).and_then(Value::as_str).map(str::to_string)
}
