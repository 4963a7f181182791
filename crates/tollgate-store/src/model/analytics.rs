//! What analytics read beyond the rollups.

use tollgate_core::Nanos;

/// A tenant's calls in one UTC hour of the day, over a period, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourUse {
    /// 0 to 23.
    pub hour: i64,
    /// The currency.
    pub currency: String,
    /// Calls (a repricing adjustment is none).
    pub requests: i64,
    /// Their cost, adjustments included.
    pub cost: Nanos,
}
