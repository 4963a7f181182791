//! The receipt routes (llmring's `/api/v1/receipts/…` and `/receipts/…` key routes) and the
//! tenant-log transparency routes.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_core::time::{format_us, parse_instant, DateEdge};
use tollgate_core::validate::optional_text;
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::merkle::{consistency_spans, inclusion_spans, needs, verify_inclusion};
use tollgate_store::{CertifiedLog, Scope, Selection, StoredEvent, StoredReceipt};
use uuid::Uuid;

use super::conversations::bounded;
use super::logs::event_json;
use crate::auth::{Auth, MaybeAuth};
use crate::error::ApiError;
use crate::extract::{parse_json, Body, Params, PathParam};
use crate::receipts::{self, b64, Chosen};
use crate::state::AppState;

/// Most log ids one request may name.
const MAX_LOG_IDS: usize = 10_000;
/// Most tags on one receipt, and the longest tag.
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most canonical entries one `entries` call returns.
const MAX_ENTRIES: i64 = 1000;

/// Body of `generate` and `preview` (llmring's `ReceiptGenerationRequest`).
/// The first selection that applies wins: conversation, date range (both ends), log ids,
/// then uncertified.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReceiptRequest {
    /// Every log of one conversation (a UUID).
    conversation_id: Option<String>,
    /// With `end_date`: the logs of a range (a date or RFC 3339 instant).
    start_date: Option<String>,
    /// With `start_date`.
    end_date: Option<String>,
    /// These logs, by id (at most 10,000).
    log_ids: Option<Vec<String>>,
    /// Every log no receipt certifies yet.
    #[serde(default)]
    since_last_receipt: bool,
    /// A description, signed with the receipt (at most 2,000 characters).
    description: Option<String>,
    /// Tags, signed with the receipt (at most 32, each 1 to 64 characters).
    tags: Option<Vec<String>>,
}

fn uuid_of(field: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
            format!("{field} must be a UUID, not '{text}'"),
        )
        .with_details(json!({ "field": field }))
    })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_FIELD",
        message,
    )
    .with_details(json!({ "field": field }))
}

/// The selection a request asks for; the first mode that applies wins, as in llmring:
/// conversation, then date range (both ends), then a non-empty id list, then uncertified.
fn chosen(req: &ReceiptRequest) -> Result<Chosen, ApiError> {
    let present = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.trim().is_empty());
    if let Some(c) = req
        .conversation_id
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        let id = uuid_of("conversation_id", c)?;
        return Ok(Chosen {
            selection: Selection::Conversation(id),
            described: json!({"mode": "conversation", "conversation_id": id}),
        });
    }
    if present(&req.start_date) && present(&req.end_date) {
        let parse = |field: &str, text: &str, edge| {
            parse_instant(text, edge).map_err(|e| invalid(field, format!("{field}: {e}")))
        };
        let start_us = parse(
            "start_date",
            req.start_date.as_deref().unwrap_or_default(),
            DateEdge::Start,
        )?;
        let end_us = parse(
            "end_date",
            req.end_date.as_deref().unwrap_or_default(),
            DateEdge::End,
        )?;
        if start_us > end_us {
            return Err(invalid(
                "start_date",
                "start_date must not be after end_date",
            ));
        }
        return Ok(Chosen {
            selection: Selection::TimeRange { start_us, end_us },
            described: json!({
                "mode": "date_range",
                "start_date": format_us(start_us),
                "end_date": format_us(end_us),
            }),
        });
    }
    if let Some(ids) = req.log_ids.as_ref().filter(|ids| !ids.is_empty()) {
        if ids.len() > MAX_LOG_IDS {
            return Err(invalid(
                "log_ids",
                format!("at most {MAX_LOG_IDS} log ids per receipt; split the list"),
            ));
        }
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, t)| uuid_of(&format!("log_ids[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        let n = ids.len();
        return Ok(Chosen {
            selection: Selection::LogIds(ids),
            described: json!({"mode": "log_ids", "requested": n}),
        });
    }
    if req.since_last_receipt {
        return Ok(Chosen {
            selection: Selection::Uncertified,
            described: json!({"mode": "since_last_receipt"}),
        });
    }
    Err(ApiError::bad_request(
        "NO_SELECTION",
        "Must specify one of: conversation_id, date range, log_ids, or since_last_receipt",
    ))
}

