//! The live balance stream (`GET /api/v1/billing/balance/stream`): how many may be open and
//! how often each is sent an event.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Live balance streams (`billing.stream`). Each open stream holds a connection, so the caps
/// count against `http.max_connections` too.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BalanceStreamSettings {
    /// Most streams open at once on this instance; past it a new one is refused with 503.
    pub max_streams: usize,
    /// Most streams one tenant may have open at once on this instance; past it a new one is
    /// refused with 503.
    pub max_streams_per_tenant: usize,
    /// The least time between two events of one stream, in milliseconds: the changes of a
    /// burst become one event.
    pub min_interval_ms: u64,
    /// How often a stream reads its account even without a notice of change (to show a hold
    /// that expired, or a change whose notice was lost), in seconds.
    pub refresh_seconds: u64,
    /// How long a stream may send nothing before a keep-alive comment, in seconds.
    pub keep_alive_seconds: u64,
}

impl Default for BalanceStreamSettings {
    fn default() -> Self {
        BalanceStreamSettings {
            max_streams: 1000,
            max_streams_per_tenant: 100,
            min_interval_ms: 250,
            refresh_seconds: 30,
            keep_alive_seconds: 15,
        }
    }
}
