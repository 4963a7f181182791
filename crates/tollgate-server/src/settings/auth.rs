//! How end users (not API keys) authenticate: the JWTs an identity provider issues them.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// End-user authentication settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// JWTs an identity provider issues to end users; absent: only API keys are accepted.
    pub jwt: Option<JwtSettings>,
}

/// How end-user JWTs are checked. Checked again at start (`Server::new`): the key must suit
/// the algorithm.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (or list).
    pub audience: String,
    /// The one algorithm accepted; tokens signed any other way (or not at all) are refused.
    pub algorithm: JwtAlgorithm,
    /// The shared secret (HS256 only), at least 32 bytes.
    #[serde(default)]
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub secret: Option<SecretString>,
    /// The issuer's public key, a PEM file (RS256 and EdDSA only).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub public_key_file: Option<PathBuf>,
    /// The claim that names the user's tenant, by id or name.
    #[serde(default = "default_tenant_claim")]
    #[schema(default = default_tenant_claim)]
    pub tenant_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_seconds")]
    #[schema(default = default_leeway_seconds)]
    pub leeway_seconds: u64,
}

pub(crate) fn default_tenant_claim() -> String {
    "tenant".into()
}

pub(crate) fn default_leeway_seconds() -> u64 {
    30
}

/// The signature algorithms an end-user token may be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    #[serde(rename = "HS256")]
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and the issuer's RSA public key.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519 and the issuer's public key.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl fmt::Debug for JwtSettings {
    /// The secret is redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("public_key_file", &self.public_key_file)
            .field("tenant_claim", &self.tenant_claim)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}