fn labels(req: &ReceiptRequest) -> Result<(Option<String>, Vec<String>), ApiError> {
    let description = optional_text(
        "description",
        req.description.as_deref(),
        MAX_DESCRIPTION_CHARS,
    )?;
    let tags = req.tags.clone().unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut out = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        match optional_text(&field, Some(t), MAX_TAG_CHARS)? {
            Some(t) => out.push(t),
            None => return Err(invalid(&field, format!("{field} must not be empty"))),
        }
    }
    Ok((description, out))
}

/// Sign and store a receipt
///
/// Certifies the selected logs: totals, breakdowns, tags and the Merkle root of exactly those
/// logs, signed with Ed25519.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/generate",
    tag = "receipts",
    operation_id = "generate_receipt",
    request_body = ReceiptRequest,
    responses(
        (status = 200, description = "`receipt` (the signed document, as stored) and `certified_count`", body = Value),
        (status = 400, description = "No selection (`NO_SELECTION`)"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    auth: Auth,
    Body(req): Body<ReceiptRequest>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let chosen = chosen(&req)?;
    let (description, tags) = labels(&req)?;
    let (receipt, count) =
        receipts::generate(&state, &auth.tenant_id, &chosen, description, tags).await?;
    Ok(Json(json!({"receipt": receipt, "certified_count": count})))
}

/// Preview a receipt
///
/// The numbers the same selection would certify; nothing is signed or stored.
#[utoipa::path(
    post,
    path = "/api/v1/receipts/preview",
    tag = "receipts",
    operation_id = "preview_receipt",
    request_body = ReceiptRequest,
    responses(
        (status = 200, description = "The selection's totals and breakdowns, unsigned", body = Value),
        (status = 400, description = "No selection (`NO_SELECTION`)"),
        (status = 422, description = "A field is invalid, naming it"),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    Body(req): Body<ReceiptRequest>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let chosen = chosen(&req)?;
    Ok(Json(
        receipts::preview(&state, &auth.tenant_id, &chosen).await?,
    ))
}

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
    auth: Auth,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
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

fn stored_document(r: &StoredReceipt) -> Result<Value, ApiError> {
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
    auth: Auth,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
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

async fn owned(state: &AppState, tenant: &str, id: &str) -> Result<StoredReceipt, ApiError> {
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
    auth: Auth,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
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
    auth: Auth,
    PathParam(id): PathParam,
    Params(p): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
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
    auth: Auth,
    PathParam(id): PathParam,
    Params(q): Params<ProofQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let log_id = q
        .log_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("INVALID_QUERY", "log_id is required"))?;
    let log_id = Uuid::parse_str(log_id.trim())
        .map_err(|_| ApiError::bad_request("INVALID_QUERY", "log_id must be a UUID"))?;
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
                axum::http::StatusCode::NOT_FOUND,
                "NOT_CERTIFIED",
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
fn entry_text(entry: &Option<Vec<u8>>) -> Value {
    entry
        .as_ref()
        .map_or(Value::Null, |e| json!(String::from_utf8_lossy(e)))
}

/// Verify a receipt
///
/// A receipt (bare, as llmring posts it, or under `"receipt"`), or `{"receipt_id"}` of a
/// stored one (with the owner's key). Anyone may check a signature; with the owner's key the
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
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    MaybeAuth(auth): MaybeAuth,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    // Malformed JSON is answered as everywhere; then the receipt is read strictly: a member
    // repeated in one object could show a reader numbers the signature does not cover.
    let _: Value = parse_json(&body)?;
    let body = tollgate_receipts::parse_strict(&body).map_err(|e| {
        ApiError::bad_request(
            "INVALID_RECEIPT",
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
        (Some(r), _, _) if r.is_object() => (*r).clone(),
        (_, Some(Value::String(id)), None) => {
            let Some(tenant) = tenant else {
                return Err(ApiError::unauthorized(
                    "checking a stored receipt by id needs the owner's API key; or post the receipt itself",
                ));
            };
            stored_document(&owned(&state, tenant, id).await?)?
        }
        _ if body.is_object() => body.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_RECEIPT",
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

async fn current_public(state: &AppState) -> Result<(PublicKey, String), ApiError> {
    let (key, key_id) = state.signer().current().await.map_err(ApiError::internal)?;
    Ok((key.public_key(), key_id))
}

/// The current signing key, PEM
///
/// SubjectPublicKeyInfo PEM of the Ed25519 key that signs receipts now (`openssl pkey -pubin`
/// reads it).
#[utoipa::path(
    get,
    path = "/receipts/public-key.pem",
    tag = "receipts",
    operation_id = "public_key_pem",
    security(()),
    responses(
        (status = 200, description = "The public key, PEM", body = String, content_type = "application/x-pem-file"),
    )
)]
pub async fn public_key_pem(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (key, _) = current_public(&state).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        key.to_spki_pem(),
    )
        .into_response())
}

/// The current signing key, JWK
///
/// The Ed25519 key that signs receipts now, as a JSON Web Key (`kty: OKP`, `crv: Ed25519`).
#[utoipa::path(
    get,
    path = "/receipts/public-key.jwk",
    tag = "receipts",
    operation_id = "public_key_jwk",
    security(()),
    responses((status = 200, description = "The public key as a JWK", body = Value)),
)]
pub async fn public_key_jwk(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (key, _) = current_public(&state).await?;
    Ok(Json(key.to_jwk()))
}

