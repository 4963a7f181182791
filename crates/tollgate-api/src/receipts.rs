//! The receipt routes (`/api/v1/receipts/…`, llmring's shapes plus Tollgate's members):
//! generating and previewing a receipt, listing and reading receipts, the logs one certifies
//! and a log's inclusion proof, and verifying a receipt.
//!
//! The receipt itself is [`tollgate_receipts::Receipt`], re-exported here: it is built and
//! signed in that crate. The wire carries it as a [`ReceiptDocument`]: the JSON as it was
//! signed (which is what a verifier checks) with its typed reading; its schema is `Receipt`. Like the receipt, every
//! type here declares its members in sorted order, the order the server has always sent them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::usage::{LogEntry, LogSource};

pub use tollgate_receipts::receipt::{
    BatchSummary, CertifiedSet, CheckpointRef, Receipt, ReceiptAmounts, ReceiptBreakdown,
    ReceiptDocument, ReceiptType, Recorded, SelectionMode, SelectionRecord,
};

/// Body of `generate` and `preview` (llmring's `ReceiptGenerationRequest`); any other member
/// is refused (422 naming it). The first selection that applies wins: conversation, date
/// range (both ends), a non-empty id list, then uncertified. Members left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// Every log of one conversation (a UUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uuid")]
    pub conversation_id: Option<String>,
    /// With `end_date`: the logs of a range (a date or RFC 3339 instant; no offset means UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-02-01")]
    pub start_date: Option<String>,
    /// With `start_date`; a date alone means the end of that day.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-02-28")]
    pub end_date: Option<String>,
    /// These logs, by id (at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_ids: Option<Vec<String>>,
    /// Every log no receipt certifies yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub since_last_receipt: bool,
    /// A description, signed with the receipt (at most 2,000 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags, signed with the receipt (at most 32, each 1 to 64 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// `POST /api/v1/receipts/generate`: the signed receipt, as stored, and how many logs it
/// certifies.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GeneratedReceipt {
    /// How many logs the receipt certifies.
    pub certified_count: i64,
    /// The signed receipt.
    pub receipt: ReceiptDocument,
}

/// `POST /api/v1/receipts/preview`: what a receipt of the selection would certify.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PreviewAnswer {
    /// The selection holds logs.
    Found(Box<ReceiptPreview>),
    /// The selection holds none.
    Empty(EmptyPreview),
}

/// The numbers a receipt of the selection would carry; nothing is signed or stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptPreview {
    /// Exact totals per currency.
    pub amounts: std::collections::BTreeMap<String, ReceiptAmounts>,
    /// Per alias (`default` for calls without one).
    pub by_alias: std::collections::BTreeMap<String, ReceiptBreakdown>,
    /// Per dimension the calls recorded, then per value (as the receipt will state it).
    pub by_dimension:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, ReceiptBreakdown>>,
    /// Per model.
    pub by_model: std::collections::BTreeMap<String, ReceiptBreakdown>,
    /// The currency of the floats.
    #[schema(example = "USD")]
    pub currency: String,
    /// The latest call time.
    #[schema(format = DateTime)]
    pub end_date: Option<String>,
    /// The tenant log's size the selection was read at.
    pub log_size: i64,
    /// `single` or `batch`.
    pub receipt_type: ReceiptType,
    /// How the logs were chosen.
    pub selection: SelectionRecord,
    /// The earliest call time.
    #[schema(format = DateTime)]
    pub start_date: Option<String>,
    /// Distinct conversations.
    pub total_conversations: i64,
    /// The total, as llmring's float.
    pub total_cost: f64,
    /// Logs selected.
    pub total_logs: i64,
    /// Input and output tokens.
    pub total_tokens: i64,
    /// How many of the selected logs were recorded unpriced: in the totals at zero. The
    /// receipt states the same count (`unpriced_events`).
    pub unpriced_events: i64,
}

/// A preview of a selection that holds no logs (llmring's answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmptyPreview {
    /// `No logs found matching the criteria`.
    pub message: String,
    /// `0.0`.
    pub total_cost: f64,
    /// `0`.
    pub total_logs: i64,
    /// `0`.
    pub total_tokens: i64,
}

/// `?limit&offset` of the receipt and log listings, as llmring bounds them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many, 1 to 1000 (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Receipts only: those carrying this tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `GET /api/v1/receipts`: receipts, newest first, each as issued.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptList {
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
    /// The page, each receipt as it was signed.
    pub receipts: Vec<ReceiptDocument>,
    /// Receipts in all (with the tag, when one was given).
    pub total: i64,
}

