//! End-user tokens: JWTs an identity provider signs, checked against the configured issuer,
//! audience, algorithm and key. This module turns a token into a user and a tenant, or into a
//! 401 that says why; what that user may do is decided in `auth`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tollgate_store::Store;

use crate::error::ApiError;
use crate::settings::{JwtAlgorithm, JwtSettings};
use tollgate_api::ErrorCode;

/// Shortest accepted HS256 secret: RFC 7518 §3.2 asks for at least the hash's size.
const MIN_SECRET_BYTES: usize = 32;
/// Smallest accepted RSA modulus.
const MIN_RSA_BITS: usize = 2048;
/// Largest accepted leeway: more is no longer clock skew.
const MAX_LEEWAY_SECONDS: u64 = 3600;
/// Longest user id, as for ids sent in bodies.
const MAX_SUB_CHARS: usize = 255;

/// The end user a valid token names.
#[derive(Debug, Clone)]
pub struct EndUser {
    /// `sub`.
    pub user_id: String,
    /// The tenant the configured claim names, resolved to its id.
    pub tenant_id: String,
    /// When the token expires (`exp`), in microseconds since the epoch.
    pub expires_us: i64,
}

/// Checks end-user tokens.
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
    algorithm: &'static str,
    tenant_claim: String,
    tenants: TenantCache,
}

impl JwtAuth {
    /// Reads the key and checks that it suits the algorithm; the error names the setting.
    /// Resolved tenant names are remembered for `cache_ttl` (as authenticated keys are).
    pub fn from_settings(s: &JwtSettings, cache_ttl: Duration) -> Result<JwtAuth, String> {
        if s.issuer.trim().is_empty() {
            return Err("auth.jwt.issuer must not be empty".into());
        }
        if s.audience.trim().is_empty() {
            return Err("auth.jwt.audience must not be empty".into());
        }
        if s.tenant_claim.trim().is_empty() {
            return Err("auth.jwt.tenant_claim must name a claim".into());
        }
        if s.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(format!(
                "auth.jwt.leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"
            ));
        }
        let (key, algorithm) = decoding_key(s)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&s.issuer]);
        validation.set_audience(&[&s.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = s.leeway_seconds;
        Ok(JwtAuth {
            key,
            validation,
            algorithm: name(s.algorithm),
            tenant_claim: s.tenant_claim.clone(),
            tenants: TenantCache::new(cache_ttl),
        })
    }

    /// Whether a bearer credential is a JWT rather than an API key: not `tg_…`, and three
    /// dot-separated base64url parts (the last may be empty, as in an unsigned token, which
    /// is then refused with a clear message).
    pub fn looks_like_jwt(token: &str) -> bool {
        let base64url = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let parts: Vec<&str> = token.split('.').collect();
        !token.starts_with("tg_")
            && parts.len() == 3
            && !parts[0].is_empty()
            && !parts[1].is_empty()
            && parts.iter().all(|p| base64url(p))
    }

    /// The user and tenant of a valid token; anything else is a 401 `INVALID_TOKEN`.
    pub async fn authenticate(&self, token: &str, store: &dyn Store) -> Result<EndUser, ApiError> {
        if let Some(alg) = header_alg(token).filter(|a| a != self.algorithm) {
            return Err(invalid(format!(
                "the token is signed with '{alg}'; only {} is accepted",
                self.algorithm
            )));
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| self.rejection(e.kind()))?
            .claims;
        let user_id = match claims.get("sub") {
            Some(Value::String(s)) if valid_sub(s) => s.clone(),
            _ => {
                return Err(invalid(format!(
                    "the token's 'sub' must be a user id of 1 to {MAX_SUB_CHARS} characters, without surrounding spaces or control characters"
                )))
            }
        };
        let named = match claims.get(&self.tenant_claim) {
            Some(Value::String(t)) if !t.trim().is_empty() => t.trim(),
            _ => {
                return Err(invalid(format!(
                    "the token lacks the '{}' claim naming its tenant",
                    self.tenant_claim
                )))
            }
        };
        let tenant_id = match self.tenants.get(named) {
            Some(id) => id,
            None => {
                let tenant = store.find_tenant(named).await?.ok_or_else(|| {
                    invalid(format!("the token's tenant '{named}' is not known here"))
                })?;
                self.tenants.put(named, &tenant.id);
                tenant.id
            }
        };
        // `exp` is a required claim the validation already checked to be a number in the
        // future; a fractional one is cut to its second.
        let expires_us = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0, |exp| (exp as i64).saturating_mul(1_000_000));
        Ok(EndUser {
            user_id,
            tenant_id,
            expires_us,
        })
    }

    fn rejection(&self, kind: &ErrorKind) -> ApiError {
        let message = match kind {
            ErrorKind::ExpiredSignature => "the token has expired".to_string(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
            ErrorKind::InvalidIssuer => "the token's issuer (iss) is not accepted".to_string(),
            ErrorKind::InvalidAudience => {
                "the token's audience (aud) is not this service".to_string()
            }
            ErrorKind::InvalidSignature => "the token's signature does not verify".to_string(),
            ErrorKind::InvalidAlgorithm => {
                format!("the token must be signed with {}", self.algorithm)
            }
            ErrorKind::MissingRequiredClaim(c) => format!("the token lacks the '{c}' claim"),
            ErrorKind::InvalidClaimFormat(c) => format!("the token's '{c}' claim is malformed"),
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => "the token is not a well-formed JWT".to_string(),
            other => {
                // The key passed the checks at start, so this is unexpected: keep the cause.
                tracing::warn!(error = ?other, "a JWT could not be checked");
                "the token could not be verified".to_string()
            }
        };
        invalid(message)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidToken, message)
}

