//! The values that cross the [`Store`](crate::Store) boundary, by domain. No sqlx type appears
//! here.

mod billing;
mod conversations;
mod executions;
mod mcp;
mod receipts;
mod tenants;
mod usage;

pub use billing::*;
pub use conversations::*;
pub use executions::*;
pub use mcp::*;
pub use receipts::*;
pub use tenants::*;
pub use usage::*;
