//! The Standard Webhooks signature and secrets.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), the key being the secret's
/// base64 part decoded. None when the secret is not `whsec_` + base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Why a secret given by a client is unusable, if it is.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let body = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or("secret must start with 'whsec_'")?;
    let key = STANDARD
        .decode(body)
        .map_err(|_| "secret must be 'whsec_' followed by standard base64")?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "secret must decode to 24 to 64 bytes, not {}",
            key.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_id_timestamp_and_body() {
        let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 32]));
        let sig = sign(&secret, "evt_1", 1_700_000_000, "{}").expect("a usable secret");
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).expect("any key length");
        mac.update(b"evt_1.1700000000.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(sig, expected);
        assert_eq!(sign("not-a-secret", "evt_1", 0, "{}"), None);
    }

    #[test]
    fn generated_secrets_pass_the_check_and_malformed_ones_do_not() {
        assert_eq!(check_secret(&new_secret()), Ok(()));
        assert!(check_secret("whsec_short").is_err());
        assert!(check_secret("abc").is_err());
    }
}
