//! API key secrets: generation, hashing and the shape checks llmring's server makes, and
//! the short-lived cache of authenticated keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use tollgate_core::ids::{new_id, IdKind};
use tollgate_store::{ApiKeyInfo, KeyRole, NewApiKey, Scope};

/// Longest key accepted (llmring's limit).
pub const MAX_KEY_LEN: usize = 255;

/// A newly generated key: the secret (shown once) and what is stored.
pub struct GeneratedKey {
    /// The secret to give the user.
    pub secret: String,
    /// What the store keeps.
    pub record: NewApiKey,
}

/// A random tenant key: `tg_` and 64 hex digits (256 bits). An operator key is one whose
/// record's `role` the caller sets to [`KeyRole::Operator`].
pub fn generate(tenant_id: &str, scopes: Vec<Scope>, name: Option<String>) -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!("tg_{}", hex::encode(bytes));
    let record = record_for(&secret, tenant_id, scopes, name);
    GeneratedKey { secret, record }
}

/// The record of a key whose secret is chosen elsewhere (the bootstrap key).
pub fn record_for(
    secret: &str,
    tenant_id: &str,
    scopes: Vec<Scope>,
    name: Option<String>,
) -> NewApiKey {
    NewApiKey {
        id: new_id(IdKind::Key),
        tenant_id: tenant_id.to_string(),
        key_hash: hash(secret),
        prefix: secret.chars().take(10).collect(),
        name,
        scopes,
        role: KeyRole::Tenant,
    }
}

/// SHA-256 hex of a key. Keys carry 256 random bits, so no salt or slow hash is needed.
pub fn hash(secret: &str) -> String {
    // Every request hashes its key: encoded into a buffer in one step rather than a
    // character at a time.
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(secret.as_bytes()), &mut hex)
        .expect("a SHA-256 digest is 32 bytes, 64 hex digits");
    String::from_utf8_lossy(&hex).into_owned()
}

/// The llmring shape rules for a key: non-empty, at most 255 characters, no whitespace.
pub fn check_shape(secret: &str) -> Result<(), &'static str> {
    if secret.trim().is_empty() {
        Err("empty")
    } else if secret.len() > MAX_KEY_LEN {
        Err("too long")
    } else if secret.chars().any(char::is_whitespace) {
        Err("whitespace")
    } else {
        Ok(())
    }
}

/// Remembers authenticated keys for a short time, so the hot path skips a database read.
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Arc<ApiKeyInfo>, Instant)>>,
}

impl AuthCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, hash: &str) -> Option<Arc<ApiKeyInfo>> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(k, _)| k.clone())
    }

    /// Forgets the key `key_id` (revoked here: this instance stops accepting it at once).
    pub(crate) fn forget(&self, key_id: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (k, _)| k.id != key_id);
    }

    pub(crate) fn put(&self, hash: String, key: Arc<ApiKeyInfo>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(hash, (key, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_random_and_stored_only_as_hashes() {
        let a = generate("tnt_x", vec![Scope::Read], None);
        let b = generate("tnt_x", vec![Scope::Read], None);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 67);
        assert_eq!(a.record.key_hash, hash(&a.secret));
        assert!(!a.record.key_hash.contains(&a.secret[3..]));
        assert!(check_shape(&a.secret).is_ok());
    }

    #[test]
    fn a_key_hash_is_the_lowercase_hex_sha256_that_stored_keys_were_written_with() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_shapes_follow_the_llmring_rules() {
        assert_eq!(check_shape("  "), Err("empty"));
        assert_eq!(check_shape(&"k".repeat(256)), Err("too long"));
        assert_eq!(check_shape("has spaces"), Err("whitespace"));
    }
}
