//! Signing a receipt and checking one: the signature covers the RFC 8785 form of every member
//! but `signature` (see [`crate::signature`]).
//!
//! A receipt this process built is signed and checked as a [`Receipt`]. A receipt that
//! arrived from elsewhere is checked as the document received ([`ReceiptDocument`]): a typed reading
//! leaves out members the type does not know, and a member added after signing must fail the
//! check rather than vanish from it (and a newer receipt's members must not make an older
//! reader's check fail).

use serde::Deserialize;
use serde_json::Value;

use super::Receipt;
use crate::keys::{PublicKey, SigningKey};
use crate::signature::{self, SignatureError};

/// A signed receipt as a document: the JSON exactly as it was signed and stored, or as it was
/// received, which is what its signature covers, beside its reading as a [`Receipt`]. It
/// writes back as the document, and its OpenAPI schema is the receipt's.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptDocument {
    /// The document (parse it with [`crate::parse_strict`] where it comes from someone who
    /// might repeat a member).
    pub document: Value,
    /// Its reading.
    pub receipt: Receipt,
}

impl ReceiptDocument {
    /// Reads `document` as a receipt, keeping it as it is.
    pub fn new(document: Value) -> Result<ReceiptDocument, serde_json::Error> {
        let receipt = Receipt::read(&document)?;
        Ok(ReceiptDocument { document, receipt })
    }

    /// Checks the signature of the document (every member counted, known to [`Receipt`] or
    /// not) against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        signature::verify_document(&self.document, key)
    }
}

impl From<Receipt> for ReceiptDocument {
    fn from(receipt: Receipt) -> ReceiptDocument {
        ReceiptDocument {
            document: receipt.to_value(),
            receipt,
        }
    }
}

impl<'de> Deserialize<'de> for ReceiptDocument {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let document = Value::deserialize(d)?;
        ReceiptDocument::new(document).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ReceiptDocument {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(s)
    }
}

impl utoipa::PartialSchema for ReceiptDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Receipt as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ReceiptDocument {
    fn name() -> std::borrow::Cow<'static, str> {
        <Receipt as utoipa::ToSchema>::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <Receipt as utoipa::ToSchema>::schemas(schemas);
    }
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
}
