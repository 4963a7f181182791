//! Ed25519 keys: the signing key Tollgate keeps in a file and the public key it publishes.
//!
//! The private key is stored as unencrypted PKCS#8 **v1** PEM (`-----BEGIN PRIVATE KEY-----`,
//! no public key inside), the form `openssl genpkey -algorithm ed25519` writes and every
//! OpenSSL 3 reads; ed25519-dalek's own PKCS#8 v2 output is refused by OpenSSL before 3.5.
//! Both forms are read.
//!
//! A public key is published as SubjectPublicKeyInfo PEM, as the raw 32 bytes in unpadded
//! base64url (the peer server's format), as a JWK, and as a C2SP verifier key (see
//! [`crate::note::vkey`]). Its [`PublicKey::key_id`] names it inside signed documents.
//!
//! Signatures are checked with `verify_strict`, and weak (small-order) public keys are refused
//! when loaded, so a key that would accept forged signatures never gets in.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

/// A `String` that is overwritten with zeros when dropped; holds private key PEM text.
pub use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

/// URL-safe base64 that accepts its input with or without `=` padding.
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a key could not be read, checked or stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not an unencrypted PKCS#8 Ed25519 private key.
    #[error(
        "not an unencrypted PKCS#8 Ed25519 private key (expected \"-----BEGIN PRIVATE KEY-----\" \
         PEM as written by `openssl genpkey -algorithm ed25519`): {reason}"
    )]
    InvalidPrivateKey {
        /// What the PKCS#8 decoder objected to.
        reason: String,
    },
    /// The private key PEM is password-protected.
    #[error(
        "the private key is encrypted (\"ENCRYPTED PRIVATE KEY\"); Tollgate reads only \
         unencrypted PKCS#8: decrypt it with `openssl pkey -in ENCRYPTED.pem -out PLAIN.pem` \
         and protect the file with mode 0600 instead"
    )]
    EncryptedPrivateKey,
    /// The text is not an Ed25519 SubjectPublicKeyInfo PEM.
    #[error(
        "not an Ed25519 public key PEM (expected \"-----BEGIN PUBLIC KEY-----\" \
         SubjectPublicKeyInfo, as written by `openssl pkey -pubout`): {reason}"
    )]
    InvalidPublicKeyPem {
        /// What the SPKI decoder objected to.
        reason: String,
    },
    /// The 32 bytes do not encode a point on the Ed25519 curve.
    #[error("the 32 bytes are not an Ed25519 public key (they do not encode a curve point)")]
    InvalidPublicKey,
    /// A small-order public key, for which forged signatures would verify.
    #[error(
        "refusing a weak (small-order) Ed25519 public key: signatures under it prove nothing; \
         the key was corrupted or deliberately crafted"
    )]
    WeakPublicKey,
    /// The text is not base64url of exactly 32 bytes.
    #[error("a public key must be the base64url encoding of 32 bytes (43 characters): {reason}")]
    InvalidBase64 {
        /// What was wrong with the text.
        reason: String,
    },
    /// A file operation on a key file failed.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being done, e.g. "read the key file".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// A key file exists but does not hold a usable key.
    #[error(
        "key file {} exists but does not hold a usable key ({reason}); restore it from a backup, \
         or move it away to have a new key created (anything signed with the old key then \
         verifies only with the old public key)",
        path.display()
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// Why its contents were refused.
        reason: String,
    },
    /// A new key file was to be written where a file already exists.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The path names no file (it is empty or ends in `..`).
    #[error("{} is not a file path a key can be written to", path.display())]
    NotAFilePath {
        /// The path given.
        path: PathBuf,
    },
}

/// An Ed25519 signing (private) key. Its `Debug` output shows only the key id.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key with this 32-byte RFC 8032 seed (private key). For tests and test vectors.
    #[cfg(test)]
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Reads an unencrypted PKCS#8 PEM private key: OpenSSL's (v1) as well as ones carrying
    /// the public key (v2), which must then match the private key. Surrounding whitespace
    /// and CRLF line endings are accepted.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::EncryptedPrivateKey);
        }
        let pem = normalize_pem(pem);
        ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map(Self)
            .map_err(|e| KeyError::InvalidPrivateKey {
                reason: e.to_string(),
            })
    }

    /// The key as PKCS#8 v1 PEM (no public key inside, LF line endings), which OpenSSL 3.0
    /// and later read. The text is zeroed when dropped.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let keypair = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        // Encoding a fixed-size 32-byte key into DER and PEM has no failure case; the
        // library's Result only covers lengths beyond what DER or the buffer can hold.
        keypair
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a 32-byte Ed25519 key always encodes as PKCS#8")
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The Ed25519 signature (RFC 8032, deterministic) of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// An Ed25519 public key that is a valid, non-weak curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64url())
    }
}

