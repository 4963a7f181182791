//! The values of usage exports: how many events a range holds and the events themselves with
//! the canonical bytes their leaf hashes cover.

use crate::model::StoredEvent;

/// The events of a tenant whose time falls in a range: how many, and the first and last log
/// positions among them (None when there are none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSpan {
    /// Number of events.
    pub count: i64,
    /// The lowest `seq` in the range.
    pub first_seq: Option<i64>,
    /// The highest `seq` in the range.
    pub last_seq: Option<i64>,
}

/// Only the events that recorded `value` for the dimension `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionMatch {
    /// The dimension (`kb_id`, or a configured one).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// One page of an export: events of `[start_us, end_us]` with `after_seq < seq <= last_seq`
/// (and the dimension's value, when one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPage {
    /// Events at or after this instant.
    pub start_us: i64,
    /// Events at or before this instant.
    pub end_us: i64,
    /// Only events after this position (the last one of the previous page); -1 to start.
    pub after_seq: i64,
    /// Only events up to this position (fixed when the export starts, so that events appended
    /// meanwhile do not change what it holds).
    pub last_seq: i64,
    /// At most this many.
    pub limit: i64,
    /// Only the events with this value of a dimension.
    pub dimension: Option<DimensionMatch>,
}

/// A usage event with its place in the tenant log.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEvent {
    /// The event (its `seq` is also its leaf index in the tenant log).
    pub event: StoredEvent,
    /// Its canonical entry (RFC 8785 JSON), exactly as stored at ingest.
    pub entry: Vec<u8>,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
}
