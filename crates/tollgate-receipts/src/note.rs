//! C2SP signed notes (<https://c2sp.org/signed-note>) and transparency-log checkpoints
//! (<https://c2sp.org/tlog-checkpoint>), with Ed25519 keys only (signature type 0x01).
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
//! `— <key name> <base64(4-byte key id || 64-byte signature)>` (em dash U+2014, standard
//! padded base64). The signature covers the text including its final newline. A verifier
//! knows keys by (name, key id); it ignores signatures by keys it does not know, and a known
//! key's signature that fails rejects the note.
//!
//! A checkpoint is a note whose text is the log's origin, its size in decimal and its RFC 6962
//! root in base64, one per line, signed with the key named after the origin. Tollgate signs
//! each tenant log's checkpoints this way, so Go's `sumdb/note` and other C2SP tools can check
//! them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::keys::{KeyError, PublicKey, SigningKey};
use crate::merkle::Hash;

/// The C2SP signature type byte of plain Ed25519 note signatures.
const ED25519_TYPE: u8 = 0x01;

/// What every signature line starts with: an em dash (U+2014) and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may carry (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Why a note, verifier key or checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// The text to sign is empty.
    #[error("a note's text must not be empty (it is at least one line ending in a newline)")]
    EmptyText,
    /// The text to sign does not end with a newline.
    #[error("a note's text must end with a newline (U+000A)")]
    MissingFinalNewline,
    /// The note or text contains a control character other than newline.
    #[error(
        "the note contains the control character U+{code:04X} at byte {offset}; notes may \
         contain no control characters other than newline (use LF line endings, not CRLF)"
    )]
    ControlCharacter {
        /// The character's code point.
        code: u32,
        /// Its byte offset in the note or text.
        offset: usize,
    },
    /// A key name is empty or contains a space or `+`.
    #[error(
        "key name {name:?} is invalid: it must be non-empty and contain no spaces, '+' or \
         control characters (a scheme-less URL such as example.com/log works)"
    )]
    InvalidKeyName {
        /// The name given.
        name: String,
    },
    /// The note has no blank line before its signatures.
    #[error("the note has no blank line separating its text from signature lines; is it signed?")]
    MissingSignatureBlock,
    /// A signature line is not `— <name> <base64>`.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// The 1-based number of the signature line (after the blank line).
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("the note has more than {MAX_SIGNATURES} signatures; refusing to process it")]
    TooManySignatures,
    /// A verifier key is not `name+hexid+base64(type || key)`.
    #[error("the verifier key is malformed ({reason}); expected name+<8 hex digits>+<base64>")]
    MalformedVkey {
        /// What is wrong with it.
        reason: String,
    },
    /// A verifier key of a signature type other than Ed25519 (0x01).
    #[error(
        "the verifier key has signature type 0x{found:02x}; only Ed25519 keys (type 0x01) are \
         supported"
    )]
    UnsupportedKeyType {
        /// The type byte found.
        found: u8,
    },
    /// A verifier key whose stated id is not the one its name and key give.
    #[error(
        "the verifier key states key id {stated:08x}, but its name and public key give \
         {computed:08x}; the key text was altered or mistyped"
    )]
    VkeyIdMismatch {
        /// The id written in the key.
        stated: u32,
        /// The id computed from name and key.
        computed: u32,
    },
    /// The public key inside a verifier key is unusable.
    #[error("the verifier key's public key is unusable: {0}")]
    Key(#[from] KeyError),
    /// The note carries no signature by the expected key.
    #[error(
        "the note has no signature by key {name}+{key_id:08x}; it was signed by another key or \
         under another name"
    )]
    NoSignatureByKey {
        /// The expected key name.
        name: String,
        /// The expected key id.
        key_id: u32,
    },
    /// A signature by the expected key that does not verify.
    #[error(
        "the signature by {name}+{key_id:08x} does not verify: the note was altered after \
         signing"
    )]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A checkpoint's text is not origin, size and root lines.
    #[error("the checkpoint is malformed: {reason}")]
    MalformedCheckpoint {
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint signed by the expected key names another log.
    #[error("the checkpoint is for origin {found:?}, not the expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The C2SP key id (first four bytes of the decoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key id (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A parsed, not yet verified, note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// The C2SP key id: the first 4 bytes (big-endian) of
/// SHA-256(name || 0x0A || 0x01 || 32-byte public key).
pub fn note_key_id(name: &str, key: &PublicKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_TYPE]);
    hasher.update(key.to_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The verifier key text: name + `+` + 8 lowercase hex digits of the key id + `+` +
/// base64(0x01 || public key). `name` should be a valid key name (see [`sign_note`]).
pub fn vkey(name: &str, key: &PublicKey) -> String {
    let mut typed = [0u8; 33];
    typed[0] = ED25519_TYPE;
    typed[1..].copy_from_slice(&key.to_bytes());
    format!(
        "{name}+{:08x}+{}",
        note_key_id(name, key),
        STANDARD.encode(typed)
    )
}

/// Reads a verifier key ([`vkey`]'s form), checking that its key id matches its name and key
/// and that the key is a usable Ed25519 key. Surrounding whitespace is ignored.
pub fn parse_vkey(text: &str) -> Result<(String, PublicKey), NoteError> {
    let malformed = |reason: &str| NoteError::MalformedVkey {
        reason: reason.to_string(),
    };
    // The name has no '+' and the id is hex, so the first two '+' delimit them; the base64
    // after them may itself contain '+'.
    let (name, rest) = text
        .trim()
        .split_once('+')
        .ok_or_else(|| malformed("no '+' after the key name"))?;
    let (id_hex, encoded) = rest
        .split_once('+')
        .ok_or_else(|| malformed("no '+' after the key id"))?;
    check_key_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("the key id is not 8 hex digits"));
    }
    let stated = u32::from_str_radix(id_hex, 16).map_err(|_| malformed("bad key id"))?;
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| malformed(&format!("the key is not standard padded base64: {e}")))?;
    let (&key_type, raw) = bytes
        .split_first()
        .ok_or_else(|| malformed("the key is empty"))?;
    if key_type != ED25519_TYPE {
        return Err(NoteError::UnsupportedKeyType { found: key_type });
    }
    let raw: &[u8; 32] = raw.try_into().map_err(|_| {
        malformed(&format!(
            "an Ed25519 key is 32 bytes after the type byte, not {}",
            raw.len()
        ))
    })?;
    let key = PublicKey::from_bytes(raw)?;
    let computed = note_key_id(name, &key);
    if computed != stated {
        return Err(NoteError::VkeyIdMismatch { stated, computed });
    }
    Ok((name.to_string(), key))
}

