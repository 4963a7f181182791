//! The tenant-log transparency routes (`/api/v1/transparency/…`): the log's entries and its
//! consistency and inclusion proofs (RFC 6962). The signed checkpoint itself is served as a
//! C2SP signed note (`text/plain`), not JSON. Members are declared in sorted order, the order
//! the server has always sent them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?size=` of a checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// An earlier log size, such as the one a receipt references (default: the current size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// `?from&to` of a consistency proof.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The earlier size (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// The later size (default: the current size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
}

/// `GET /api/v1/transparency/consistency`: the proof that the log of size `to` extends the
/// log of size `from`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub from: i64,
    /// Base64 node hashes (RFC 6962 §2.1.4); empty when the sizes are equal or `from` is 0.
    pub proof: Vec<String>,
    /// The later size.
    pub to: i64,
}

/// `?start&end` of an entries range.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// The first entry (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// One past the last entry (default: 1,000 on, or the log's size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
}

/// One entry of the tenant log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantLogEntry {
    /// The canonical entry (RFC 8785 JSON); null once retention archived it.
    pub entry: Option<String>,
    /// Base64 SHA-256(0x00 || entry).
    #[schema(format = Byte)]
    pub leaf_hash: String,
    /// Its position.
    pub seq: i64,
}

/// `GET /api/v1/transparency/entries`: entries `[start, end)` of the tenant log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantLogEntries {
    /// One past the last entry.
    pub end: i64,
    /// The entries, in order.
    pub entries: Vec<TenantLogEntry>,
    /// The log's size now.
    pub size: i64,
    /// The first entry.
    pub start: i64,
}

/// `?seq&size` of a log inclusion proof.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogProofQuery {
    /// The entry; required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The log size (default: the current size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// `GET /api/v1/transparency/proof`: the inclusion proof of entry `seq` in the log of size
/// `size`, to check against that size's signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogInclusionProof {
    /// The canonical entry; null once retention archived it.
    pub entry: Option<String>,
    /// Base64 SHA-256(0x00 || entry).
    #[schema(format = Byte)]
    pub leaf_hash: String,
    /// Base64 sibling hashes from the leaf up.
    pub proof: Vec<String>,
    /// The entry's position.
    pub seq: i64,
    /// The log size the proof is for.
    pub size: i64,
}
