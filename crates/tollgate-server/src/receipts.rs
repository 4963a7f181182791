//! Receipts and the tenant log's checkpoints: what a receipt says, how it is signed, stored
//! and checked, and the proofs served for it.
//!
//! A receipt keeps every field llmring's client reads (floats included) and adds what makes
//! it checkable: the exact amounts as decimal strings, the tenant, the signing key's id, and
//! the set commitment (how many logs, and the RFC 6962 Merkle root over their leaf hashes in
//! log order) with the tenant-log checkpoint at issue time. The signature covers the RFC 8785
//! form of the whole document except `signature`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::Nanos;
use tollgate_receipts::merkle::{self, needs, Span};
use tollgate_receipts::note::Checkpoint;
use tollgate_receipts::signature::{sign_document, verify_document, SIGNATURE_MEMBER};
use tollgate_receipts::Hash;
use tollgate_store::{
    NewReceipt, SelectOptions, SelectedLogs, Selection, SelectionGroup, StoreError,
    StoredCheckpoint,
};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use tollgate_api::ErrorCode;

/// The receipt format this server issues.
pub const FORMAT: &str = "tollgate.receipt/v1";
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

/// How a receipt's logs were chosen, as the document records it.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// What the store selects.
    pub selection: Selection,
    /// The mode and its parameters, signed with the receipt.
    pub described: Value,
}

/// The error for a selection that matched nothing (llmring's message).
pub fn no_logs() -> ApiError {
    ApiError::new(ErrorCode::NoLogs, "No logs found matching the criteria")
}

/// Totals of a selection, in the shapes both the receipt and the preview use.
struct Summary {
    input_tokens: i64,
    output_tokens: i64,
    /// The currency the llmring floats are in.
    currency: String,
    /// Per currency: (input, total).
    amounts: BTreeMap<String, (Nanos, Nanos)>,
    by_model: Map<String, Value>,
    by_alias: Map<String, Value>,
}

fn add(a: Nanos, b: Nanos) -> Result<Nanos, ApiError> {
    a.checked_add(b)
        .ok_or_else(|| ApiError::internal("a receipt total overflows"))
}

fn summarize(groups: &[SelectionGroup]) -> Result<Summary, ApiError> {
    let mut amounts: BTreeMap<String, (Nanos, Nanos)> = BTreeMap::new();
    let mut input_tokens = 0i64;
    let mut output_tokens = 0i64;
    for g in groups {
        let e = amounts
            .entry(g.currency.as_str().to_string())
            .or_insert((Nanos::ZERO, Nanos::ZERO));
        *e = (add(e.0, g.input_cost)?, add(e.1, g.cost)?);
        input_tokens += g.tokens.input;
        output_tokens += g.tokens.output;
    }
    let currency = if amounts.contains_key("USD") || amounts.is_empty() {
        "USD".to_string()
    } else {
        amounts.keys().next().cloned().unwrap_or_default()
    };
    let by = |key: fn(&SelectionGroup) -> String| -> Result<Map<String, Value>, ApiError> {
        struct Acc {
            calls: i64,
            input: i64,
            output: i64,
            amounts: BTreeMap<String, Nanos>,
        }
        let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
        for g in groups {
            let a = acc.entry(key(g)).or_insert(Acc {
                calls: 0,
                input: 0,
                output: 0,
                amounts: BTreeMap::new(),
            });
            a.calls += g.calls;
            a.input += g.tokens.input;
            a.output += g.tokens.output;
            let c = a
                .amounts
                .entry(g.currency.as_str().to_string())
                .or_insert(Nanos::ZERO);
            *c = add(*c, g.cost)?;
        }
        Ok(acc
            .into_iter()
            .map(|(k, a)| {
                let primary = a.amounts.get(&currency).copied().unwrap_or(Nanos::ZERO);
                let amounts: Map<String, Value> = a
                    .amounts
                    .iter()
                    .map(|(c, n)| (c.clone(), Value::String(n.to_string())))
                    .collect();
                let v = json!({
                    "calls": a.calls,
                    "tokens": a.input + a.output,
                    "input_tokens": a.input,
                    "output_tokens": a.output,
                    "cost": primary.to_f64(),
                    "amounts": amounts,
                });
                (k, v)
            })
            .collect())
    };
    let by_model = by(|g| g.model.clone())?;
    let by_alias = by(|g| g.alias.clone().unwrap_or_else(|| "default".into()))?;
    Ok(Summary {
        input_tokens,
        output_tokens,
        currency,
        amounts,
        by_model,
        by_alias,
    })
}