impl PublicKey {
    /// The key with this RFC 8032 encoding; refuses non-points and weak (small-order) keys.
    pub fn from_bytes(raw: &[u8; 32]) -> Result<Self, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(Self(key))
    }

    /// The 32-byte RFC 8032 encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The id signed documents name this key by: `key_` and the first 16 hex digits (8
    /// bytes) of SHA-256 over the 32-byte key.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.to_bytes());
        let mut id = String::with_capacity(20);
        id.push_str("key_");
        for byte in &digest[..8] {
            id.push_str(&format!("{byte:02x}"));
        }
        id
    }

    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), LF line endings, as
    /// `openssl pkey -pubout` writes it.
    pub fn to_spki_pem(&self) -> String {
        // As for the private key: a fixed-size key has no encoding failure.
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("a 32-byte Ed25519 key always encodes as SPKI")
    }

    /// Reads SubjectPublicKeyInfo PEM; refuses other algorithms and weak keys.
    pub fn from_spki_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = normalize_pem(pem);
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
            KeyError::InvalidPublicKeyPem {
                reason: e.to_string(),
            }
        })?;
        Self::from_bytes(key.as_bytes())
    }

    /// The 32 bytes in URL-safe base64 without padding (43 characters).
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Reads [`Self::to_base64url`]'s form, with or without `=` padding; surrounding
    /// whitespace (a trailing newline from a file) is ignored.
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        let bytes = URL_SAFE_ANY_PAD
            .decode(text.trim())
            .map_err(|e| KeyError::InvalidBase64 {
                reason: e.to_string(),
            })?;
        let raw: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::InvalidBase64 {
                reason: format!("it decodes to {} bytes", bytes.len()),
            })?;
        Self::from_bytes(&raw)
    }

    /// The key as an RFC 8037 JSON Web Key, with its key id as `kid`.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            alg: "EdDSA".into(),
            crv: "Ed25519".into(),
            kid: self.key_id(),
            kty: "OKP".into(),
            key_use: "sig".into(),
            x: self.to_base64url(),
        }
    }

    /// Whether `signature` is this key's signature of `message`, checked strictly (no
    /// malleable or non-canonical signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

/// An Ed25519 public key as an RFC 8037 JSON Web Key (members in sorted order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `EdDSA`.
    #[schema(example = "EdDSA")]
    pub alg: String,
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    pub crv: String,
    /// The key's id, as receipts name it in `key_id`.
    #[schema(example = "key_7ebd3a0ed976ed55")]
    pub kid: String,
    /// `OKP`.
    #[schema(example = "OKP")]
    pub kty: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub key_use: String,
    /// The 32-byte public key, unpadded base64url.
    pub x: String,
}

/// Trims surrounding whitespace, turns CRLF into LF and ends the text with one newline, so
/// PEM pasted from elsewhere reads like a file OpenSSL wrote.
fn normalize_pem(pem: &str) -> Zeroizing<String> {
    let mut text = Zeroizing::new(pem.trim().replace("\r\n", "\n"));
    text.push('\n');
    text
}

