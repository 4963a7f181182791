//! Receipts and the tenant log's checkpoints: gathering what a receipt certifies from the
//! store, signing and storing it, checking one, and the proofs served for it.
//!
//! What a receipt says is decided in `tollgate_receipts::receipt` by a pure function of the
//! certified entries; this module reads those entries, the checkpoint and the signing key,
//! and stores the signed result.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tokio::task::JoinHandle;
use tollgate_api::receipts::{EmptyPreview, PreviewAnswer, ReceiptPreview};
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{format_us, now_us};
use tollgate_receipts::merkle::{self, needs, Span};
use tollgate_receipts::note::Checkpoint;
use tollgate_receipts::receipt::{
    self, CertifiedEntries, CertifiedSet, CheckpointRef, EntryGroup, Issue, Newest, Receipt,
    ReceiptDocument, ReceiptType, SelectionRecord, Totals,
};
use tollgate_receipts::Hash;
use tollgate_store::{
    NewReceipt, SelectOptions, SelectedLogs, Selection, StoreError, StoredCheckpoint,
};

use crate::error::ApiError;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// How many times a "since the last receipt" generation starts over when another receipt
/// overtook it.
const ATTEMPTS: usize = 5;

/// Base64 (standard, padded) of a hash, as in C2SP checkpoints.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// The origin (and key name) of a tenant's log in its checkpoints.
pub fn origin(state: &AppState, tenant: &str) -> String {
    format!("{}/{tenant}", state.settings().receipts.log_origin)
}

/// How a receipt's logs were chosen, as the receipt records it.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// What the store selects.
    pub selection: Selection,
    /// The mode and its parameters, signed with the receipt.
    pub described: SelectionRecord,
}

/// The error for a selection that matched nothing (llmring's message).
pub fn no_logs() -> ApiError {
    ApiError::new(ErrorCode::NoLogs, NO_LOGS)
}

/// llmring's words for a selection without logs.
const NO_LOGS: &str = "No logs found matching the criteria";

/// The selection's groups, as the receipt builder takes them.
fn groups(sel: &SelectedLogs) -> Vec<EntryGroup> {
    sel.groups
        .iter()
        .map(|g| EntryGroup {
            provider: g.provider.clone(),
            model: g.model.clone(),
            alias: g.alias.clone(),
            currency: g.currency.as_str().to_string(),
            calls: g.calls,
            input_tokens: g.tokens.input,
            output_tokens: g.tokens.output,
            cost_nanos: g.cost.0,
            input_cost_nanos: g.input_cost.0,
            unpriced: g.unpriced,
            dimensions: g.dimensions.clone(),
        })
        .collect()
}

fn built(e: receipt::ReceiptError) -> ApiError {
    ApiError::internal(e.to_string())
}

/// The logs `chosen` selects, with their leaf hashes when a receipt is to be signed.
async fn select(
    state: &AppState,
    tenant: &str,
    chosen: &Chosen,
    leaf_hashes: bool,
) -> Result<SelectedLogs, ApiError> {
    let opts = SelectOptions {
        leaf_hashes,
        inline_ids: state.settings().receipts.inline_ids,
    };
    Ok(state
        .store()
        .select_logs(tenant, &chosen.selection, opts)
        .await?)
}

/// `POST /api/v1/receipts/preview`: the numbers a receipt would carry (its unpriced count
/// included); nothing is signed or stored.
pub async fn preview(
    state: &AppState,
    tenant: &str,
    chosen: &Chosen,
) -> Result<PreviewAnswer, ApiError> {
    let sel = select(state, tenant, chosen, false).await?;
    if sel.count == 0 {
        return Ok(PreviewAnswer::Empty(EmptyPreview {
            message: NO_LOGS.into(),
            total_cost: 0.0,
            total_logs: 0,
            total_tokens: 0,
        }));
    }
    let t = Totals::of(&groups(&sel)).map_err(built)?;
    Ok(PreviewAnswer::Found(Box::new(ReceiptPreview {
        total_cost: t.total_cost(),
        total_tokens: t.total_tokens().map_err(built)?,
        amounts: t.amounts,
        by_alias: t.by_alias,
        by_dimension: t.by_dimension,
        by_model: t.by_model,
        currency: t.currency,
        end_date: sel.last_us.map(format_us),
        log_size: sel.log_size,
        receipt_type: ReceiptType::of(sel.count),
        selection: chosen.described.clone(),
        start_date: sel.first_us.map(format_us),
        total_conversations: sel.conversation_ids.len() as i64,
        total_logs: sel.count,
        unpriced_events: t.unpriced,
    })))
}

