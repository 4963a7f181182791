//! Tollgate's verifiable-log primitives: RFC 8785 canonical JSON and RFC 6962 hashing.
//!
//! Pure code: no I/O, no clock, no database. The server stores what these functions produce
//! and an offline verifier recomputes it, so both sides must agree byte for byte.
#![forbid(unsafe_code)]

pub mod canonical;
pub mod merkle;

pub use canonical::{canonicalize, write_string, CanonicalError};
pub use merkle::{leaf_hash, node_hash, Hash};
