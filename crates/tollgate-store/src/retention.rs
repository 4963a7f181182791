//! What a retention run is told and what it reports: the policy (ages and the archive
//! directory), the options of one run, and the archive records it leaves behind.
//!
//! The run itself lives in `ops::retention`, the archive files in [`crate::archive`].

use std::path::PathBuf;

use tollgate_receipts::Hash;

/// What to do about months a run left live because receipts did not certify all their events.
pub const UNCERTIFIED_HINT: &str =
    "issue a receipt (since_last_receipt) first, or set retention.archive_uncertified";

/// How long things are kept. An age of 0 turns that part of retention off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Usage events move to archive files once their whole UTC month is older than this.
    pub archive_after_days: u32,
    /// Archive files are deleted once their month is older than this.
    pub delete_after_days: u32,
    /// Conversation messages older than this lose their content (hash and counts stay).
    pub message_content_days: u32,
    /// Where archive files go: `<dir>/<tenant id>/<yyyy-mm>-<first seq>.jsonl.gz`.
    pub archive_dir: PathBuf,
    /// Archive a month even when some of its events no receipt certifies. Receipts read live
    /// events only, so a later receipt leaves those archived uncertified events out; off, such
    /// a month is skipped (and reported) until a receipt certifies it.
    pub archive_uncertified: bool,
}

/// A point in a run after which it can be told to stop, as a crash there would (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RetentionStep {
    /// An archive's data file is complete, fsynced and in place.
    FileWritten,
    /// Its manifest is too.
    ManifestWritten,
    /// The database records the archive (state `written`).
    Recorded,
    /// The first batch of its events left the live table.
    FirstBatchMoved,
    /// Every one of its events left (state `removed`).
    Removed,
    /// An old archive's manifest says it is no longer live.
    ManifestMarked,
    /// Its data file is deleted.
    FileDeleted,
}

impl RetentionStep {
    /// Every step, in the order a run passes them.
    pub const ALL: [RetentionStep; 7] = [
        RetentionStep::FileWritten,
        RetentionStep::ManifestWritten,
        RetentionStep::Recorded,
        RetentionStep::FirstBatchMoved,
        RetentionStep::Removed,
        RetentionStep::ManifestMarked,
        RetentionStep::FileDeleted,
    ];
}

/// How one run goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOptions {
    /// Count what would happen; change nothing.
    pub dry_run: bool,
    /// Events moved out of the live table per transaction.
    pub batch_events: i64,
    /// Messages whose content is dropped per transaction.
    pub batch_messages: i64,
    /// Stop (as if crashed, but releasing the lease) right after this step: for tests of
    /// crash safety.
    pub stop_after: Option<RetentionStep>,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        RetentionOptions {
            dry_run: false,
            batch_events: 10_000,
            batch_messages: 2_000,
            stop_after: None,
        }
    }
}

/// What a run did (or, dry, would do) for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantRetention {
    /// The tenant's id.
    pub tenant_id: String,
    /// Its name.
    pub tenant_name: String,
    /// Events that left the live table into archives.
    pub events_archived: i64,
    /// Archive files written.
    pub archives_written: i64,
    /// Archive files deleted.
    pub archives_deleted: i64,
    /// Messages whose content was dropped.
    pub contents_dropped: i64,
    /// Months old enough to archive that were left live because some of their events no
    /// receipt certifies yet (see [`RetentionPolicy::archive_uncertified`]).
    pub months_skipped_uncertified: i64,
    /// Finished webhook deliveries and alerts older than the delete age that were removed
    /// (an alert only once no delivery of it is left).
    pub webhook_history_pruned: i64,
    /// Another runner held the tenant's lease: nothing was done.
    pub busy: bool,
    /// Why the tenant's retention failed, if it did (the other tenants still ran).
    pub error: Option<String>,
}

/// What a run did, per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Whether it only counted.
    pub dry_run: bool,
    /// One entry per tenant it looked at.
    pub tenants: Vec<TenantRetention>,
    /// Set when the run stopped at a step it was told to stop after.
    pub stopped_after: Option<RetentionStep>,
}

/// Where an archive is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveState {
    /// The file holds the events; some may still be live too.
    Written,
    /// Every archived event has left the live table.
    Removed,
    /// The file was deleted past the delete age; the record and the leaf hashes remain.
    Deleted,
}

impl ArchiveState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveState::Written => "written",
            ArchiveState::Removed => "removed",
            ArchiveState::Deleted => "deleted",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<ArchiveState> {
        match text {
            "written" => Some(ArchiveState::Written),
            "removed" => Some(ArchiveState::Removed),
            "deleted" => Some(ArchiveState::Deleted),
            _ => None,
        }
    }
}

/// The database's record of one archive file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// Owner.
    pub tenant_id: String,
    /// `<yyyy-mm>-<first seq>`.
    pub id: String,
    /// The UTC month of its events, `yyyymm`.
    pub month: i64,
    /// The lowest and highest `seq` in it.
    pub first_seq: i64,
    /// See `first_seq`.
    pub last_seq: i64,
    /// How many events it holds.
    pub count: i64,
    /// RFC 6962 root of their leaf hashes in `seq` order.
    pub root: Hash,
    /// SHA-256 (hex) of the data file.
    pub sha256: String,
    /// The data file, relative to the archive directory.
    pub file: String,
    /// Where it is in its life.
    pub state: ArchiveState,
    /// When it was recorded.
    pub created_us: i64,
}