/// Signs `text` as key `name`. The text must be non-empty, end with a newline and contain no
/// control characters other than newlines; the name must be non-empty without spaces or `+`.
/// Output: text + `"\n"` + `"— "` + name + `" "` + base64(4-byte key id || 64-byte signature)
/// + `"\n"`.
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_text(text)?;
    check_key_name(name)?;
    let mut payload = Vec::with_capacity(68);
    payload.extend_from_slice(&note_key_id(name, &key.public_key()).to_be_bytes());
    payload.extend_from_slice(&key.sign(text.as_bytes()));
    Ok(format!(
        "{text}\n{SIGNATURE_LINE_PREFIX}{name} {}\n",
        STANDARD.encode(payload)
    ))
}

/// Splits a note into its text and signature lines, strictly per the spec: no control
/// characters but newline; the last blank line separates text from signatures; each
/// signature line is `— <name> <base64>` ending in a newline, the base64 standard and padded
/// and at least 5 bytes long. Checks no signature.
pub fn parse_note(note: &str) -> Result<SignedNote, NoteError> {
    check_no_control_characters(note)?;
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
    let (text, block) = (&note[..split + 1], &note[split + 2..]);
    let malformed = |line, reason| NoteError::MalformedSignatureLine { line, reason };
    if block.is_empty() {
        return Err(malformed(
            1,
            "there are no signature lines after the blank line",
        ));
    }
    let lines = block.strip_suffix('\n').ok_or_else(|| {
        malformed(
            block.matches('\n').count() + 1,
            "it does not end with a newline",
        )
    })?;
    let mut signatures = Vec::new();
    for (index, line) in lines.split('\n').enumerate() {
        let number = index + 1;
        if number > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let rest = line.strip_prefix(SIGNATURE_LINE_PREFIX).ok_or_else(|| {
            malformed(
                number,
                "it does not start with an em dash (U+2014) and a space",
            )
        })?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or_else(|| malformed(number, "there is no space between key name and signature"))?;
        if !is_valid_key_name(name) {
            return Err(malformed(
                number,
                "the key name is empty or contains a space or '+'",
            ));
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| malformed(number, "the signature is not standard padded base64"))?;
        if bytes.len() < 5 {
            return Err(malformed(
                number,
                "the signature is shorter than a key id and one byte",
            ));
        }
        signatures.push(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            signature: bytes[4..].to_vec(),
        });
    }
    Ok(SignedNote {
        text: text.to_string(),
        signatures,
    })
}

