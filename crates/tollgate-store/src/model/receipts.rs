//! Receipts, their selections and certified logs, checkpoints and signing keys.

use tollgate_core::{Currency, Nanos, TokenCounts};
use uuid::Uuid;

use super::usage::StoredEvent;

/// A run of consecutive log positions, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First position.
    pub start: i64,
    /// One past the last position.
    pub end: i64,
}

impl SeqRange {
    /// How many positions it holds.
    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Compresses ascending, distinct positions into runs.
    pub fn runs(seqs: impl IntoIterator<Item = i64>) -> Vec<SeqRange> {
        let mut out: Vec<SeqRange> = Vec::new();
        for s in seqs {
            match out.last_mut() {
                Some(r) if r.end == s => r.end += 1,
                _ => out.push(SeqRange {
                    start: s,
                    end: s + 1,
                }),
            }
        }
        out
    }
}

/// Which logs a receipt certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every call of one conversation.
    Conversation(Uuid),
    /// Every call whose time is in `[start_us, end_us]`.
    TimeRange {
        /// First instant.
        start_us: i64,
        /// Last instant (inclusive).
        end_us: i64,
    },
    /// These logs (ids of another tenant, or unknown, match nothing).
    LogIds(Vec<Uuid>),
    /// Every log no receipt certifies yet.
    Uncertified,
}

/// What [`Store::select_logs`](crate::Store::select_logs) should gather besides totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectOptions {
    /// Read every selected log's position and leaf hash (generation; a preview needs none).
    pub leaf_hashes: bool,
    /// How many log ids to list, in log order.
    pub inline_ids: usize,
}

/// Totals of the selected logs that share provider, model, alias, currency and dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionGroup {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if the calls had one.
    pub alias: Option<String>,
    /// Currency of the costs.
    pub currency: Currency,
    /// Number of logs.
    pub calls: i64,
    /// Token sums.
    pub tokens: TokenCounts,
    /// Cost sum.
    pub cost: Nanos,
    /// Input-side cost sum.
    pub input_cost: Nanos,
    /// How many of the logs were recorded unpriced (in `cost` at zero).
    pub unpriced: i64,
    /// The dimensions the logs recorded (name to value; empty when none).
    pub dimensions: std::collections::BTreeMap<String, String>,
}

/// The logs a [`Selection`] matched, read at one size of the tenant's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedLogs {
    /// The log size the selection was made at: every selected log has `seq < log_size`.
    pub log_size: i64,
    /// Number of logs.
    pub count: i64,
    /// Their positions, as ascending runs (filled when leaf hashes were asked for).
    pub ranges: Vec<SeqRange>,
    /// Their leaf hashes in position order (when asked for).
    pub leaf_hashes: Vec<tollgate_receipts::Hash>,
    /// Totals per provider, model, alias and currency, sorted.
    pub groups: Vec<SelectionGroup>,
    /// Distinct conversations, sorted.
    pub conversation_ids: Vec<Uuid>,
    /// The first log ids in position order, at most `inline_ids + 1` (so a caller can tell
    /// whether the list is complete).
    pub log_ids: Vec<Uuid>,
    /// Earliest and latest call time.
    pub first_us: Option<i64>,
    /// Latest call time.
    pub last_us: Option<i64>,
    /// The last log in position order.
    pub newest: Option<LogLabels>,
    /// The distinct profiles the logs recorded, sorted.
    pub profiles: Vec<String>,
    /// The distinct lock digests the logs recorded, sorted; `""` stands for logs that
    /// recorded none.
    pub lock_digests: Vec<String>,
    /// The tenant's receipt version the selection saw (for [`Selection::Uncertified`]).
    pub certified_version: i64,
}

/// Provider, model and alias of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLabels {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if it had one.
    pub alias: Option<String>,
}

/// A receipt to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// Owner.
    pub tenant_id: String,
    /// `rcpt_…`
    pub id: String,
    /// Issue time.
    pub issued_us: i64,
    /// `single` or `batch`.
    pub receipt_type: String,
    /// The key that signed it.
    pub key_id: String,
    /// Number of logs certified.
    pub count: i64,
    /// Merkle root over their leaf hashes.
    pub root: tollgate_receipts::Hash,
    /// Roots of the set tree's complete 256-leaf tiles.
    pub tiles: Vec<tollgate_receipts::Hash>,
    /// Tags.
    pub tags: Vec<String>,
    /// The signed document.
    pub document: String,
    /// The certified positions.
    pub ranges: Vec<SeqRange>,
    /// For "since the last receipt": the receipt version the selection saw; storing fails
    /// with [`StoreError::Stale`](crate::StoreError::Stale) if another receipt came first.
    pub since_version: Option<i64>,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// `rcpt_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Issue time.
    pub issued_us: i64,
    /// The key that signed it.
    pub key_id: String,
    /// Number of logs certified.
    pub count: i64,
    /// Merkle root over their leaf hashes.
    pub root: tollgate_receipts::Hash,
    /// The signed document, as issued.
    pub document: String,
}

/// One log certified by a receipt, with its leaf index in the receipt's set.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptLog {
    /// Leaf index in the receipt's Merkle tree.
    pub index: i64,
    /// The event with its canonical entry (the bytes its leaf hash covers), or what stays of
    /// it once archived.
    pub log: CertifiedLog,
}

/// A log a receipt certifies: live, or archived by retention.
#[derive(Debug, Clone, PartialEq)]
pub enum CertifiedLog {
    /// In the live table.
    Live {
        /// The event.
        event: Box<StoredEvent>,
        /// Its canonical entry.
        entry: Vec<u8>,
    },
    /// Moved to an archive file; its position, id and leaf hash stay.
    Archived {
        /// Position in the tenant's log.
        seq: i64,
        /// The log id.
        log_id: String,
        /// SHA-256(0x00 || entry).
        leaf_hash: Vec<u8>,
        /// The archive holding its entry (`<yyyy-mm>-<first seq>`).
        archive_id: String,
    },
}

/// A signed checkpoint of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Owner.
    pub tenant_id: String,
    /// Log size.
    pub size: i64,
    /// Merkle root at that size.
    pub root: tollgate_receipts::Hash,
    /// The key that signed it.
    pub key_id: String,
    /// The C2SP signed note.
    pub note: String,
    /// When it was signed.
    pub created_us: i64,
}

/// A public key that has signed receipts or checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// `key_…`
    pub key_id: String,
    /// Raw 32-byte Ed25519 key, base64url without padding.
    pub public_key: String,
    /// First use.
    pub created_us: i64,
    /// When a newer key replaced it.
    pub retired_us: Option<i64>,
}