impl Summary {
    fn primary(&self) -> (Nanos, Nanos) {
        self.amounts
            .get(&self.currency)
            .copied()
            .unwrap_or((Nanos::ZERO, Nanos::ZERO))
    }

    /// `{currency: {input_cost, output_cost, total_cost}}` as exact decimal strings.
    fn amounts_json(&self) -> Value {
        let m: Map<String, Value> = self
            .amounts
            .iter()
            .map(|(c, (input, total))| {
                let output = Nanos(total.0 - input.0);
                (
                    c.clone(),
                    json!({
                        "input_cost": input.to_string(),
                        "output_cost": output.to_string(),
                        "total_cost": total.to_string(),
                    }),
                )
            })
            .collect();
        Value::Object(m)
    }
}

fn receipt_type(count: i64) -> &'static str {
    if count == 1 {
        "single"
    } else {
        "batch"
    }
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

/// `POST /api/v1/receipts/preview`: the numbers a receipt would carry; nothing is signed or
/// stored.
pub async fn preview(state: &AppState, tenant: &str, chosen: &Chosen) -> Result<Value, ApiError> {
    let sel = select(state, tenant, chosen, false).await?;
    if sel.count == 0 {
        return Ok(json!({
            "total_logs": 0,
            "total_cost": 0.0,
            "total_tokens": 0,
            "message": "No logs found matching the criteria",
        }));
    }
    let s = summarize(&sel.groups)?;
    Ok(json!({
        "total_logs": sel.count,
        "total_conversations": sel.conversation_ids.len(),
        "total_tokens": s.input_tokens + s.output_tokens,
        "total_cost": s.primary().1.to_f64(),
        "currency": s.currency,
        "amounts": s.amounts_json(),
        "start_date": sel.first_us.map(format_us),
        "end_date": sel.last_us.map(format_us),
        "by_model": s.by_model,
        "by_alias": s.by_alias,
        "receipt_type": receipt_type(sel.count),
        "selection": chosen.described,
        "log_size": sel.log_size,
    }))
}