fn name(a: JwtAlgorithm) -> &'static str {
    match a {
        JwtAlgorithm::Hs256 => "HS256",
        JwtAlgorithm::Rs256 => "RS256",
        JwtAlgorithm::EdDsa => "EdDSA",
    }
}

fn valid_sub(s: &str) -> bool {
    !s.is_empty()
        && s.trim() == s
        && s.chars().count() <= MAX_SUB_CHARS
        && !s.chars().any(char::is_control)
}

/// The `alg` a token's header claims, read before anything else so that `none` or another
/// algorithm gets a message that says so.
fn header_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg")?.as_str().map(str::to_string)
}

/// The verifying key the settings describe, checked now rather than at the first token.
fn decoding_key(s: &JwtSettings) -> Result<(DecodingKey, Algorithm), String> {
    let alg = name(s.algorithm);
    let pem = match (s.algorithm, &s.secret, &s.public_key_file) {
        (JwtAlgorithm::Hs256, Some(secret), None) => {
            let secret = secret.expose_secret().as_bytes();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "auth.jwt.secret must be at least {MIN_SECRET_BYTES} bytes for HS256"
                ));
            }
            return Ok((DecodingKey::from_secret(secret), Algorithm::HS256));
        }
        (JwtAlgorithm::Hs256, _, Some(_)) => {
            return Err(
                "auth.jwt.public_key_file is for RS256 and EdDSA; HS256 takes auth.jwt.secret"
                    .into(),
            )
        }
        (JwtAlgorithm::Hs256, None, None) => {
            return Err("auth.jwt.algorithm HS256 needs auth.jwt.secret".into())
        }
        (_, Some(_), _) => {
            return Err(format!(
                "auth.jwt.secret is for HS256; {alg} takes auth.jwt.public_key_file"
            ))
        }
        (_, None, None) => {
            return Err(format!(
                "auth.jwt.algorithm {alg} needs auth.jwt.public_key_file (a PEM public key)"
            ))
        }
        (_, None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read auth.jwt.public_key_file {}: {e}",
                path.display()
            )
        })?,
    };
    let file = s
        .public_key_file
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    let not_a = |what: &str, why: String| {
        format!(
            "auth.jwt.public_key_file {} is not {what} ({why})",
            file.display()
        )
    };
    if s.algorithm == JwtAlgorithm::EdDsa {
        let key = tollgate_receipts::keys::PublicKey::from_spki_pem(&pem).map_err(|e| {
            not_a(
                "an Ed25519 public key in PEM (BEGIN PUBLIC KEY)",
                e.to_string(),
            )
        })?;
        return Ok((DecodingKey::from_ed_der(&key.to_bytes()), Algorithm::EdDSA));
    }
    let rsa_pem = "an RSA public key in PEM (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)";
    let public = rsa::RsaPublicKey::from_public_key_pem(&pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(&pem))
        .map_err(|e| not_a(rsa_pem, e.to_string()))?;
    if public.size() * 8 < MIN_RSA_BITS {
        return Err(not_a(
            &format!("an RSA key of at least {MIN_RSA_BITS} bits"),
            format!("{} bits", public.size() * 8),
        ));
    }
    let der = public
        .to_pkcs1_der()
        .map_err(|e| not_a(rsa_pem, e.to_string()))?;
    let key = DecodingKey::from_rsa_der(der.as_bytes());
    Ok((key, Algorithm::RS256))
}