/// What the selection read of the logs a receipt certifies, for the receipt builder.
fn certified_entries(sel: &SelectedLogs, root: Hash, inline: usize) -> CertifiedEntries {
    let time = |us: Option<i64>| us.map(format_us).unwrap_or_default();
    CertifiedEntries {
        count: sel.count,
        groups: groups(sel),
        newest: sel.newest.clone().map(|n| Newest {
            provider: n.provider,
            model: n.model,
            alias: n.alias,
        }),
        profiles: sel.profiles.clone(),
        lock_digests: sel.lock_digests.clone(),
        conversation_count: sel.conversation_ids.len() as i64,
        conversation_ids: sel
            .conversation_ids
            .iter()
            .take(inline)
            .map(|c| c.to_string())
            .collect(),
        log_ids: sel.log_ids.iter().map(|l| l.to_string()).collect(),
        first_time: time(sel.first_us),
        last_time: time(sel.last_us),
        root,
    }
}

/// `POST /api/v1/receipts/generate`: selects, signs and stores a receipt in one
/// transaction. Returns the receipt and how many logs it certifies.
pub async fn generate(
    state: &AppState,
    tenant: &str,
    chosen: &Chosen,
    description: Option<String>,
    tags: Vec<String>,
) -> Result<(Receipt, i64), ApiError> {
    let inline = state.settings().receipts.inline_ids;
    for _ in 0..ATTEMPTS {
        let sel = select(state, tenant, chosen, true).await?;
        if sel.count == 0 {
            return Err(no_logs());
        }
        // The last run of the set is usually the tail of the log (since the last receipt):
        // its hashes extend the log's stored tiles without reading them again.
        if let Some(run) = sel.ranges.last() {
            let tail = &sel.leaf_hashes[sel.leaf_hashes.len() - run.len() as usize..];
            state
                .store()
                .extend_log_tiles(tenant, sel.log_size, run.start, tail)
                .await?;
        }
        let checkpoint = checkpoint_at(state, tenant, sel.log_size).await?;
        let (key, key_id) = state.signer().current().await.map_err(ApiError::internal)?;
        let tiles = merkle::tile_roots(&sel.leaf_hashes);
        let root = set_root(&sel.leaf_hashes, &tiles)?;
        let id = new_id(IdKind::Receipt);
        let issued_us = now_us();
        let issue = Issue {
            receipt_id: id.clone(),
            timestamp: format_us(issued_us),
            tenant_id: tenant.to_string(),
            key_id: key_id.clone(),
            selection: chosen.described.clone(),
            description: description.clone(),
            tags: tags.clone(),
            inline_ids: inline,
            checkpoint: CheckpointRef::new(
                origin(state, tenant),
                checkpoint.size,
                &checkpoint.root,
            ),
        };
        let signed = receipt::build(&certified_entries(&sel, root, inline), issue)
            .map_err(built)?
            .sign(&key)
            .map_err(ApiError::internal)?;
        let document = serde_json::to_string(&signed).map_err(ApiError::internal)?;
        let stored = state
            .store()
            .insert_receipt(&NewReceipt {
                tenant_id: tenant.to_string(),
                id,
                issued_us,
                receipt_type: ReceiptType::of(sel.count).as_str().to_string(),
                key_id,
                count: sel.count,
                root,
                tiles,
                tags: tags.clone(),
                document,
                ranges: sel.ranges.clone(),
                since_version: matches!(chosen.selection, Selection::Uncertified)
                    .then_some(sel.certified_version),
            })
            .await;
        match stored {
            Ok(()) => {
                state.metrics().receipt_issued(sel.count);
                return Ok((signed, sel.count));
            }
            Err(StoreError::Stale(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Stale("other receipts kept certifying the same logs".into()).into())
}

/// The Merkle root of `leaves`, from their tile roots and the incomplete last tile.
fn set_root(leaves: &[Hash], tiles: &[Hash]) -> Result<Hash, ApiError> {
    let mut nodes = merkle::Nodes::new();
    nodes.add_tiles(0, tiles.iter().copied());
    let tail = tiles.len() * merkle::TILE_LEAVES as usize;
    nodes.add_leaves(tail as u64, leaves[tail..].iter().copied());
    nodes
        .span_hash(Span {
            start: 0,
            end: leaves.len() as u64,
        })
        .map_err(ApiError::internal)
}

/// The tenant log's checkpoint at `size`, signing and storing it if it is new.
pub async fn checkpoint_at(
    state: &AppState,
    tenant: &str,
    size: i64,
) -> Result<StoredCheckpoint, ApiError> {
    if let Some(cp) = state.store().checkpoint(tenant, Some(size)).await? {
        return Ok(cp);
    }
    let root = log_root(state, tenant, size).await?;
    let (key, key_id) = state.signer().current().await.map_err(ApiError::internal)?;
    let note = Checkpoint {
        origin: origin(state, tenant),
        size: size as u64,
        root,
    }
    .sign(&key)
    .map_err(ApiError::internal)?;
    Ok(state
        .store()
        .save_checkpoint(&StoredCheckpoint {
            tenant_id: tenant.to_string(),
            size,
            root,
            key_id,
            note,
            created_us: now_us(),
        })
        .await?)
}

/// Signs a checkpoint of every tenant log that grew since its last one, every `every`
/// (never when zero). Failures are logged and retried at the next tick.
pub fn checkpoint_every(state: AppState, every: Duration) -> Option<JoinHandle<()>> {
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = checkpoint_grown(&state).await {
                tracing::warn!(error = %e.message(), "periodic checkpoints failed; retrying at the next tick");
            }
        }
    }))
}