/// A log as llmring's uncertified and receipt-log listings show it: the log as
/// `GET /api/v1/logs` lists it (its `alias` `default` when the call had none), with llmring's
/// `timestamp` and `type`, and in a receipt's listing its leaf index and canonical entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListedLog {
    /// The log.
    #[serde(flatten)]
    pub log: LogEntry,
    /// When the call happened (llmring's name for `logged_at`).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// llmring's `conversation` or `usage` (the same as `source`).
    #[serde(rename = "type")]
    pub log_type: LogSource,
    /// Receipt logs only: its leaf index in the receipt's Merkle tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// Receipt logs only: the canonical entry (RFC 8785 JSON) its leaf hash covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// `GET /api/v1/receipts/uncertified`: logs no receipt certifies yet, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UncertifiedLogs {
    /// The page size used.
    pub limit: i64,
    /// The page.
    pub logs: Vec<ListedLog>,
    /// The offset used.
    pub offset: i64,
    /// Uncertified logs in all.
    pub total: i64,
}

/// A log a receipt certifies: live, or archived by retention.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CertifiedLog {
    /// In the live table, with its `entry` and `index`.
    Live(Box<ListedLog>),
    /// Moved to an archive file; what stays is enough to prove it.
    Archived(ArchivedLog),
}

/// A certified log retention moved to an archive file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchivedLog {
    /// The archive holding its entry (`<yyyy-mm>-<first seq>`).
    pub archived: String,
    /// Always null: the entry is in the archive file.
    pub entry: Option<String>,
    /// The log id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Its leaf index in the receipt's Merkle tree.
    pub index: i64,
    /// Base64 SHA-256(0x00 || entry).
    #[schema(format = Byte)]
    pub leaf_hash: String,
    /// Position in the tenant's log.
    pub seq: i64,
}

/// `GET /api/v1/receipts/{id}/logs`: the logs a receipt certifies, in leaf order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptLogs {
    /// The page size used.
    pub limit: i64,
    /// The page.
    pub logs: Vec<CertifiedLog>,
    /// The offset used.
    pub offset: i64,
    /// The receipt.
    pub receipt_id: String,
    /// Logs the receipt certifies.
    pub total: i64,
}

/// `?log_id=` of a receipt proof.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The log (a UUID); required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
}

/// `GET /api/v1/receipts/{id}/proof`: one log's inclusion proof (RFC 6962) in the receipt's
/// Merkle root. A verifier takes the root and size from the signed receipt, not from here.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptProof {
    /// The log's canonical entry; null once retention archived it.
    pub entry: Option<String>,
    /// The log's leaf index in the receipt's set.
    pub index: i64,
    /// Base64 SHA-256(0x00 || entry).
    #[schema(format = Byte)]
    pub leaf_hash: String,
    /// The log.
    #[schema(format = "uuid")]
    pub log_id: String,
    /// Base64 sibling hashes from the leaf up.
    pub proof: Vec<String>,
    /// The receipt.
    pub receipt_id: String,
    /// Base64 Merkle root of the receipt's set.
    #[schema(format = Byte)]
    pub root: String,
    /// Position in the tenant's log.
    pub seq: i64,
    /// How many logs the receipt certifies.
    pub size: i64,
}

/// Body of `POST /api/v1/receipts/verify`. The server reads it as received (strictly, every
/// member kept), since the signature covers members a reader might not know.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyReceiptRequest {
    /// A stored receipt of the caller's tenant, by id (needs the owner's key).
    Stored {
        /// The receipt's id.
        receipt_id: String,
    },
    /// A receipt under `receipt`.
    Wrapped {
        /// The receipt.
        receipt: Box<Receipt>,
    },
    /// A bare receipt, as llmring posts it.
    Bare(Box<Receipt>),
}

/// `POST /api/v1/receipts/verify`: llmring's answer plus what was checked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptVerification {
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    pub algorithm: String,
    /// Whether the set commitment matches the stored logs; null when not checked (no
    /// credentials, or not the caller's receipt).
    pub commitment_valid: Option<bool>,
    /// The key the receipt names.
    pub key_id: Option<String>,
    /// Why it is not valid; null when it is.
    pub reason: Option<String>,
    /// The receipt's id.
    pub receipt_id: Option<String>,
    /// Whether the signature matches the key named by `key_id`.
    pub signature_valid: bool,
    /// The signature holds and, when checked, so does the commitment.
    pub valid: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_receipt_request_sends_no_selection() {
        let body = serde_json::to_value(ReceiptRequest::default()).expect("serializes");
        assert_eq!(body, serde_json::json!({}));
        let since = ReceiptRequest {
            since_last_receipt: true,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(since).expect("serializes"),
            serde_json::json!({"since_last_receipt": true})
        );
    }

    #[test]
    fn a_receipt_request_with_an_unknown_member_is_refused() {
        let refused = serde_json::from_value::<ReceiptRequest>(serde_json::json!({"tag": ["x"]}));
        assert!(refused.is_err());
    }
}