/// Every signing key
///
/// Every key that ever signed receipts, with its validity window.
#[utoipa::path(
    get,
    path = "/receipts/public-keys.json",
    tag = "receipts",
    operation_id = "public_keys",
    security(()),
    responses(
        (status = 200, description = "`keys` (each `key_id`, base64url `public_key`, `algorithm`, `not_before`, `not_after`, `current`) and `current_key_id`", body = Value),
    )
)]
pub async fn public_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (_, current) = current_public(&state).await?;
    let keys: Vec<Value> = state
        .store()
        .signing_keys()
        .await?
        .iter()
        .map(|k| {
            json!({
                "key_id": k.key_id,
                "public_key": k.public_key,
                "algorithm": "Ed25519",
                "format": "base64url",
                "not_before": format_us(k.created_us),
                "not_after": k.retired_us.map(format_us),
                "current": k.key_id == current,
            })
        })
        .collect();
    Ok(Json(json!({"keys": keys, "current_key_id": current})))
}

/// `?size=` of a checkpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// An earlier log size, such as the one a receipt references (default: the current size).
    size: Option<i64>,
}

/// The tenant log's signed checkpoint
///
/// At the log's current size, or at `size`: a C2SP signed note.
#[utoipa::path(
    get,
    path = "/api/v1/transparency/checkpoint",
    tag = "transparency",
    operation_id = "checkpoint",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "The signed note: origin, size and root hash lines, then the signature", body = String, content_type = "text/plain"),
        (status = 400, description = "`size` is beyond the log"),
    )
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<CheckpointQuery>,
) -> Result<Response, ApiError> {
    auth.require(Scope::Read)?;
    let current = log_size(&state, &auth.tenant_id).await?;
    let size = bounded("size", q.size, current, 0, current)?;
    let cp = receipts::checkpoint_at(&state, &auth.tenant_id, size).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

async fn log_size(state: &AppState, tenant: &str) -> Result<i64, ApiError> {
    Ok(state
        .store()
        .find_tenant(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?
        .log_size)
}

/// `?from&to` of a consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The earlier size (default 0).
    from: Option<i64>,
    /// The later size (default: the current size).
    to: Option<i64>,
}

/// Prove the log only grew
///
/// The consistency proof (RFC 6962) between two sizes of the tenant log.
#[utoipa::path(
    get,
    path = "/api/v1/transparency/consistency",
    tag = "transparency",
    operation_id = "consistency_proof",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "`from`, `to` and `proof` (base64 hashes)", body = Value),
        (status = 400, description = "A size is beyond the log, or `from` is after `to`"),
    )
)]
pub async fn consistency(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let size = log_size(&state, &auth.tenant_id).await?;
    let to = bounded("to", q.to.or(Some(size)), size, 0, size)?;
    let from = bounded("from", q.from, 0, 0, to)?;
    let spans = consistency_spans(from as u64, to as u64).map_err(ApiError::internal)?;
    let proof = receipts::log_proof(&state, &auth.tenant_id, to, &spans).await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "proof": proof.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// `?start&end` of an entries range.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// The first entry (default 0).
    start: Option<i64>,
    /// One past the last entry (default: 1,000 on, or the log's size).
    end: Option<i64>,
}