/// One round of [`checkpoint_every`]; returns how many checkpoints it signed.
pub async fn checkpoint_grown(state: &AppState) -> Result<usize, ApiError> {
    let mut signed = 0;
    for tenant in state.store().list_tenants().await? {
        if tenant.log_size == 0 {
            continue;
        }
        let latest = state.store().checkpoint(&tenant.id, None).await?;
        if latest.is_none_or(|cp| cp.size < tenant.log_size) {
            checkpoint_at(state, &tenant.id, tenant.log_size).await?;
            signed += 1;
        }
    }
    Ok(signed)
}

/// The root of the tenant's log at `size`.
async fn log_root(state: &AppState, tenant: &str, size: i64) -> Result<Hash, ApiError> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    let span = Span {
        start: 0,
        end: size as u64,
    };
    let nodes = state
        .store()
        .log_nodes(tenant, size, &needs(&[span]))
        .await?;
    nodes.span_hash(span).map_err(ApiError::internal)
}

/// The hashes of `spans` in the tenant's log at `size`.
pub async fn log_proof(
    state: &AppState,
    tenant: &str,
    size: i64,
    spans: &[Span],
) -> Result<Vec<Hash>, ApiError> {
    let nodes = state.store().log_nodes(tenant, size, &needs(spans)).await?;
    nodes.hashes(spans).map_err(ApiError::internal)
}

/// The outcome of checking a receipt.
pub struct Verdict {
    /// The signature matches the key named by `key_id`.
    pub signature: Result<(), String>,
    /// The set commitment matches the stored logs; None when not checked (no credentials,
    /// or not this tenant's receipt).
    pub commitment: Option<Result<(), String>>,
}

/// Checks a received receipt's signature (over the document as received, every member
/// counted) and, for the tenant's own stored receipts, its commitment.
pub async fn verify(
    state: &AppState,
    doc: &Value,
    tenant: Option<&str>,
) -> Result<Verdict, ApiError> {
    let received = ReceiptDocument::new(doc.clone());
    let signature = match &received {
        Err(e) => Err(format!(
            "not a receipt Tollgate issued ({e}), so no key of this server can have signed it"
        )),
        Ok(r) => match state.signer().public_key(&r.receipt.key_id).await? {
            None => Err(format!(
                "no key with id {} has signed here",
                r.receipt.key_id
            )),
            Some(key) => r.verify(&key).map_err(|e| e.to_string()),
        },
    };
    let commitment = match (tenant, &received) {
        (Some(tenant), Ok(r)) => {
            let r = &r.receipt;
            match state.store().get_receipt(tenant, &r.receipt_id).await? {
                None => None,
                Some(stored) => Some(check_commitment(state, tenant, &stored, &r.certified).await?),
            }
        }
        _ => None,
    };
    Ok(Verdict {
        signature,
        commitment,
    })
}

async fn check_commitment(
    state: &AppState,
    tenant: &str,
    stored: &tollgate_store::StoredReceipt,
    claimed: &CertifiedSet,
) -> Result<Result<(), String>, ApiError> {
    if claimed.merkle_root != b64(stored.root) || claimed.count != stored.count {
        return Ok(Err(
            "the receipt's set commitment differs from the stored receipt's".into(),
        ));
    }
    let leaves = state
        .store()
        .receipt_leaves(tenant, &stored.id)
        .await?
        .unwrap_or_default();
    if leaves.len() as i64 != stored.count {
        return Ok(Err(format!(
            "the receipt certifies {} logs but {} are stored",
            stored.count,
            leaves.len()
        )));
    }
    if merkle::root(&leaves) != stored.root {
        return Ok(Err(
            "the stored logs no longer hash to the receipt's Merkle root".into(),
        ));
    }
    Ok(Ok(()))
}
