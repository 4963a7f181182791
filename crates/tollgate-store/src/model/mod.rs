//! The values that cross the [`Store`](crate::Store) boundary, by domain. No sqlx type appears
//! here.

mod analytics;
mod billing;
mod console;
mod conversations;
mod executions;
mod mcp;
mod receipts;
mod statements;
mod tenants;
mod usage;

pub use analytics::*;
pub use billing::*;
pub use console::*;
pub use conversations::*;
pub use executions::*;
pub use mcp::*;
pub use receipts::*;
pub use statements::*;
pub use tenants::*;
pub use usage::*;
