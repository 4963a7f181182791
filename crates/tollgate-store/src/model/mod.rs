//! The values that cross the [`Store`](crate::Store) boundary, by domain. No sqlx type appears
//! here.

mod billing;
mod receipts;
mod tenants;
mod usage;

pub use billing::*;
pub use receipts::*;
pub use tenants::*;
pub use usage::*;
