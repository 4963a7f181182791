//! Tollgate's verifiable-log primitives: RFC 8785 canonical JSON, RFC 6962 Merkle trees and
//! proofs, Ed25519 keys, signed documents and C2SP signed-note checkpoints; and the receipt,
//! built from the entries it certifies and signed as a value.
//!
//! Pure code: no database, no clock. The server stores what these functions produce and an
//! offline verifier recomputes it, so both sides must agree byte for byte.
#![forbid(unsafe_code)]

pub mod canonical;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod receipt;
pub mod signature;
pub mod strict;

pub use canonical::{canonicalize, write_string, CanonicalError};
pub use merkle::{leaf_hash, node_hash, Hash};
pub use receipt::Receipt;
pub use strict::parse_strict;
