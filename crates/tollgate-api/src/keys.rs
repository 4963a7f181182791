//! The public-key routes (`/receipts/public-key.{pem,jwk}`, `/receipts/public-keys.json`):
//! the Ed25519 keys that sign receipts and checkpoints. The PEM is served as
//! `application/x-pem-file` text, not JSON.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use tollgate_receipts::keys::Jwk;

/// `GET /receipts/public-keys.json`: every key that ever signed, with the current one's id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicKeys {
    /// The id of the key that signs now.
    #[schema(example = "key_7ebd3a0ed976ed55")]
    pub current_key_id: String,
    /// Every key, oldest first.
    pub keys: Vec<PublishedKey>,
}

/// One signing key and when it signed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishedKey {
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    pub algorithm: String,
    /// Whether it signs now.
    pub current: bool,
    /// `base64url`: how `public_key` is encoded.
    #[schema(example = "base64url")]
    pub format: String,
    /// Its id (`key_` and 16 hex digits of the key's SHA-256), as receipts name it.
    #[schema(example = "key_7ebd3a0ed976ed55")]
    pub key_id: String,
    /// When another key replaced it; null while current.
    #[schema(format = DateTime)]
    pub not_after: Option<String>,
    /// When it started signing.
    #[schema(format = DateTime)]
    pub not_before: String,
    /// The 32-byte public key, unpadded base64url.
    pub public_key: String,
}
