//! Signing a receipt and checking one: the signature covers the RFC 8785 form of every member
//! but `signature` (see [`crate::signature`]).
//!
//! A receipt this process built or read is signed and checked as a [`Receipt`]. A receipt
//! that arrived from elsewhere is checked as the document received ([`Receipt::open`]): a
//! typed reading leaves out members the type does not know, and a member added after signing
//! must fail the check, not vanish from it.

use serde::Deserialize;
use serde_json::Value;

use super::Receipt;
use crate::keys::{PublicKey, SigningKey};
use crate::signature::{self, SignatureError};

/// Why a received receipt was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The signature does not hold for the document as received.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The document is signed but is not a Tollgate receipt.
    #[error("the document is not a Tollgate receipt: {0}")]
    NotAReceipt(#[from] serde_json::Error),
}

impl Receipt {
    /// The receipt as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self)
            .expect("a receipt has string keys and finite numbers, so it always converts to JSON")
    }

    /// The bytes its signature covers: RFC 8785 of every member but `signature`.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, SignatureError> {
        signature::signing_bytes(&self.to_value())
    }

    /// The receipt with its `signature` set by `key` (any earlier one is replaced).
    pub fn sign(mut self, key: &SigningKey) -> Result<Receipt, SignatureError> {
        self.signature = None;
        let signature = signature::sign_document(&self.to_value(), key)?;
        self.signature = Some(signature);
        Ok(self)
    }

    /// Checks `signature` against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        signature::verify_document(&self.to_value(), key)
    }

    /// Reads a document as a receipt, without checking it.
    pub fn read(document: &Value) -> Result<Receipt, serde_json::Error> {
        Receipt::deserialize(document)
    }

    /// Checks a received document's signature against `key`, as received, then reads it.
    pub fn open(document: &Value, key: &PublicKey) -> Result<Receipt, OpenError> {
        signature::verify_document(document, key)?;
        Ok(Receipt::read(document)?)
    }
}