/// Tenant names (or ids) a token named, resolved to ids for a short time.
struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl TenantCache {
    fn new(ttl: Duration) -> TenantCache {
        TenantCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, named: &str) -> Option<String> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(named)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, named: &str, id: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(named.to_string(), (id.to_string(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(algorithm: JwtAlgorithm) -> JwtSettings {
        JwtSettings {
            issuer: "https://id.example".into(),
            audience: "tollgate".into(),
            algorithm,
            secret: None,
            public_key_file: None,
            tenant_claim: "tenant".into(),
            leeway_seconds: 30,
        }
    }

    fn refusal(s: &JwtSettings) -> String {
        match JwtAuth::from_settings(s, Duration::ZERO) {
            Ok(_) => panic!("accepted {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_key_that_does_not_suit_the_algorithm_is_refused_at_start() {
        let mut hs = settings(JwtAlgorithm::Hs256);
        assert!(refusal(&hs).contains("needs auth.jwt.secret"));
        hs.secret = Some(SecretString::from("short"));
        assert!(refusal(&hs).contains("at least 32 bytes"));
        hs.secret = Some(SecretString::from("s".repeat(32)));
        assert!(JwtAuth::from_settings(&hs, Duration::ZERO).is_ok());
        hs.public_key_file = Some("/nonexistent.pem".into());
        assert!(refusal(&hs).contains("HS256 takes auth.jwt.secret"));

        let mut ed = settings(JwtAlgorithm::EdDsa);
        assert!(refusal(&ed).contains("needs auth.jwt.public_key_file"));
        ed.public_key_file = Some("/nonexistent/key.pem".into());
        assert!(refusal(&ed).contains("cannot read"));
        ed.secret = Some(SecretString::from("s".repeat(32)));
        assert!(refusal(&ed).contains("secret is for HS256"));
    }

    #[test]
    fn a_pem_of_the_wrong_kind_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("dir");
        let signing = tollgate_receipts::keys::SigningKey::generate();
        let private = dir.path().join("private.pem");
        std::fs::write(&private, signing.to_pkcs8_pem().as_bytes()).expect("write");
        let public = dir.path().join("public.pem");
        std::fs::write(&public, signing.public_key().to_spki_pem()).expect("write");

        let mut ed = settings(JwtAlgorithm::EdDsa);
        ed.public_key_file = Some(private.clone());
        assert!(refusal(&ed).contains("is not an Ed25519 public key"));
        ed.public_key_file = Some(public.clone());
        assert!(JwtAuth::from_settings(&ed, Duration::ZERO).is_ok());

        let mut rs = settings(JwtAlgorithm::Rs256);
        rs.public_key_file = Some(public);
        assert!(refusal(&rs).contains("is not an RSA public key"));

        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("rsa key");
        let small_public = dir.path().join("rsa-1024.pem");
        let pem = small.to_public_key().to_public_key_pem(LineEnding::LF);
        std::fs::write(&small_public, pem.expect("pem")).expect("write");
        rs.public_key_file = Some(small_public);
        assert!(refusal(&rs).contains("at least 2048 bits"));
        let rsa_private = dir.path().join("rsa-private.pem");
        let pem = small.to_pkcs1_pem(LineEnding::LF).expect("pem");
        std::fs::write(&rsa_private, pem.as_bytes()).expect("write");
        rs.public_key_file = Some(rsa_private);
        assert!(refusal(&rs).contains("is not an RSA public key"));
    }

    #[test]
    fn only_three_part_tokens_that_are_not_api_keys_look_like_jwts() {
        assert!(JwtAuth::looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(JwtAuth::looks_like_jwt("eyJh.eyJz."));
        assert!(!JwtAuth::looks_like_jwt("tg_abc.def.ghi"));
        assert!(!JwtAuth::looks_like_jwt("tg_0123abcd"));
        assert!(!JwtAuth::looks_like_jwt("a.b"));
        assert!(!JwtAuth::looks_like_jwt("a.b.c.d"));
        assert!(!JwtAuth::looks_like_jwt("a b.c.d"));
    }
}
