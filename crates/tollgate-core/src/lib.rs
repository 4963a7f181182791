//! Tollgate's domain: ids, exact money, time, token counts, provider usage normalisation,
//! pricing, the usage event with its canonical log entry, and the billing rules.
//!
//! Pure: no I/O, no SQL, no HTTP. Everything here is deterministic given its inputs, so the
//! server, the store and an offline verifier compute the same thing.
#![forbid(unsafe_code)]

pub mod billing;
pub mod estimate;
pub mod event;
pub mod ids;
pub mod money;
pub mod pricing;
pub mod rate;
pub mod time;
pub mod unusual;
pub mod usage;
pub mod validate;

pub use event::{EventFlags, EventSource, UsageEvent};
pub use ids::{new_id, IdKind};
pub use money::{Currency, Nanos};
pub use pricing::{CostSplit, PriceBook, PriceEntry, PriceSource, Rates};
pub use usage::TokenCounts;
pub use validate::Invalid;
