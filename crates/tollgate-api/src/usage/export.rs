//! `GET /api/v1/export/usage`: its query, and one line of its JSON-lines form. The export's
//! body is a stream (CSV, or one [`UsageExportLine`] per line), not one JSON document.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::LogEntry;

/// The file format of a usage export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `text/csv`: a header row, then one row per event.
    Csv,
    /// `application/x-ndjson`: one [`UsageExportLine`] per line.
    Jsonl,
}

impl ExportFormat {
    /// The name on the wire (`csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

/// Query of `GET /api/v1/export/usage`. Any other parameter is refused, so a misspelt one
/// never exports everything. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageExportQuery {
    /// First day or instant (RFC 3339; a date starts at midnight UTC); absent: the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Last day or instant (a date ends at the end of that day); absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// `csv` (default) or `jsonl`.
    // Text rather than an [`ExportFormat`], so that a wrong one is refused naming `format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
    /// With `value`: export only the events that recorded this dimension (`kb_id`, or one of
    /// the deployment's `dimensions`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    /// ... with this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One line of a JSON-lines usage export: the event as `GET /api/v1/logs` lists it, plus its
/// leaf `index` in the tenant log, its canonical `entry` exactly as stored and that entry's
/// `leaf_hash`, so receipts can be verified offline against the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageExportLine {
    /// The event.
    #[serde(flatten)]
    pub log: LogEntry,
    /// Its leaf index in the tenant log (its `seq`).
    pub index: i64,
    /// Its canonical entry (RFC 8785 JSON), exactly as stored.
    pub entry: String,
    /// SHA-256 of `0x00 || entry`, base64.
    pub leaf_hash: String,
}
