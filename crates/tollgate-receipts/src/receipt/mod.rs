//! The receipt: what a signed statement about a set of tenant-log entries says, as a type.
//!
//! A receipt keeps every field llmring's client reads (its floats included) and adds what
//! makes it checkable: the exact amounts as decimal strings, the tenant, the signing key's
//! id, the set commitment (how many entries, and the RFC 6962 Merkle root over their leaf
//! hashes in log order) and the tenant-log checkpoint at issue time. [`build`] makes one
//! from what the store read of the certified entries; the signature covers the RFC 8785 form
//! of the whole receipt except `signature`.
//!
//! The members of every type here are declared in sorted order: that is the order the
//! server has always written them in (a `serde_json` object sorts its keys), so a receipt
//! read and written again is the same text, byte for byte, and every receipt issued before
//! this type existed reads into it and verifies unchanged.
//!
//! Formats, each a change to what the signature covers, so each has its own name:
//! - `tollgate.receipt/v1` receipts carry the constants `profile: "default"` and
//!   `lock_digest: ""`;
//! - from `tollgate.receipt/v2` on, both say what the certified events recorded (see
//!   [`Recorded`]);
//! - from `tollgate.receipt/v3` on, the receipt states how many certified events were
//!   recorded unpriced (`unpriced_events`, and `unpriced_calls` in every breakdown), since
//!   their cost of zero is in the totals. The members are present even when zero: their
//!   absence means "not stated" (a v1 or v2 receipt), never "none";
//! - from `tollgate.receipt/v4` on, `batch_summary.by_dimension` breaks the calls down by
//!   each dimension they recorded (`kb_id` and the deployment's custom dimensions), value by
//!   value. It is present even when empty: its absence means "not stated".
//!
//! Every format verifies the same way: the signature covers the document as it is, so a
//! receipt of an earlier format, which simply lacks the later members, keeps verifying.

mod build;
mod sign;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use build::{
    build, decimal, float, CertifiedEntries, EntryGroup, Issue, Newest, ReceiptError, Totals,
};
pub use sign::ReceiptDocument;

/// The receipt format this crate issues.
pub const FORMAT: &str = FORMAT_V4;
/// The first format: `profile` and `lock_digest` are constants, not what the events recorded.
pub const FORMAT_V1: &str = "tollgate.receipt/v1";
/// The second format: `profile` and `lock_digest` say what the events recorded; how many
/// events are unpriced is not stated.
pub const FORMAT_V2: &str = "tollgate.receipt/v2";
/// The third format: states how many certified events are unpriced (`unpriced_events`, and
/// `unpriced_calls` per breakdown).
pub const FORMAT_V3: &str = "tollgate.receipt/v3";
/// The fourth format: also breaks the calls down by dimension (`batch_summary.by_dimension`).
pub const FORMAT_V4: &str = "tollgate.receipt/v4";

/// Whether a receipt of `format` states how many of its events are unpriced: every format
/// but the two that came before the count (an unknown, later format is taken to keep it).
pub fn states_unpriced(format: &str) -> bool {
    format != FORMAT_V1 && format != FORMAT_V2
}
/// What `certified.tree` says the Merkle root is computed over.
pub const TREE: &str = "RFC 6962 SHA-256 over the logs' canonical entries, in log (seq) order";

