//! Values decoded from TEXT columns: UUIDs and JSON.

use uuid::Uuid;

use crate::StoreError;

/// Parses a UUID read from a TEXT column.
pub(crate) fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invariant(format!("'{text}' is not a UUID")))
}

/// Parses a JSON object read from a TEXT column (NULL is the empty object).
pub(crate) fn json_object(text: Option<String>) -> serde_json::Map<String, serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Parses any JSON value read from a TEXT column.
pub(crate) fn json_value(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}
