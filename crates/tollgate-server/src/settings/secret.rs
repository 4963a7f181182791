//! How secret settings serialize: `"***"` when set, null when not, so that the serialized
//! settings (the start-up log, `tollgate settings`) never carry a secret. Serializing the
//! settings is for showing them; reading them back would lose the secrets.

use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

/// A secret: `"***"` when set.
pub(crate) fn redacted<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str("***"),
        None => serializer.serialize_none(),
    }
}

/// A database URL: itself with its password replaced.
pub(crate) fn redacted_url<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_str(&tollgate_store::redact(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// A secret's default, as the settings schema shows it: none.
pub(crate) fn unset() -> Option<String> {
    None
}