/// A signed receipt of usage. llmring's `BatchReceipt` fields (its 13 base fields,
/// `receipt_type`, `description`, `tags`, `batch_summary`, `signature`) with their llmring
/// types, plus Tollgate's: `format`, `tenant_id`, `key_id`, `currency`, `amounts`,
/// `selection`, `certified`, `checkpoint` and (from v3) `unpriced_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// The alias of the newest certified call (`default` when it had none).
    pub alias: String,
    /// Exact totals per currency.
    pub amounts: BTreeMap<String, ReceiptAmounts>,
    /// Counts, dates and breakdowns of the certified calls.
    pub batch_summary: BatchSummary,
    /// The set commitment: how many logs, and their Merkle root.
    pub certified: CertifiedSet,
    /// The tenant-log checkpoint at issue time.
    pub checkpoint: CheckpointRef,
    /// Output tokens of the certified calls.
    pub completion_tokens: i64,
    /// The currency of the llmring floats (`USD` when any call was in USD).
    #[schema(example = "USD")]
    pub currency: String,
    /// The description asked for at generation, signed with the receipt.
    pub description: Option<String>,
    /// The receipt format (`tollgate.receipt/v4`; `v3` receipts have no
    /// `batch_summary.by_dimension`, `v2` receipts also do not state `unpriced_events`, and
    /// `v1` receipts also carry constant `profile` and `lock_digest`).
    #[schema(example = "tollgate.receipt/v4")]
    pub format: String,
    /// The input side of the total, as llmring's float.
    pub input_cost: f64,
    /// The id of the key that signed the receipt (`/receipts/public-keys.json` lists it).
    #[schema(example = "key_7ebd3a0ed976ed55")]
    pub key_id: String,
    /// The llmring lockfile digest the certified calls recorded: one string when they agree
    /// (`""` when none recorded one), else the sorted distinct values (`""` for calls without
    /// one).
    pub lock_digest: Recorded,
    /// The model of a single call, or `batch:<N> calls`.
    pub model: String,
    /// The output side of the total, as llmring's float.
    pub output_cost: f64,
    /// The llmring profile the certified calls recorded: one string when they agree, else the
    /// sorted distinct profiles.
    pub profile: Recorded,
    /// Input tokens of the certified calls.
    pub prompt_tokens: i64,
    /// The provider of the newest certified call.
    pub provider: String,
    /// The receipt's id.
    #[schema(example = "rcpt_01m93398rre5ya9d69syd0nysx")]
    pub receipt_id: String,
    /// `single` when it certifies one call, else `batch`.
    pub receipt_type: ReceiptType,
    /// How the certified logs were chosen.
    pub selection: SelectionRecord,
    /// `ed25519:` and the unpadded base64url Ed25519 signature over the RFC 8785 form of
    /// every other member; absent before signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "ed25519:s4h7luj_Mf1glEvCXlwGAYTcPhZY_TrKchrhFa62fqFnnDLNRoVh5tbMKmbM8MbgFSPQ3cooWHwTaz4IB8GpCA"
    )]
    pub signature: Option<String>,
    /// The tags asked for at generation, signed with the receipt; null when none.
    pub tags: Option<Vec<String>>,
    /// The tenant whose logs it certifies.
    #[schema(example = "tnt_01m93398nte3mtqcvb4fknvsar")]
    pub tenant_id: String,
    /// When it was issued.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The total cost, as llmring's float (the exact amount is in `amounts`).
    pub total_cost: f64,
    /// Input and output tokens.
    pub total_tokens: i64,
    /// How many of the certified events were recorded unpriced (no price known and no cost
    /// sent): they are in the totals at zero. Present from `tollgate.receipt/v3` on, zero
    /// included; absent from earlier receipts, which do not state it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced_events: Option<i64>,
}

/// `single` (one call) or `batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptType {
    /// Exactly one call.
    Single,
    /// Any other number of calls.
    Batch,
}

impl ReceiptType {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptType::Single => "single",
            ReceiptType::Batch => "batch",
        }
    }

    /// The type of a receipt certifying `count` calls.
    pub fn of(count: i64) -> ReceiptType {
        if count == 1 {
            ReceiptType::Single
        } else {
            ReceiptType::Batch
        }
    }
}

/// What a set of events recorded for one label: the value when they agree, else the sorted
/// distinct values. A single value stays a plain string, the type llmring's client requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Recorded {
    /// Every event recorded this value.
    One(String),
    /// The events recorded these values (sorted, distinct, at least two).
    Several(Vec<String>),
}

impl Recorded {
    /// The value when `values` hold one distinct value (or none: then `""`), else the sorted
    /// distinct values.
    pub fn of(values: impl IntoIterator<Item = String>) -> Recorded {
        let mut distinct: Vec<String> = values.into_iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        match distinct.len() {
            0 => Recorded::One(String::new()),
            1 => Recorded::One(distinct.remove(0)),
            _ => Recorded::Several(distinct),
        }
    }

    /// Every value, in order.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Recorded::One(v) => vec![v.as_str()],
            Recorded::Several(all) => all.iter().map(String::as_str).collect(),
        }
    }
}

impl std::fmt::Display for Recorded {
    /// The value, or the values joined by `, `.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.values().join(", "))
    }
}

/// Exact amounts in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptAmounts {
    /// The input side.
    #[schema(format = "decimal", example = "0.003147350")]
    pub input_cost: String,
    /// The output side (the total less the input side).
    #[schema(format = "decimal", example = "0.018300600")]
    pub output_cost: String,
    /// The total.
    #[schema(format = "decimal", example = "0.021447950")]
    pub total_cost: String,
}