/// Verifies that `note` carries a valid signature by (`name`, `key`) and returns its text.
/// Signatures by other keys (another name or key id) are ignored; a signature line with this
/// name and key id that does not verify is an error even if another one does.
pub fn verify_note(note: &str, name: &str, key: &PublicKey) -> Result<String, NoteError> {
    check_key_name(name)?;
    let parsed = parse_note(note)?;
    let key_id = note_key_id(name, key);
    let mut verified = false;
    for signature in &parsed.signatures {
        if signature.name != name || signature.key_id != key_id {
            continue;
        }
        let ok = <&[u8; 64]>::try_from(signature.signature.as_slice())
            .is_ok_and(|bytes| key.verify(parsed.text.as_bytes(), bytes));
        if !ok {
            return Err(NoteError::BadSignature {
                name: name.to_string(),
                key_id,
            });
        }
        verified = true;
    }
    if !verified {
        return Err(NoteError::NoSignatureByKey {
            name: name.to_string(),
            key_id,
        });
    }
    Ok(parsed.text)
}

/// A transparency-log checkpoint: the log's origin, its size and its RFC 6962 root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name, a scheme-less URL such as `tollgate.example/t/acme`.
    pub origin: String,
    /// How many entries the log holds.
    pub size: u64,
    /// The RFC 6962 Merkle tree hash of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `"origin\nsize\nbase64(root)\n"` (size in decimal, no leading zeros;
    /// standard padded base64).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Reads checkpoint note text. Extension lines after the root are allowed (they must be
    /// non-empty) and ignored; a malformed size or root is refused.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let malformed = |reason: String| NoteError::MalformedCheckpoint { reason };
        check_no_control_characters(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the text does not end with a newline".into()))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines
            .next()
            .ok_or_else(|| malformed("there is no tree size line".into()))?;
        let root = lines
            .next()
            .ok_or_else(|| malformed("there is no root hash line".into()))?;
        if origin.is_empty() {
            return Err(malformed("the origin line is empty".into()));
        }
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(format!(
                "the tree size {size:?} is not a decimal number"
            )));
        }
        if size.len() > 1 && size.starts_with('0') {
            return Err(malformed(format!(
                "the tree size {size:?} has a leading zero"
            )));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| malformed(format!("the tree size {size:?} is too large")))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                malformed(format!(
                    "the root {root:?} is not the standard padded base64 of 32 bytes"
                ))
            })?;
        if lines.any(str::is_empty) {
            return Err(malformed("an extension line is empty".into()));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// The signed note of this checkpoint, signed with key name = origin (which must
    /// therefore be a valid key name: no spaces or `+`).
    pub fn sign(&self, key: &SigningKey) -> Result<String, NoteError> {
        check_key_name(&self.origin)?;
        sign_note(&self.body(), &self.origin, key)
    }

    /// Verifies a checkpoint note against the key named `origin` and parses it; the
    /// checkpoint's origin line must be `origin`.
    pub fn open(note: &str, origin: &str, key: &PublicKey) -> Result<Self, NoteError> {
        let text = verify_note(note, origin, key)?;
        let checkpoint = Self::parse_body(&text)?;
        if checkpoint.origin != origin {
            return Err(NoteError::OriginMismatch {
                expected: origin.to_string(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}

/// Whether `name` may name a key: non-empty, no Unicode whitespace, no `+`, no control
/// characters.
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_string(),
        })
    }
}

/// Checks text to be signed: non-empty, ends with a newline, no other control characters.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() {
        return Err(NoteError::EmptyText);
    }
    check_no_control_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    Ok(())
}