/// Loads the PKCS#8 PEM at `path`, or creates a new key there (mode 0600 on Unix, written to
/// a temporary file in the same directory, fsynced, then linked into place — never leaves a
/// half-written key, and never overwrites an existing file). Returns the key and whether it
/// was created. The directory must exist.
///
/// An existing file that does not hold a key is an error ([`KeyError::Corrupt`]), never
/// replaced: the key signs receipts customers keep.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyError> {
    match read_key_file(path) {
        Ok(key) => return Ok((key, false)),
        Err(KeyError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = SigningKey::generate();
    match write_new(path, &key) {
        Ok(()) => Ok((key, true)),
        // Another process created the key between our read and our write: use theirs.
        Err(KeyError::AlreadyExists { .. }) => Ok((read_key_file(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Writes `key` as PKCS#8 PEM to a new file at `path` (mode 0600 on Unix), failing if the
/// path exists. The key goes to a temporary file in the same directory, is fsynced, and is
/// then hard-linked to `path` (which, unlike a rename, cannot replace an existing file); the
/// temporary name is removed and the directory fsynced. A crash leaves either no key file or
/// a complete one, plus at most a stray `.<name>.tmp-*` file.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io_error = |action, path: &Path, error| KeyError::Io {
        action,
        path: path.to_path_buf(),
        error,
    };
    let file_name = path.file_name().ok_or_else(|| KeyError::NotAFilePath {
        path: path.to_path_buf(),
    })?;
    match std::fs::symlink_metadata(path) {
        Ok(_) => {
            return Err(KeyError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("check for an existing key file", path, e)),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };

    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
    let temp = TempFile::create(dir.join(temp_name))
        .map_err(|e| io_error("create a temporary key file in", dir, e))?;

    let pem = key.to_pkcs8_pem();
    let mut file = &temp.file;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write the temporary key file", &temp.path, e))?;

    match std::fs::hard_link(&temp.path, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error("move the new key into place at", path, e)),
    }
    drop(temp);
    sync_dir(dir).map_err(|e| io_error("sync the directory", dir, e))
}

/// Reads and parses a key file; a missing file is an `Io` error of kind `NotFound`.
fn read_key_file(path: &Path) -> Result<SigningKey, KeyError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|error| KeyError::Io {
        action: "read the key file",
        path: path.to_path_buf(),
        error,
    })?);
    let corrupt = |reason: String| KeyError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("it is not text".into()))?;
    SigningKey::from_pkcs8_pem(text).map_err(|e| corrupt(e.to_string()))
}