/// `POST /api/v1/receipts/generate`: selects, signs and stores a receipt in one
/// transaction. Returns the receipt and how many logs it certifies.
pub async fn generate(
    state: &AppState,
    tenant: &str,
    chosen: &Chosen,
    description: Option<String>,
    tags: Vec<String>,
) -> Result<(Value, i64), ApiError> {
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
        let mut doc = document(
            &sel,
            DocumentParts {
                id: &id,
                tenant,
                issued_us,
                key_id: &key_id,
                root: &root,
                checkpoint: &checkpoint,
                origin: &origin(state, tenant),
                chosen,
                description: description.as_deref(),
                tags: &tags,
                inline,
            },
        )?;
        let signature = sign_document(&doc, &key).map_err(ApiError::internal)?;
        doc[SIGNATURE_MEMBER] = Value::String(signature);
        let stored = state
            .store()
            .insert_receipt(&NewReceipt {
                tenant_id: tenant.to_string(),
                id,
                issued_us,
                receipt_type: receipt_type(sel.count).to_string(),
                key_id,
                count: sel.count,
                root,
                tiles,
                tags: tags.clone(),
                document: doc.to_string(),
                ranges: sel.ranges.clone(),
                since_version: matches!(chosen.selection, Selection::Uncertified)
                    .then_some(sel.certified_version),
            })
            .await;
        match stored {
            Ok(()) => {
                state.metrics().receipt_issued(sel.count);
                return Ok((doc, sel.count));
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

struct DocumentParts<'a> {
    id: &'a str,
    tenant: &'a str,
    issued_us: i64,
    key_id: &'a str,
    root: &'a Hash,
    checkpoint: &'a StoredCheckpoint,
    origin: &'a str,
    chosen: &'a Chosen,
    description: Option<&'a str>,
    tags: &'a [String],
    inline: usize,
}

fn document(sel: &SelectedLogs, p: DocumentParts<'_>) -> Result<Value, ApiError> {
    let s = summarize(&sel.groups)?;
    let (input, total) = s.primary();
    let (provider, model, alias) = match sel.newest.clone() {
        Some(n) => (n.provider, n.model, n.alias),
        None => ("unknown".into(), "unknown".into(), None),
    };
    let model = if sel.count == 1 {
        model
    } else {
        format!("batch:{} calls", sel.count)
    };
    let log_ids: Vec<&Uuid> = sel.log_ids.iter().take(p.inline).collect();
    let conversation_ids: Vec<&Uuid> = sel.conversation_ids.iter().take(p.inline).collect();
    Ok(json!({
        "receipt_id": p.id,
        "timestamp": format_us(p.issued_us),
        "alias": alias.unwrap_or_else(|| "default".into()),
        "profile": "default",
        "lock_digest": "",
        "provider": provider,
        "model": model,
        "prompt_tokens": s.input_tokens,
        "completion_tokens": s.output_tokens,
        "total_tokens": s.input_tokens + s.output_tokens,
        "input_cost": input.to_f64(),
        "output_cost": Nanos(total.0 - input.0).to_f64(),
        "total_cost": total.to_f64(),
        "receipt_type": receipt_type(sel.count),
        "description": p.description,
        "tags": if p.tags.is_empty() { Value::Null } else { json!(p.tags) },
        "batch_summary": {
            "total_conversations": sel.conversation_ids.len(),
            "total_calls": sel.count,
            "total_tokens": s.input_tokens + s.output_tokens,
            "total_cost": total.to_f64(),
            "start_date": sel.first_us.map(format_us),
            "end_date": sel.last_us.map(format_us),
            "by_model": s.by_model,
            "by_alias": s.by_alias,
            "conversation_ids": conversation_ids,
            "conversation_ids_complete": sel.conversation_ids.len() <= p.inline,
            "log_ids": log_ids,
            "log_ids_complete": sel.log_ids.len() <= p.inline,
        },
        "format": FORMAT,
        "tenant_id": p.tenant,
        "key_id": p.key_id,
        "currency": s.currency,
        "amounts": s.amounts_json(),
        "selection": p.chosen.described,
        "certified": {
            "count": sel.count,
            "merkle_root": b64(p.root),
            "tree": "RFC 6962 SHA-256 over the logs' canonical entries, in log (seq) order",
        },
        "checkpoint": {
            "origin": p.origin,
            "size": p.checkpoint.size,
            "root": b64(p.checkpoint.root),
        },
    }))
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

/// Checks a receipt's signature and, for the tenant's own stored receipts, its commitment.
pub async fn verify(
    state: &AppState,
    doc: &Value,
    tenant: Option<&str>,
) -> Result<Verdict, ApiError> {
    let signature = match doc.get("key_id").and_then(Value::as_str) {
        None => Err("the receipt has no key_id; it was not issued by Tollgate".to_string()),
        Some(key_id) => match state.signer().public_key(key_id).await? {
            None => Err(format!("no key with id {key_id} has signed here")),
            Some(key) => verify_document(doc, &key).map_err(|e| e.to_string()),
        },
    };
    let id = doc.get("receipt_id").and_then(Value::as_str);
    let commitment = match (tenant, id) {
        (Some(tenant), Some(id)) => match state.store().get_receipt(tenant, id).await? {
            None => None,
            Some(stored) => Some(check_commitment(state, tenant, &stored, doc).await?),
        },
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
    doc: &Value,
) -> Result<Result<(), String>, ApiError> {
    let claimed_root = doc
        .pointer("/certified/merkle_root")
        .and_then(Value::as_str);
    let claimed_count = doc.pointer("/certified/count").and_then(Value::as_i64);
    if claimed_root != Some(b64(stored.root).as_str()) || claimed_count != Some(stored.count) {
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
