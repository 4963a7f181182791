//! Tollgate's wire: every request body and response body of the HTTP API, and the error body
//! with its codes, as plain serde + utoipa types. No I/O.
//!
//! The server's handlers take and return these types, the client's methods return them, the
//! CLI reads their fields, and the OpenAPI document is generated from their schemas, so a
//! response cannot change shape without the document changing with it.
//!
//! Conventions:
//! - Money in Tollgate's own fields is an exact decimal string (`"0.000022500"`, schema format
//!   `decimal`); where llmring's contract has a float (`cost`, `total_cost`), the float is
//!   sent too, derived from the exact value.
//! - Times are RFC 3339 UTC strings with `Z` (schema format `date-time`).
//! - Shapes fixed by llmring are kept byte for byte: field names, order and nullability follow
//!   `llmring-wire.md`, and such types say so in their docs.
//! - Types are grouped by domain, one module each; the error body is in [`error`].
#![forbid(unsafe_code)]

pub mod alerts;
pub mod analytics;
pub mod authorize;
pub mod billing;
pub mod conversations;
pub mod document;
pub mod error;
pub mod keys;
pub mod mcp;
pub mod operate;
pub mod payments;
pub mod plans;
pub mod rate;
pub mod receipts;
pub mod registry;
pub mod tool_calls;
pub mod transparency;
pub mod usage;
pub mod vocabulary;
pub mod webhooks;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
