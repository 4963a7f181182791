//! The tenant-log transparency routes (`/api/v1/transparency/…`): the log's signed checkpoint,
//! its entries, and consistency and inclusion proofs.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::transparency::{
    CheckpointQuery, ConsistencyProof, ConsistencyQuery, EntriesQuery, LogInclusionProof,
    LogProofQuery, TenantLogEntries, TenantLogEntry,
};
use tollgate_receipts::merkle::{consistency_spans, inclusion_spans};

use super::conversations::bounded;
use super::receipts::entry_text;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::Params;
use crate::receipts::{self, b64};
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// Most canonical entries one `entries` call returns.
const MAX_ENTRIES: i64 = 1000;

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
    auth: Can<need::Read>,
    Params(q): Params<CheckpointQuery>,
) -> Result<Response, ApiError> {
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
        (status = 200, description = "The two sizes and the proof's base64 hashes", body = ConsistencyProof),
        (status = 400, description = "A size is beyond the log, or `from` is after `to`"),
    )
)]
pub async fn consistency(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let size = log_size(&state, &auth.tenant_id).await?;
    let to = bounded("to", q.to.or(Some(size)), size, 0, size)?;
    let from = bounded("from", q.from, 0, 0, to)?;
    let spans = consistency_spans(from as u64, to as u64).map_err(ApiError::internal)?;
    let proof = receipts::log_proof(&state, &auth.tenant_id, to, &spans).await?;
    Ok(Json(ConsistencyProof {
        from,
        proof: proof.iter().map(b64).collect(),
        to,
    }))
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
        (status = 200, description = "The range, the log's size, and each entry with its base64 leaf hash", body = TenantLogEntries),
        (status = 400, description = "The range is beyond the log or longer than 1,000"),
    )
)]
pub async fn entries(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<EntriesQuery>,
) -> Result<Json<TenantLogEntries>, ApiError> {
    let size = log_size(&state, &auth.tenant_id).await?;
    let start = bounded("start", q.start, 0, 0, size)?;
    let end = bounded("end", q.end, (start + MAX_ENTRIES).min(size), start, size)?;
    if end - start > MAX_ENTRIES {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("at most {MAX_ENTRIES} entries per call; page with start and end"),
        ));
    }
    let found = state
        .store()
        .log_entries(&auth.tenant_id, start, end - start)
        .await?;
    let entries = found
        .iter()
        .map(|e| TenantLogEntry {
            entry: entry_text(&e.entry),
            leaf_hash: b64(&e.leaf_hash),
            seq: e.seq,
        })
        .collect();
    Ok(Json(TenantLogEntries {
        end,
        entries,
        size,
        start,
    }))
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
        (status = 200, description = "The entry, its base64 leaf hash, and the proof's base64 hashes", body = LogInclusionProof),
        (status = 400, description = "`seq` is missing or beyond `size`, or the log is empty"),
    )
)]
pub async fn log_proof(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    Params(q): Params<LogProofQuery>,
) -> Result<Json<LogInclusionProof>, ApiError> {
    let current = log_size(&state, &auth.tenant_id).await?;
    if current == 0 {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "the log is empty"));
    }
    let size = bounded("size", q.size, current, 1, current)?;
    let seq = q
        .seq
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "seq is required"))?;
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
    Ok(Json(LogInclusionProof {
        entry: entry_text(&entry.entry),
        leaf_hash: b64(&entry.leaf_hash),
        proof: proof.iter().map(b64).collect(),
        seq,
        size,
    }))
}