/// A newly created file that is deleted again when this is dropped.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    /// Creates `path`, which must not exist, readable and writable by the owner only.
    fn create(path: PathBuf) -> io::Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        Ok(Self { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: after a successful link the key lives on under its real name.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Makes a directory's entries durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Output};

    /// Runs `openssl` with `args`; the tests that use it fail, not skip, without it.
    fn openssl(args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl binary must be installed to run these tests")
    }

    fn assert_success(output: &Output, what: &str) {
        assert!(
            output.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn path_str(path: &Path) -> &str {
        path.to_str().expect("temporary paths are UTF-8")
    }

    #[test]
    fn a_key_signs_and_its_public_key_verifies() {
        let key = SigningKey::generate();
        let signature = key.sign(b"message");
        assert!(key.public_key().verify(b"message", &signature));
        assert!(!key.public_key().verify(b"messagf", &signature));
        assert!(!SigningKey::generate()
            .public_key()
            .verify(b"message", &signature));
    }

    #[test]
    fn a_non_canonical_signature_is_refused() {
        let key = SigningKey::generate();
        let mut signature = key.sign(b"message");
        // Adding the group order ℓ to S gives the same value mod ℓ, a malleated copy of a
        // valid signature; S must be below ℓ.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s, l) in signature[32..].iter_mut().zip(L) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        assert!(!key.public_key().verify(b"message", &signature));
    }

    #[test]
    fn debug_output_does_not_contain_the_secret() {
        let key = SigningKey::generate();
        let debug = format!("{key:?}");
        let pem = key.to_pkcs8_pem();
        let secret_b64 = pem.lines().nth(1).expect("a base64 line");
        assert!(debug.contains(&key.public_key().key_id()), "{debug}");
        assert!(!debug.contains(secret_b64));
        let secret_hex: String = key
            .0
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!debug.contains(&secret_hex));
        assert!(!debug.contains(&format!("{:?}", key.0.to_bytes())));
    }

    #[test]
    fn pkcs8_pem_round_trips_and_is_version_1() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(!pem.contains('\r'));
        // PKCS#8 v1 of an Ed25519 key is 48 bytes: 64 base64 characters on one line.
        assert_eq!(pem.lines().nth(1).map(str::len), Some(64));
        let back = SigningKey::from_pkcs8_pem(&pem).expect("reads its own output");
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn pkcs8_pem_with_crlf_and_surrounding_whitespace_is_read() {
        let key = SigningKey::generate();
        let pem = format!("\n  {}  \n\n", key.to_pkcs8_pem().replace('\n', "\r\n"));
        let back = SigningKey::from_pkcs8_pem(&pem).expect("reads it");
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn dalek_pkcs8_v2_output_is_read_too() {
        let inner = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let v2 = inner.to_pkcs8_pem(LineEnding::LF).expect("encodes");
        let key = SigningKey::from_pkcs8_pem(&v2).expect("reads v2");
        assert_eq!(
            key.public_key().to_bytes(),
            inner.verifying_key().to_bytes()
        );
    }

    #[test]
    fn bad_private_key_text_is_refused_with_a_reason() {
        for text in [
            "",
            "hello",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        ] {
            let err = SigningKey::from_pkcs8_pem(text).expect_err(text);
            assert!(matches!(err, KeyError::InvalidPrivateKey { .. }), "{err}");
            assert!(err.to_string().contains("BEGIN PRIVATE KEY"), "{err}");
        }
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = SigningKey::from_pkcs8_pem(encrypted).expect_err("encrypted");
        assert!(matches!(err, KeyError::EncryptedPrivateKey), "{err}");
        assert!(err.to_string().contains("openssl pkey"), "{err}");
    }

    #[test]
    fn spki_pem_round_trips() {
        let public = SigningKey::generate().public_key();
        let pem = public.to_spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(!pem.contains('\r'));
        assert_eq!(PublicKey::from_spki_pem(&pem).expect("reads it"), public);
    }

    #[test]
    fn a_private_key_is_not_read_as_a_public_key() {
        let key = SigningKey::generate();
        let err = PublicKey::from_spki_pem(&key.to_pkcs8_pem()).expect_err("private");
        assert!(matches!(err, KeyError::InvalidPublicKeyPem { .. }), "{err}");
    }

    #[test]
    fn base64url_round_trips_with_or_without_padding() {
        let public = SigningKey::generate().public_key();
        let text = public.to_base64url();
        assert_eq!(text.len(), 43);
        assert!(!text.contains(['=', '+', '/']));
        assert_eq!(PublicKey::from_base64url(&text).expect("unpadded"), public);
        let padded = format!("{text}=");
        assert_eq!(PublicKey::from_base64url(&padded).expect("padded"), public);
        let line = format!("{text}\n");
        assert_eq!(PublicKey::from_base64url(&line).expect("newline"), public);
    }

    #[test]
    fn bad_base64url_keys_are_refused() {
        let public = SigningKey::generate().public_key();
        let text = public.to_base64url();
        for bad in [
            String::new(),
            text[..42].to_string(),
            format!("{text}A"),
            format!("{text}=="),
            text.replace(['-', '_'], "+"),
            "!".repeat(43),
        ] {
            if bad == text {
                continue;
            }
            let err = PublicKey::from_base64url(&bad).expect_err(&bad);
            assert!(
                matches!(err, KeyError::InvalidBase64 { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn weak_and_invalid_public_keys_are_refused() {
        // The identity point (y = 1) has order 1; every signature "verifies" under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&identity),
            Err(KeyError::WeakPublicKey)
        ));
        // y = 0 with the sign bit set is a point of order 4.
        let mut order_four = [0u8; 32];
        order_four[31] = 0x80;
        assert!(PublicKey::from_bytes(&order_four).is_err());
        assert!(PublicKey::from_base64url(&URL_SAFE_NO_PAD.encode(identity)).is_err());
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(matches!(
            PublicKey::from_bytes(&off_curve),
            Err(KeyError::InvalidPublicKey)
        ));
    }

    #[test]
    fn the_key_id_is_the_prefix_of_sha256_of_the_raw_key() {
        let public = SigningKey::generate().public_key();
        let digest = Sha256::digest(public.to_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(public.key_id(), format!("key_{}", &hex[..16]));
        // RFC 8032 test 1's public key gives a fixed id.
        let rfc = SigningKey::from_seed(&[
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ]);
        assert_eq!(
            rfc.public_key().to_base64url(),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let expected: String = Sha256::digest(rfc.public_key().to_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(rfc.public_key().key_id(), format!("key_{expected}"));
    }

    #[test]
    fn the_jwk_has_the_rfc_8037_members() {
        let public = SigningKey::generate().public_key();
        let jwk = serde_json::to_value(public.to_jwk()).expect("JSON");
        assert_eq!(
            jwk,
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": public.to_base64url(),
                "kid": public.key_id(), "alg": "EdDSA", "use": "sig",
            })
        );
    }

    #[test]
    fn openssl_reads_our_private_and_public_key_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = SigningKey::generate();
        let key_path = dir.path().join("key.pem");
        let pub_path = dir.path().join("pub.pem");
        std::fs::write(&key_path, key.to_pkcs8_pem().as_bytes()).expect("write key");
        std::fs::write(&pub_path, key.public_key().to_spki_pem()).expect("write pub");

        let out = openssl(&["pkey", "-in", path_str(&key_path), "-noout"]);
        assert_success(&out, "openssl pkey -in <our pkcs8>");
        let out = openssl(&["pkey", "-pubin", "-in", path_str(&pub_path), "-noout"]);
        assert_success(&out, "openssl pkey -pubin -in <our spki>");

        let out = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]);
        assert_success(&out, "openssl pkey -pubout");
        assert_eq!(
            String::from_utf8(out.stdout).expect("utf-8"),
            key.public_key().to_spki_pem()
        );
    }

    #[test]
    fn a_key_made_by_openssl_loads_and_its_public_key_matches() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("openssl.pem");
        let out = openssl(&[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            path_str(&key_path),
        ]);
        assert_success(&out, "openssl genpkey");
        let pem = std::fs::read_to_string(&key_path).expect("read key");
        let key = SigningKey::from_pkcs8_pem(&pem).expect("loads OpenSSL's key");

        let out = openssl(&["pkey", "-in", path_str(&key_path), "-pubout"]);
        assert_success(&out, "openssl pkey -pubout");
        let openssl_public = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(openssl_public, key.public_key().to_spki_pem());
        assert_eq!(
            PublicKey::from_spki_pem(&openssl_public).expect("reads OpenSSL's SPKI"),
            key.public_key()
        );
        // And the key we write back is byte-identical to OpenSSL's own file.
        assert_eq!(*key.to_pkcs8_pem(), pem);
    }

    #[test]
    fn openssl_verifies_our_signatures() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = SigningKey::generate();
        let pub_path = dir.path().join("pub.pem");
        let msg_path = dir.path().join("msg");
        let sig_path = dir.path().join("sig");
        std::fs::write(&pub_path, key.public_key().to_spki_pem()).expect("write pub");
        std::fs::write(&msg_path, b"usage receipt").expect("write msg");
        std::fs::write(&sig_path, key.sign(b"usage receipt")).expect("write sig");
        let out = openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            path_str(&pub_path),
            "-rawin",
            "-in",
            path_str(&msg_path),
            "-sigfile",
            path_str(&sig_path),
        ]);
        assert_success(&out, "openssl pkeyutl -verify");
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn load_or_create_creates_a_private_file_then_loads_the_same_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("signing.pem");
        let (created, was_created) = load_or_create(&path).expect("creates");
        assert!(was_created);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let (loaded, was_created) = load_or_create(&path).expect("loads");
        assert!(!was_created);
        assert_eq!(loaded.public_key(), created.public_key());
        // Nothing but the key file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("signing.pem")]);
    }

    #[test]
    fn load_or_create_refuses_a_corrupt_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("signing.pem");
        for contents in [
            &b""[..],
            b"not a key\n",
            b"\xff\xfe",
            b"-----BEGIN PRIVATE KEY-----\n",
        ] {
            std::fs::write(&path, contents).expect("write");
            let err = load_or_create(&path).expect_err("corrupt");
            assert!(matches!(err, KeyError::Corrupt { .. }), "{err}");
            let message = err.to_string();
            assert!(message.contains(path_str(&path)), "{message}");
            assert!(message.contains("move it away"), "{message}");
            assert_eq!(std::fs::read(&path).expect("still there"), contents);
        }
    }

    #[test]
    fn load_or_create_reports_a_missing_directory_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-such-dir");
        let err = load_or_create(&missing.join("signing.pem")).expect_err("no dir");
        assert!(matches!(err, KeyError::Io { .. }), "{err}");
        assert!(err.to_string().contains(path_str(&missing)), "{err}");
    }

    #[test]
    fn write_new_never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("signing.pem");
        let first = SigningKey::generate();
        write_new(&path, &first).expect("writes");
        let err = write_new(&path, &SigningKey::generate()).expect_err("exists");
        assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err}");
        let pem = std::fs::read_to_string(&path).expect("read");
        let back = SigningKey::from_pkcs8_pem(&pem).expect("reads");
        assert_eq!(back.public_key(), first.public_key());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn write_new_refuses_a_path_without_a_file_name() {
        let err = write_new(Path::new("/"), &SigningKey::generate()).expect_err("root");
        assert!(matches!(err, KeyError::NotAFilePath { .. }), "{err}");
    }
}