/// llmring's `batch_summary`, with Tollgate's exact amounts in the breakdowns and whether
/// the id lists are complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchSummary {
    /// Per alias (`default` for calls without one).
    pub by_alias: BTreeMap<String, ReceiptBreakdown>,
    /// Per dimension the calls recorded, then per value (calls without the dimension are not
    /// under it). Present from `tollgate.receipt/v4` on, empty when no call recorded one;
    /// absent from earlier receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!({"kb_id": {"kb_1": {"amounts": {"USD": "0.000022500"}, "calls": 1, "cost": 0.0000225, "input_tokens": 10, "output_tokens": 5, "tokens": 15, "unpriced_calls": 0}}}))]
    pub by_dimension: Option<BTreeMap<String, BTreeMap<String, ReceiptBreakdown>>>,
    /// Per model.
    pub by_model: BTreeMap<String, ReceiptBreakdown>,
    /// The first conversations the certified calls belong to (up to the server's inline cap).
    pub conversation_ids: Vec<String>,
    /// Whether `conversation_ids` lists every conversation.
    pub conversation_ids_complete: bool,
    /// The latest call time.
    #[schema(format = DateTime)]
    pub end_date: String,
    /// The first certified log ids in log order (up to the server's inline cap).
    pub log_ids: Vec<String>,
    /// Whether `log_ids` lists every certified log.
    pub log_ids_complete: bool,
    /// The earliest call time.
    #[schema(format = DateTime)]
    pub start_date: String,
    /// Certified calls.
    pub total_calls: i64,
    /// Distinct conversations.
    pub total_conversations: i64,
    /// The total cost, as llmring's float.
    pub total_cost: f64,
    /// Input and output tokens.
    pub total_tokens: i64,
}

/// The calls of one model or alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptBreakdown {
    /// Exact cost per currency.
    pub amounts: BTreeMap<String, String>,
    /// Calls.
    pub calls: i64,
    /// Cost in the receipt's `currency`, as llmring's float.
    pub cost: f64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Input and output tokens.
    pub tokens: i64,
    /// How many of the calls were recorded unpriced, at zero cost. Present from
    /// `tollgate.receipt/v3` on (and in every preview); absent from earlier receipts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced_calls: Option<i64>,
}

/// The set commitment: which logs the receipt certifies, fixed by their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertifiedSet {
    /// How many logs.
    pub count: i64,
    /// Base64 RFC 6962 Merkle root over their leaf hashes, in log order.
    #[schema(format = Byte, example = "pdGhDftnUOLavCfF7BfSkGMAZTZtdxrTIRdx2OnRxGY=")]
    pub merkle_root: String,
    /// What the root is computed over.
    pub tree: String,
}

/// The tenant-log checkpoint at issue time (`GET /api/v1/transparency/checkpoint?size=`
/// serves it signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointRef {
    /// The log's origin line.
    #[schema(example = "tollgate/tnt_01m93398nte3mtqcvb4fknvsar")]
    pub origin: String,
    /// Base64 root of the log at `size`.
    #[schema(format = Byte, example = "pdGhDftnUOLavCfF7BfSkGMAZTZtdxrTIRdx2OnRxGY=")]
    pub root: String,
    /// The log's size.
    pub size: i64,
}

/// How a receipt's logs were chosen, with the mode's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SelectionRecord {
    /// `conversation`: the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "uuid")]
    pub conversation_id: Option<String>,
    /// `date_range`: the last instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub end_date: Option<String>,
    /// The mode.
    pub mode: SelectionMode,
    /// `log_ids`: how many ids were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    /// `date_range`: the first instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub start_date: Option<String>,
}

/// The selection modes, in the order the first that applies wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMode {
    /// Every call of one conversation.
    Conversation,
    /// Every call in a time range.
    DateRange,
    /// Calls by id.
    LogIds,
    /// Every call no receipt certified yet.
    SinceLastReceipt,
}

impl SelectionRecord {
    /// Every call of `conversation_id`.
    pub fn conversation(conversation_id: String) -> SelectionRecord {
        SelectionRecord {
            conversation_id: Some(conversation_id),
            ..Self::mode(SelectionMode::Conversation)
        }
    }

    /// Every call from `start_date` to `end_date`, both RFC 3339.
    pub fn date_range(start_date: String, end_date: String) -> SelectionRecord {
        SelectionRecord {
            start_date: Some(start_date),
            end_date: Some(end_date),
            ..Self::mode(SelectionMode::DateRange)
        }
    }

    /// `requested` calls by id.
    pub fn log_ids(requested: i64) -> SelectionRecord {
        SelectionRecord {
            requested: Some(requested),
            ..Self::mode(SelectionMode::LogIds)
        }
    }

    /// Every call no receipt certified yet.
    pub fn since_last_receipt() -> SelectionRecord {
        Self::mode(SelectionMode::SinceLastReceipt)
    }

    fn mode(mode: SelectionMode) -> SelectionRecord {
        SelectionRecord {
            conversation_id: None,
            end_date: None,
            mode,
            requested: None,
            start_date: None,
        }
    }
}

impl CheckpointRef {
    /// The reference to the checkpoint of `origin` at `size` with `root`.
    pub fn new(origin: String, size: i64, root: &crate::Hash) -> CheckpointRef {
        CheckpointRef {
            origin,
            root: build::b64(root),
            size,
        }
    }
}

#[cfg(test)]
mod tests;
