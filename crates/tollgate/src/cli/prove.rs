//! `tollgate receipts prove ID --log-id X`: fetches a receipt and one log's inclusion proof
//! and checks, without trusting the proof's own claims, that the log is in the set the
//! receipt's signature covers: the proof must lead from the entry's leaf hash to the
//! receipt's `certified.merkle_root` at `certified.count`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use serde::Deserialize;
use tollgate_api::receipts::{Receipt, ReceiptProof};
use tollgate_client::ClientError;
use tollgate_receipts::merkle::{leaf_hash, verify_inclusion, Hash};

use super::checks::{finish, Report};
use super::trust;
use super::usage::ClientArgs;

/// Proves that a receipt certifies one log.
#[derive(Debug, Args)]
pub struct Prove {
    /// Receipt id (`rcpt_…`).
    #[arg(value_parser = super::args::receipt_id)]
    id: String,
    /// The log to prove.
    #[arg(long, value_name = "ID")]
    log_id: String,
    #[command(flatten)]
    client: ClientArgs,
    /// Check the receipt's signature with this public key (SPKI PEM) instead of the
    /// server's published keys.
    #[arg(long, value_name = "PEM_FILE")]
    public_key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn hash_of(text: &str) -> Option<Hash> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// The member of a canonical entry that names its log.
#[derive(Deserialize)]
struct EntryLog {
    log_id: Option<String>,
}

impl Prove {
    /// Checks the proof and prints the report; exit 0 valid, 1 not, 2 could not check.
    pub async fn run(self) -> ExitCode {
        let as_json = self.json;
        finish(self.check().await, as_json)
    }

    async fn check(self) -> anyhow::Result<Report> {
        let client = self.client.client()?;
        let receipt = client
            .receipt(&self.id)
            .await
            .with_context(|| format!("cannot fetch receipt {}", self.id))?;
        let trusted = match &self.public_key {
            Some(path) => trust::key_from_file(path)?,
            None => trust::receipt_key_from_server(client.base(), &receipt.receipt.key_id).await?,
        };
        let mut report = Report::default();
        report.with("receipt_id", &self.id);
        report.with("log_id", &self.log_id);
        trust::check_signature(&mut report, &receipt, &trusted);
        if receipt.receipt.receipt_id != self.id {
            report.fail(
                "receipt",
                format!(
                    "asked for {} but got {}",
                    self.id, receipt.receipt.receipt_id
                ),
            );
        }
        let proof = match client.receipt_proof(&self.id, &self.log_id).await {
            Ok(p) => p,
            Err(ClientError::Api { code, message, .. }) if code == "NOT_CERTIFIED" => {
                report.fail("inclusion", format!("the server says: {message}"));
                return Ok(report);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot fetch the proof of {}", self.log_id))
            }
        };
        report.with("proof", &proof);
        check_proof(&mut report, &receipt.receipt, &proof, &self.log_id);
        Ok(report)
    }
}

fn check_proof(report: &mut Report, receipt: &Receipt, proof: &ReceiptProof, log_id: &str) {
    // An archived log's entry is in its archive file, not served: its leaf hash (which a line
    // of the archive file carries beside the entry) is what the proof leads from.
    let leaf = match &proof.entry {
        None => {
            let Some(leaf) = hash_of(&proof.leaf_hash) else {
                report.fail(
                    "leaf hash",
                    "the proof has neither an entry nor a leaf hash",
                );
                return;
            };
            report.pass(
                "entry",
                format!(
                    "log {log_id} is archived; its entry is in the archive file, under leaf hash {}",
                    STANDARD.encode(leaf)
                ),
            );
            leaf
        }
        Some(entry) => check_entry(report, entry, &proof.leaf_hash, log_id),
    };
    check_inclusion(report, receipt, proof, leaf);
}

/// Checks the proof's entry names the log and hashes to its leaf hash; returns that hash.
fn check_entry(report: &mut Report, entry: &str, claimed_leaf: &str, log_id: &str) -> Hash {
    let named = serde_json::from_str::<EntryLog>(entry)
        .ok()
        .and_then(|e| e.log_id);
    if named
        .as_deref()
        .is_some_and(|id| id.eq_ignore_ascii_case(log_id.trim()))
    {
        report.pass("entry", format!("the canonical entry of log {log_id}"));
    } else {
        report.fail(
            "entry",
            format!("the proof's entry is not log {log_id} (it names {named:?})"),
        );
    }

    let leaf = leaf_hash(entry.as_bytes());
    let leaf_b64 = STANDARD.encode(leaf);
    if claimed_leaf == leaf_b64 {
        report.pass("leaf hash", leaf_b64.clone());
    } else {
        report.fail(
            "leaf hash",
            format!("the entry hashes to {leaf_b64}; the proof says {claimed_leaf:?}"),
        );
    }
    leaf
}

/// Checks the proof leads from `leaf` to the receipt's own root.
fn check_inclusion(report: &mut Report, receipt: &Receipt, proof: &ReceiptProof, leaf: Hash) {
    let root = hash_of(&receipt.certified.merkle_root);
    let size = u64::try_from(receipt.certified.count).ok();
    let index = u64::try_from(proof.index).ok();
    let path: Option<Vec<Hash>> = proof.proof.iter().map(|h| hash_of(h)).collect();
    let (Some(root), Some(size), Some(index), Some(path)) = (root, size, index, path) else {
        report.fail(
            "inclusion",
            "the receipt's certified.merkle_root or certified.count is unusable, or the proof's \
             index or hashes are not a position and base64 hashes",
        );
        return;
    };
    let claimed = (proof.size, proof.root.as_str());
    let aside = if claimed != (receipt.certified.count, STANDARD.encode(root).as_str()) {
        " (the proof response claims another tree; it was not used)"
    } else {
        ""
    };
    match verify_inclusion(&leaf, index, size, &path, &root) {
        Ok(()) => report.pass(
            "inclusion",
            format!(
                "leaf {index} of {size}, {} hashes, leads to the receipt's root{aside}",
                path.len()
            ),
        ),
        Err(e) => report.fail(
            "inclusion",
            format!("leaf {index} of {size} against the receipt's root: {e}{aside}"),
        ),
    }
}