/// Refuses ASCII control characters (below U+0020) other than newline.
fn check_no_control_characters(text: &str) -> Result<(), NoteError> {
    match text.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter {
            code: u32::from(text.as_bytes()[offset]),
            offset,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of c2sp.org/signed-note ("Verifier keys" section).
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_TEXT: &str = "This is an example message.\n";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    /// golang.org/x/mod/sumdb/note's documentation and tests: Peter's private key (type byte
    /// and seed), Enoch's key made from an all-zero seed, and the doubly signed note.
    const PETER_SKEY_DATA: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_LINE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    /// The checkpoint example of c2sp.org/tlog-checkpoint (its public key is not given).
    const SPEC_CHECKPOINT: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    fn peter_key() -> SigningKey {
        let data = STANDARD.decode(PETER_SKEY_DATA).expect("base64");
        assert_eq!(data[0], ED25519_TYPE);
        SigningKey::from_seed(&data[1..].try_into().expect("32 bytes"))
    }

    fn enoch_key() -> SigningKey {
        SigningKey::from_seed(&[0; 32])
    }

    fn sample_checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "tollgate.example/t/acme".into(),
            size: 1350,
            root: Sha256::digest(b"some root").into(),
        }
    }

    #[test]
    fn the_spec_vkey_parses_and_its_key_id_matches() {
        let (name, key) = parse_vkey(SPEC_VKEY).expect("parses");
        assert_eq!(name, "example.com/foo");
        assert_eq!(note_key_id(&name, &key), 0x530d_903a);
        assert_eq!(vkey(&name, &key), SPEC_VKEY);
    }

    #[test]
    fn the_spec_example_note_verifies() {
        let (name, key) = parse_vkey(SPEC_VKEY).expect("parses");
        assert_eq!(
            verify_note(SPEC_NOTE, &name, &key).expect("verifies"),
            SPEC_TEXT
        );
        let parsed = parse_note(SPEC_NOTE).expect("parses");
        assert_eq!(parsed.text, SPEC_TEXT);
        assert_eq!(parsed.signatures.len(), 1);
        assert_eq!(parsed.signatures[0].name, "example.com/foo");
        assert_eq!(parsed.signatures[0].key_id, 0x530d_903a);
        assert_eq!(parsed.signatures[0].signature.len(), 64);
    }

    #[test]
    fn go_sumdb_note_vectors_are_reproduced_byte_for_byte() {
        let peter = peter_key();
        let enoch = enoch_key();
        assert_eq!(vkey("PeterNeumann", &peter.public_key()), PETER_VKEY);
        assert_eq!(vkey("EnochRoot", &enoch.public_key()), ENOCH_VKEY);
        // Ed25519 is deterministic, so our signatures equal Go's.
        let signed = sign_note(GO_TEXT, "PeterNeumann", &peter).expect("signs");
        assert_eq!(signed, format!("{GO_TEXT}\n{PETER_LINE}"));
        let by_enoch = sign_note(GO_TEXT, "EnochRoot", &enoch).expect("signs");
        assert_eq!(by_enoch, format!("{GO_TEXT}\n{ENOCH_LINE}"));
    }

    #[test]
    fn a_note_with_two_signatures_verifies_for_each_key_and_ignores_the_other() {
        let note = format!("{GO_TEXT}\n{PETER_LINE}{ENOCH_LINE}");
        let (peter_name, peter) = parse_vkey(PETER_VKEY).expect("parses");
        let (enoch_name, enoch) = parse_vkey(ENOCH_VKEY).expect("parses");
        assert_eq!(
            verify_note(&note, &peter_name, &peter).expect("peter"),
            GO_TEXT
        );
        assert_eq!(
            verify_note(&note, &enoch_name, &enoch).expect("enoch"),
            GO_TEXT
        );
        // A signature line by a key nobody knows, first or last, changes nothing.
        let unknown = "\u{2014} other.example/key AAAAAAB0ZXN0\n";
        for note in [
            format!("{GO_TEXT}\n{unknown}{PETER_LINE}"),
            format!("{GO_TEXT}\n{PETER_LINE}{unknown}"),
        ] {
            assert_eq!(
                verify_note(&note, &peter_name, &peter).expect("peter"),
                GO_TEXT
            );
        }
    }

    #[test]
    fn signatures_sharing_only_the_name_or_only_the_id_are_ignored() {
        let key = SigningKey::generate();
        let public = key.public_key();
        let note = sign_note("hello\n", "example.com/log", &key).expect("signs");
        let id = note_key_id("example.com/log", &public);
        // Same name, another key id (a rotated key): ignored.
        let mut other_id = (id ^ 1).to_be_bytes().to_vec();
        other_id.extend_from_slice(&[7; 64]);
        let with_other_id = format!(
            "{note}\u{2014} example.com/log {}\n",
            STANDARD.encode(&other_id)
        );
        assert_eq!(
            verify_note(&with_other_id, "example.com/log", &public).expect("verifies"),
            "hello\n"
        );
        // Same key id, another name: ignored.
        let mut same_id = id.to_be_bytes().to_vec();
        same_id.extend_from_slice(&[7; 64]);
        let with_other_name = format!(
            "{note}\u{2014} example.com/other {}\n",
            STANDARD.encode(&same_id)
        );
        assert_eq!(
            verify_note(&with_other_name, "example.com/log", &public).expect("verifies"),
            "hello\n"
        );
        // Same name and id but a bad signature: the whole note is refused.
        let with_bad_twin = format!(
            "{note}\u{2014} example.com/log {}\n",
            STANDARD.encode(&same_id)
        );
        assert!(matches!(
            verify_note(&with_bad_twin, "example.com/log", &public),
            Err(NoteError::BadSignature { .. })
        ));
        // A known key id with a signature of the wrong length is a failure too.
        let short = format!(
            "hello\n\n\u{2014} example.com/log {}\n",
            STANDARD.encode([&id.to_be_bytes()[..], &[1; 10]].concat())
        );
        assert!(matches!(
            verify_note(&short, "example.com/log", &public),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let key = SigningKey::generate();
        for text in [
            "one line\n",
            "\n",
            "first\n\nafter a blank line\n",
            "ends with blank lines\n\n\n",
            "\u{2014} looks like a signature line\n",
            "unicode é 😀 and DEL \u{7f}\n",
        ] {
            let note = sign_note(text, "tollgate.example/log", &key).expect("signs");
            let back = verify_note(&note, "tollgate.example/log", &key.public_key());
            assert_eq!(back.expect("verifies"), text, "{text:?}");
            let parsed = parse_note(&note).expect("parses");
            assert_eq!(parsed.text, text);
            assert_eq!(parsed.signatures.len(), 1);
        }
    }

    #[test]
    fn the_spec_multi_paragraph_example_splits_at_the_last_blank_line() {
        let note = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
        let parsed = parse_note(note).expect("parses");
        assert_eq!(
            parsed.text,
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n"
        );
        assert_eq!(parsed.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(parsed.signatures[0].signature.len(), 64);
    }

    #[test]
    fn tampered_text_wrong_name_and_wrong_key_are_refused() {
        let key = SigningKey::generate();
        let public = key.public_key();
        let note = sign_note("size 10\n", "example.com/log", &key).expect("signs");
        let tampered = note.replacen("10", "11", 1);
        assert!(matches!(
            verify_note(&tampered, "example.com/log", &public),
            Err(NoteError::BadSignature { .. })
        ));
        assert!(matches!(
            verify_note(&note, "example.com/other", &public),
            Err(NoteError::NoSignatureByKey { .. })
        ));
        let other = SigningKey::generate().public_key();
        let err = verify_note(&note, "example.com/log", &other).expect_err("wrong key");
        assert!(matches!(err, NoteError::NoSignatureByKey { .. }), "{err}");
        assert!(matches!(
            verify_note(&note, "bad name", &public),
            Err(NoteError::InvalidKeyName { .. })
        ));
        // The spec note with one changed letter.
        let (name, spec_key) = parse_vkey(SPEC_VKEY).expect("parses");
        let altered = SPEC_NOTE.replace("example message", "exemplary message");
        assert!(matches!(
            verify_note(&altered, &name, &spec_key),
            Err(NoteError::BadSignature { .. })
        ));
        let altered_sig = SPEC_NOTE.replace("Uw2QOkn8", "Uw2QOkn9");
        assert!(verify_note(&altered_sig, &name, &spec_key).is_err());
    }

    #[test]
    fn malformed_notes_are_refused_without_panicking() {
        let (name, key) = parse_vkey(SPEC_VKEY).expect("parses");
        let sig = "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=";
        let text = SPEC_TEXT;
        let cases = [
            String::new(),
            "\n".into(),
            "\n\n".into(),
            text.into(),
            format!("{text}\n"),
            format!("{text}\u{2014} example.com/foo {sig}\n"),
            format!("{text}\n\u{2014} example.com/foo {sig}"),
            format!("{text}\n\u{2014} example.com/foo {sig}\n\n"),
            format!("{text}\n- example.com/foo {sig}\n"),
            format!("{text}\n\u{2013} example.com/foo {sig}\n"),
            format!("{text}\n\u{2014}example.com/foo {sig}\n"),
            format!("{text}\n\u{2014}  example.com/foo {sig}\n"),
            format!("{text}\n\u{2014} example.com/foo  {sig}\n"),
            format!("{text}\n\u{2014} example.com/foo {sig} \n"),
            format!("{text}\n\u{2014} example.com/foo\n"),
            format!("{text}\n\u{2014} example.com/foo \n"),
            format!("{text}\n\u{2014}  {sig}\n"),
            format!("{text}\n\u{2014} a+b {sig}\n"),
            format!(
                "{text}\n\u{2014} example.com/foo {}\n",
                sig.trim_end_matches('=')
            ),
            format!(
                "{text}\n\u{2014} example.com/foo {}\n",
                sig.replacen('w', "-", 1)
            ),
            format!("{text}\n\u{2014} example.com/foo AAAAAA==\n"),
            format!("{text}\n\u{2014} example.com/foo !!!!\n"),
            format!("{text}\r\n\u{2014} example.com/foo {sig}\r\n"),
            format!("This is\tan example message.\n\n\u{2014} example.com/foo {sig}\n"),
            format!("{text}\n\u{2014} example.com/foo {sig}\n\u{2014} x\n"),
            format!("{text}\n\u{2014} example.com/foo {sig}\n\n\u{2014} example.com/foo {sig}\n"),
        ];
        for case in &cases {
            assert!(verify_note(case, &name, &key).is_err(), "accepted {case:?}");
        }
        // Specific errors for the common mistakes.
        assert!(matches!(
            parse_note(text),
            Err(NoteError::MissingSignatureBlock)
        ));
        assert!(matches!(
            parse_note(&format!("{text}\r\n\u{2014} example.com/foo {sig}\n")),
            Err(NoteError::ControlCharacter { code: 0x0d, .. })
        ));
        assert!(matches!(
            parse_note(&format!("{text}\n- example.com/foo {sig}\n")),
            Err(NoteError::MalformedSignatureLine { line: 1, .. })
        ));
    }

    #[test]
    fn more_than_the_signature_limit_is_refused_and_sixteen_are_accepted() {
        let key = SigningKey::generate();
        let note = sign_note("text\n", "example.com/log", &key).expect("signs");
        let line = &note["text\n\n".len()..];
        let sixteen = format!("text\n\n{}", line.repeat(16));
        verify_note(&sixteen, "example.com/log", &key.public_key()).expect("16 signatures");
        let too_many = format!("text\n\n{}", line.repeat(MAX_SIGNATURES + 1));
        assert!(matches!(
            parse_note(&too_many),
            Err(NoteError::TooManySignatures)
        ));
    }

    #[test]
    fn sign_note_refuses_bad_text_and_bad_names() {
        let key = SigningKey::generate();
        assert!(matches!(
            sign_note("", "a", &key),
            Err(NoteError::EmptyText)
        ));
        assert!(matches!(
            sign_note("no newline", "a", &key),
            Err(NoteError::MissingFinalNewline)
        ));
        assert!(matches!(
            sign_note("crlf\r\n", "a", &key),
            Err(NoteError::ControlCharacter {
                code: 0x0d,
                offset: 4
            })
        ));
        assert!(matches!(
            sign_note("nul\0\n", "a", &key),
            Err(NoteError::ControlCharacter { code: 0, .. })
        ));
        for name in [
            "",
            "a b",
            "a+b",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\nb",
            "a\tb",
            "a\u{85}b",
        ] {
            assert!(
                matches!(
                    sign_note("x\n", name, &key),
                    Err(NoteError::InvalidKeyName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn malformed_vkeys_are_refused() {
        let (name, key) = parse_vkey(SPEC_VKEY).expect("parses");
        let data = "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let mut cosig_type = STANDARD.decode(data).expect("base64");
        cosig_type[0] = 0x04;
        let cases = [
            ("", "no '+'"),
            ("example.com/foo", "no '+'"),
            ("example.com/foo+530d903a", "no '+' after the key id"),
            (
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "id mismatch",
            ),
            (
                "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "name changed",
            ),
            (
                "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "7 hex digits",
            ),
            (
                "example.com/foo+530d903az+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "9 digits",
            ),
            (
                "example.com/foo+-30d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "sign",
            ),
            (
                "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
                "bad base64",
            ),
            ("example.com/foo+530d903a+", "empty key"),
            (
                "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA==",
                "34 bytes",
            ),
            (
                "exa mple.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "space",
            ),
            (
                "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "empty name",
            ),
        ];
        for (text, why) in cases {
            assert!(parse_vkey(text).is_err(), "{why}: {text}");
        }
        assert!(matches!(
            parse_vkey(&format!("{name}+530d903b+{data}")),
            Err(NoteError::VkeyIdMismatch {
                stated: 0x530d_903b,
                computed: 0x530d_903a
            })
        ));
        assert!(matches!(
            parse_vkey(&format!("{name}+530d903a+{}", STANDARD.encode(&cosig_type))),
            Err(NoteError::UnsupportedKeyType { found: 0x04 })
        ));
        // A weak key with a correctly computed id is still refused.
        let mut identity = vec![ED25519_TYPE, 1];
        identity.extend_from_slice(&[0; 31]);
        let weak = {
            let mut hasher = Sha256::new();
            hasher.update(b"weak.example\n");
            hasher.update(&identity);
            let d = hasher.finalize();
            u32::from_be_bytes([d[0], d[1], d[2], d[3]])
        };
        assert!(matches!(
            parse_vkey(&format!(
                "weak.example+{weak:08x}+{}",
                STANDARD.encode(&identity)
            )),
            Err(NoteError::Key(KeyError::WeakPublicKey))
        ));
        // Upper-case hex and surrounding whitespace are accepted.
        assert_eq!(
            parse_vkey(&format!(" {name}+530D903A+{data}\n"))
                .expect("parses")
                .1,
            key
        );
    }

    #[test]
    fn vkeys_whose_base64_contains_a_plus_round_trip() {
        let (seed, key) = (0u8..=255)
            .map(|i| (i, SigningKey::from_seed(&[i; 32]).public_key()))
            .find(|(_, k)| vkey("log.example", k).matches('+').count() > 2)
            .expect("some key's base64 contains '+'");
        let text = vkey("log.example", &key);
        let (_, parsed) = parse_vkey(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(parsed, key);
    }

    #[test]
    fn a_checkpoint_body_has_the_spec_layout_and_round_trips() {
        let empty = Checkpoint {
            origin: "example.com/log".into(),
            size: 0,
            root: Sha256::digest(b"").into(),
        };
        assert_eq!(
            empty.body(),
            "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(
            Checkpoint::parse_body(&empty.body()).expect("parses"),
            empty
        );
        let checkpoint = sample_checkpoint();
        assert_eq!(
            Checkpoint::parse_body(&checkpoint.body()).expect("parses"),
            checkpoint
        );
        let max = Checkpoint {
            size: u64::MAX,
            ..checkpoint
        };
        assert_eq!(Checkpoint::parse_body(&max.body()).expect("parses"), max);
    }

    #[test]
    fn the_spec_checkpoint_example_parses_and_extension_lines_are_ignored() {
        let parsed = parse_note(SPEC_CHECKPOINT).expect("parses");
        assert_eq!(parsed.signatures[0].name, "example.com/behind-the-sofa");
        assert_eq!(parsed.signatures[0].signature.len(), 64);
        let checkpoint = Checkpoint::parse_body(&parsed.text).expect("parses");
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(checkpoint.body(), parsed.text);

        let extended = format!("{}ext one\next two\n", parsed.text);
        assert_eq!(
            Checkpoint::parse_body(&extended).expect("parses"),
            checkpoint
        );
    }

    #[test]
    fn checkpoints_with_a_bad_size_or_root_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            String::new(),
            "example.com/log\n".into(),
            "example.com/log\n1\n".into(),
            format!("example.com/log\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("example.com/log\n\n{root}\n"),
            format!("example.com/log\n01\n{root}\n"),
            format!("example.com/log\n00\n{root}\n"),
            format!("example.com/log\n-1\n{root}\n"),
            format!("example.com/log\n+1\n{root}\n"),
            format!("example.com/log\n 1\n{root}\n"),
            format!("example.com/log\n1 \n{root}\n"),
            format!("example.com/log\n1.0\n{root}\n"),
            format!("example.com/log\n1e3\n{root}\n"),
            format!("example.com/log\n0x10\n{root}\n"),
            format!("example.com/log\n18446744073709551616\n{root}\n"),
            format!("example.com/log\n١\n{root}\n"),
            "example.com/log\n1\n\n".into(),
            format!("example.com/log\n1\n{}\n", root.trim_end_matches('=')),
            "example.com/log\n1\nCsUY\n".into(),
            format!("example.com/log\n1\n{}AAAA\n", root),
            format!("example.com/log\n1\n{}\n", STANDARD.encode([0u8; 33])),
            format!("example.com/log\n1\n{}\n", STANDARD.encode([0u8; 31])),
            format!("example.com/log\n1\n{}\n", root.replace('/', "_")),
            format!("example.com/log\n1\n {root}\n"),
            format!("example.com/log\n1\n{root}\n\n"),
            format!("example.com/log\n1\n{root}\next\n\n"),
            format!("example.com/log\r\n1\n{root}\n"),
        ];
        for case in &cases {
            assert!(Checkpoint::parse_body(case).is_err(), "accepted {case:?}");
        }
        let err = Checkpoint::parse_body(&format!("example.com/log\n01\n{root}\n")).unwrap_err();
        assert!(err.to_string().contains("leading zero"), "{err}");
        // A signed checkpoint with a bad root is refused after its signature checks out.
        let key = SigningKey::generate();
        let note = sign_note("example.com/log\n1\nCsUY\n", "example.com/log", &key).expect("signs");
        assert!(matches!(
            Checkpoint::open(&note, "example.com/log", &key.public_key()),
            Err(NoteError::MalformedCheckpoint { .. })
        ));
    }

    #[test]
    fn a_signed_checkpoint_opens_and_tampering_is_refused() {
        let key = SigningKey::generate();
        let public = key.public_key();
        let checkpoint = sample_checkpoint();
        let note = checkpoint.sign(&key).expect("signs");
        assert!(note.starts_with(&checkpoint.body()));
        let opened = Checkpoint::open(&note, &checkpoint.origin, &public).expect("opens");
        assert_eq!(opened, checkpoint);

        let bigger = note.replacen("\n1350\n", "\n1351\n", 1);
        assert!(matches!(
            Checkpoint::open(&bigger, &checkpoint.origin, &public),
            Err(NoteError::BadSignature { .. })
        ));
        assert!(Checkpoint::open(&note, "tollgate.example/t/other", &public).is_err());
        assert!(Checkpoint::open(
            &note,
            &checkpoint.origin,
            &SigningKey::generate().public_key()
        )
        .is_err());
    }

    #[test]
    fn a_checkpoint_signed_under_another_name_than_its_origin_is_refused() {
        let key = SigningKey::generate();
        let body = sample_checkpoint().body();
        let note = sign_note(&body, "tollgate.example/t/other", &key).expect("signs");
        assert!(matches!(
            Checkpoint::open(&note, "tollgate.example/t/other", &key.public_key()),
            Err(NoteError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn a_checkpoint_whose_origin_is_not_a_key_name_is_not_signed() {
        let key = SigningKey::generate();
        for origin in ["", "two words", "a+b", "line\nbreak"] {
            let checkpoint = Checkpoint {
                origin: origin.into(),
                ..sample_checkpoint()
            };
            assert!(
                matches!(checkpoint.sign(&key), Err(NoteError::InvalidKeyName { .. })),
                "{origin:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_the_parsers(text in "\\PC{0,200}|[\\x00-\\x7f—+/= \n]{0,200}") {
            let (name, key) = parse_vkey(SPEC_VKEY).expect("parses");
            let _ = parse_note(&text);
            let _ = verify_note(&text, &name, &key);
            let _ = parse_vkey(&text);
            let _ = Checkpoint::parse_body(&text);
            let _ = Checkpoint::open(&text, &name, &key);
        }

        #[test]
        fn any_single_edit_of_a_signed_checkpoint_is_refused(
            index in 0usize..200,
            replacement in proptest::prelude::any::<char>(),
            delete in proptest::prelude::any::<bool>(),
        ) {
            let key = SigningKey::from_seed(&[9; 32]);
            let checkpoint = sample_checkpoint();
            let note = checkpoint.sign(&key).expect("signs");
            let chars: Vec<char> = note.chars().collect();
            let index = index % chars.len();
            let mut edited = chars.clone();
            if delete {
                edited.remove(index);
            } else {
                edited[index] = replacement;
            }
            let edited: String = edited.into_iter().collect();
            proptest::prop_assume!(edited != note);
            let opened = Checkpoint::open(&edited, &checkpoint.origin, &key.public_key());
            proptest::prop_assert!(opened.is_err(), "accepted {:?}", edited);
        }
    }
}