/// Read the tenant log's entries
///
/// Canonical entries `[start, end)`, at most 1,000 per call.
#[utoipa::path(
    get,
    path = "/api/v1/transparency/entries",
    tag = "transparency",
    operation_id = "log_entries",
    params(EntriesQuery),
    responses(
        (status = 200, description = "`start`, `end`, `size` and `entries` (each `seq`, canonical `entry`, base64 `leaf_hash`)", body = Value),
        (status = 400, description = "The range is beyond the log or longer than 1,000"),
    )
)]
pub async fn entries(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let size = log_size(&state, &auth.tenant_id).await?;
    let start = bounded("start", q.start, 0, 0, size)?;
    let end = bounded("end", q.end, (start + MAX_ENTRIES).min(size), start, size)?;
    if end - start > MAX_ENTRIES {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("at most {MAX_ENTRIES} entries per call; page with start and end"),
        ));
    }
    let found = state
        .store()
        .log_entries(&auth.tenant_id, start, end - start)
        .await?;
    let entries: Vec<Value> = found
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "entry": entry_text(&e.entry),
                "leaf_hash": b64(&e.leaf_hash),
            })
        })
        .collect();
    Ok(Json(
        json!({"start": start, "end": end, "size": size, "entries": entries}),
    ))
}

/// `?seq&size` of a log inclusion proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogProofQuery {
    /// The entry; required.
    seq: Option<i64>,
    /// The log size (default: the current size).
    size: Option<i64>,
}

/// Prove an entry is in the tenant log
///
/// The inclusion proof (RFC 6962) of entry `seq` in the log of size `size`.
#[utoipa::path(
    get,
    path = "/api/v1/transparency/proof",
    tag = "transparency",
    operation_id = "log_inclusion_proof",
    params(LogProofQuery),
    responses(
        (status = 200, description = "`seq`, `size`, `entry`, `leaf_hash` and `proof` (base64 hashes)", body = Value),
        (status = 400, description = "`seq` is missing or beyond `size`, or the log is empty"),
    )
)]
pub async fn log_proof(
    State(state): State<AppState>,
    auth: Auth,
    Params(q): Params<LogProofQuery>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Scope::Read)?;
    let current = log_size(&state, &auth.tenant_id).await?;
    if current == 0 {
        return Err(ApiError::bad_request("INVALID_QUERY", "the log is empty"));
    }
    let size = bounded("size", q.size, current, 1, current)?;
    let seq = q
        .seq
        .ok_or_else(|| ApiError::bad_request("INVALID_QUERY", "seq is required"))?;
    let seq = bounded("seq", Some(seq), 0, 0, size - 1)?;
    let spans = inclusion_spans(seq as u64, size as u64).map_err(ApiError::internal)?;
    let proof = receipts::log_proof(&state, &auth.tenant_id, size, &spans).await?;
    let entry = state
        .store()
        .log_entries(&auth.tenant_id, seq, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("entry"))?;
    Ok(Json(json!({
        "seq": seq,
        "size": size,
        "entry": entry_text(&entry.entry),
        "leaf_hash": b64(&entry.leaf_hash),
        "proof": proof.iter().map(b64).collect::<Vec<_>>(),
    })))
}
