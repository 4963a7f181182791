//! Signing JSON documents (receipts): an Ed25519 signature over the RFC 8785 canonical form
//! of the whole object except its `signature` member, stored in that member as
//! `ed25519:<base64url, no padding>` (the peer server's format).
//!
//! Verifiers must canonicalize the object they *received* (parsed strictly), not a typed
//! struct that drops unknown fields, or a field added after signing goes unnoticed.
//!
//! Floats in a received document survive only if the parser reads every double exactly;
//! serde_json does that only with its `float_roundtrip` feature (its default parser can be
//! one unit in the last place off for 16–17 digit numbers, and the re-canonicalized bytes
//! then no longer match).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::canonical::{canonicalize, CanonicalError};
use crate::keys::{PublicKey, SigningKey};

/// What a signature value starts with.
pub const PREFIX: &str = "ed25519:";

/// The member of a signed document that holds its signature.
pub const SIGNATURE_MEMBER: &str = "signature";

/// Why a document could not be signed or its signature did not check out.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// Only JSON objects are signed.
    #[error("only a JSON object can be signed or verified, not {found}")]
    NotAnObject {
        /// The JSON type found instead ("an array", "a string", ...).
        found: &'static str,
    },
    /// The document holds a value without a canonical form.
    #[error("the document has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
    /// The document has no `signature` member.
    #[error("the document has no \"signature\" member; it is unsigned")]
    Missing,
    /// The `signature` member is not a string.
    #[error("the \"signature\" member must be a string like \"ed25519:…\", not {found}")]
    NotAString {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// The signature does not start with `ed25519:`.
    #[error("the signature must start with \"ed25519:\"; found {found:?}")]
    WrongPrefix {
        /// The start of the value found (at most 16 characters).
        found: String,
    },
    /// The text after the prefix is not unpadded base64url.
    #[error("the signature after \"ed25519:\" is not unpadded base64url: {reason}")]
    BadBase64 {
        /// What the decoder objected to.
        reason: String,
    },
    /// The signature does not decode to 64 bytes.
    #[error("an Ed25519 signature is 64 bytes (86 base64url characters); this one is {len} bytes")]
    WrongLength {
        /// The decoded length.
        len: usize,
    },
    /// A well-formed signature that this key did not make over this document.
    #[error(
        "the signature does not match: the document was changed after signing, or it was \
         signed by a different key"
    )]
    Mismatch,
}

/// The bytes a signature covers: RFC 8785 canonical form of the object without its
/// `"signature"` member. Non-objects are an error.
pub fn signing_bytes(doc: &Value) -> Result<Vec<u8>, SignatureError> {
    let object = doc.as_object().ok_or(SignatureError::NotAnObject {
        found: json_type(doc),
    })?;
    if !object.contains_key(SIGNATURE_MEMBER) {
        return Ok(canonicalize(doc)?);
    }
    let mut unsigned = object.clone();
    unsigned.remove(SIGNATURE_MEMBER);
    Ok(canonicalize(&Value::Object(unsigned))?)
}

/// `"ed25519:"` + base64url (no padding) of the 64-byte signature over
/// [`signing_bytes`]`(doc)`. An existing `signature` member is ignored.
pub fn sign_document(doc: &Value, key: &SigningKey) -> Result<String, SignatureError> {
    let signature = key.sign(&signing_bytes(doc)?);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Checks `doc["signature"]` against `key`. A missing or malformed signature is an error
/// naming the problem; a well-formed signature that does not verify (strictly) is
/// [`SignatureError::Mismatch`].
pub fn verify_document(doc: &Value, key: &PublicKey) -> Result<(), SignatureError> {
    let object = doc.as_object().ok_or(SignatureError::NotAnObject {
        found: json_type(doc),
    })?;
    let value = object
        .get(SIGNATURE_MEMBER)
        .ok_or(SignatureError::Missing)?;
    let text = value.as_str().ok_or(SignatureError::NotAString {
        found: json_type(value),
    })?;
    let encoded = text
        .strip_prefix(PREFIX)
        .ok_or_else(|| SignatureError::WrongPrefix {
            found: text.chars().take(16).collect(),
        })?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| SignatureError::BadBase64 {
            reason: e.to_string(),
        })?;
    let signature: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SignatureError::WrongLength { len: bytes.len() })?;
    if key.verify(&signing_bytes(doc)?, &signature) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The JSON type of `value`, with an article, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A receipt-shaped document with nested objects, arrays, strings, integers, floats,
    /// booleans and null, already signed.
    fn signed_receipt(key: &SigningKey) -> Value {
        let mut doc = json!({
            "type": "usage-receipt/v2",
            "receipt_id": "rcpt_01JZ8Q3W7K",
            "project_id": "proj_42",
            "period": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
            "issued_at": "2026-11-01T00:05:00Z",
            "key_id": key.public_key().key_id(),
            "range": {"start": 1200, "end": 1350, "count": 150},
            "range_root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "totals": {
                "requests": 150,
                "input_tokens": 91_234,
                "output_tokens": 20_111,
                "cost": {"currency": "USD", "amount": "1.234500"},
                "cost_float": 1.2345,
            },
            "by_model": {
                "gpt-4o": {"requests": 100, "cost": 0.75, "cached": true},
                "claude-3": {"requests": 50, "cost": 0.4845, "cached": false},
            },
            "tags": ["billing", "october", {"team": "search"}],
            "ratios": [0.5, -2.25, 1e-7, 0],
            "description": "Usage for Oct — é 😀",
            "prev_receipt": null,
            "nested": {"deeper": {"deepest": [[1, 2], [3, {"x": null}]]}},
        });
        let signature = sign_document(&doc, key).expect("signs");
        doc[SIGNATURE_MEMBER] = json!(signature);
        doc
    }

    /// JSON pointers of every value in `value` (the root included).
    fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let escaped = k.replace('~', "~0").replace('/', "~1");
                    pointers(v, format!("{prefix}/{escaped}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    pointers(v, format!("{prefix}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(prefix);
    }

    /// A value different from `value` under RFC 8785 (so not 2 for 2.0).
    fn changed(value: &Value) -> Value {
        match value {
            Value::Null => json!(0),
            Value::Bool(b) => json!(!b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => json!(i + 1),
                (None, Some(f)) => json!(f * 2.0 + 1.0),
                (None, None) => json!(null),
            },
            Value::String(s) => json!(format!("{s}.")),
            Value::Array(items) => json!(items.len()),
            Value::Object(_) => json!("object"),
        }
    }

    fn is_signature(pointer: &str) -> bool {
        pointer == "/signature"
    }

    #[test]
    fn a_signed_document_verifies() {
        let key = SigningKey::generate();
        let doc = signed_receipt(&key);
        verify_document(&doc, &key.public_key()).expect("verifies");
        let signature = doc[SIGNATURE_MEMBER].as_str().expect("string");
        assert!(signature.starts_with(PREFIX));
        assert_eq!(signature.len(), PREFIX.len() + 86);
    }

    #[test]
    fn changing_any_value_anywhere_breaks_the_signature() {
        let key = SigningKey::generate();
        let doc = signed_receipt(&key);
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let mut checked = 0;
        for pointer in all.iter().filter(|p| !p.is_empty() && !is_signature(p)) {
            let mut tampered = doc.clone();
            let slot = tampered.pointer_mut(pointer).expect("pointer exists");
            *slot = changed(slot);
            assert!(
                matches!(
                    verify_document(&tampered, &key.public_key()),
                    Err(SignatureError::Mismatch)
                ),
                "changing {pointer} went unnoticed"
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} values checked");
    }

    #[test]
    fn adding_or_removing_a_member_or_element_anywhere_breaks_the_signature() {
        let key = SigningKey::generate();
        let doc = signed_receipt(&key);
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        for pointer in &all {
            let target = doc.pointer(pointer).expect("exists");
            let mut edits: Vec<(String, Value)> = Vec::new();
            match target {
                Value::Object(map) => {
                    let mut added = doc.clone();
                    let slot = added.pointer_mut(pointer).expect("exists");
                    slot.as_object_mut()
                        .expect("object")
                        .insert("extra".into(), json!(null));
                    edits.push((format!("adding a member to {pointer:?}"), added));
                    for k in map.keys() {
                        if pointer.is_empty() && k == SIGNATURE_MEMBER {
                            continue;
                        }
                        let mut removed = doc.clone();
                        let slot = removed.pointer_mut(pointer).expect("exists");
                        slot.as_object_mut().expect("object").remove(k);
                        edits.push((format!("removing {pointer}/{k}"), removed));
                    }
                }
                Value::Array(items) => {
                    let mut added = doc.clone();
                    let slot = added.pointer_mut(pointer).expect("exists");
                    slot.as_array_mut().expect("array").push(json!(null));
                    edits.push((format!("appending to {pointer}"), added));
                    for i in 0..items.len() {
                        let mut removed = doc.clone();
                        let slot = removed.pointer_mut(pointer).expect("exists");
                        slot.as_array_mut().expect("array").remove(i);
                        edits.push((format!("removing {pointer}/{i}"), removed));
                    }
                    if items.len() > 1 {
                        let mut swapped = doc.clone();
                        let slot = swapped.pointer_mut(pointer).expect("exists");
                        slot.as_array_mut().expect("array").swap(0, 1);
                        edits.push((format!("reordering {pointer}"), swapped));
                    }
                }
                _ => {}
            }
            for (what, tampered) in edits {
                assert!(
                    matches!(
                        verify_document(&tampered, &key.public_key()),
                        Err(SignatureError::Mismatch)
                    ),
                    "{what} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn renaming_a_member_breaks_the_signature() {
        let key = SigningKey::generate();
        let mut doc = signed_receipt(&key);
        let totals = doc["totals"].as_object_mut().expect("object");
        let requests = totals.remove("requests").expect("present");
        totals.insert("Requests".into(), requests);
        assert!(matches!(
            verify_document(&doc, &key.public_key()),
            Err(SignatureError::Mismatch)
        ));
    }

    #[test]
    fn the_signature_member_is_not_signed() {
        let key = SigningKey::generate();
        let doc = signed_receipt(&key);
        let mut unsigned = doc.clone();
        unsigned
            .as_object_mut()
            .expect("object")
            .remove(SIGNATURE_MEMBER);
        assert_eq!(
            signing_bytes(&doc).expect("bytes"),
            signing_bytes(&unsigned).expect("bytes")
        );
        // Signing again, with the old signature present, gives the same (deterministic)
        // signature.
        assert_eq!(
            sign_document(&doc, &key).expect("signs"),
            doc[SIGNATURE_MEMBER].as_str().expect("string")
        );
        // A "signature" member deeper down is ordinary data.
        let mut nested = doc.clone();
        nested["period"][SIGNATURE_MEMBER] = json!("x");
        assert!(matches!(
            verify_document(&nested, &key.public_key()),
            Err(SignatureError::Mismatch)
        ));
    }

    #[test]
    fn key_order_and_whitespace_of_the_input_do_not_matter() {
        let key = SigningKey::generate();
        let compact = r#"{"b":[1,2.5,{"y":"é","x":null}],"a":{"d":true,"c":-7}}"#;
        let mut doc: Value = serde_json::from_str(compact).expect("parses");
        doc[SIGNATURE_MEMBER] = json!(sign_document(&doc, &key).expect("signs"));
        let signature = doc[SIGNATURE_MEMBER].as_str().expect("string").to_string();

        let reordered = format!(
            "{{\n  \"signature\" : \"{signature}\",\n  \"a\" : {{ \"c\" : -7, \"d\" : true }},\n\t\"b\" : [ 1 , 2.50 , {{ \"x\" : null , \"y\" : \"\\u00e9\" }} ]\n}}\n"
        );
        let other: Value = serde_json::from_str(&reordered).expect("parses");
        verify_document(&other, &key.public_key()).expect("verifies");
    }

    #[test]
    fn a_signature_from_another_key_does_not_verify() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let doc = signed_receipt(&key);
        assert!(matches!(
            verify_document(&doc, &other.public_key()),
            Err(SignatureError::Mismatch)
        ));
        let mut resigned = doc.clone();
        resigned[SIGNATURE_MEMBER] = json!(sign_document(&doc, &other).expect("signs"));
        assert!(matches!(
            verify_document(&resigned, &key.public_key()),
            Err(SignatureError::Mismatch)
        ));
        verify_document(&resigned, &other.public_key()).expect("verifies with its own key");
    }

    #[test]
    fn malformed_signatures_get_specific_errors() {
        let key = SigningKey::generate();
        let doc = signed_receipt(&key);
        let good = doc[SIGNATURE_MEMBER].as_str().expect("string").to_string();
        let encoded = good.strip_prefix(PREFIX).expect("prefix");
        let public = key.public_key();
        let with = |signature: Value| {
            let mut d = doc.clone();
            d[SIGNATURE_MEMBER] = signature;
            verify_document(&d, &public)
        };

        let mut missing = doc.clone();
        missing
            .as_object_mut()
            .expect("object")
            .remove(SIGNATURE_MEMBER);
        assert!(matches!(
            verify_document(&missing, &public),
            Err(SignatureError::Missing)
        ));
        assert!(matches!(
            with(json!(null)),
            Err(SignatureError::NotAString { found: "null" })
        ));
        assert!(matches!(
            with(json!(["ed25519:"])),
            Err(SignatureError::NotAString { .. })
        ));
        assert!(matches!(
            with(json!(encoded)),
            Err(SignatureError::WrongPrefix { .. })
        ));
        assert!(matches!(
            with(json!(format!("Ed25519:{encoded}"))),
            Err(SignatureError::WrongPrefix { .. })
        ));
        assert!(matches!(
            with(json!(format!("rsa:{encoded}"))),
            Err(SignatureError::WrongPrefix { .. })
        ));
        assert!(matches!(
            with(json!(format!("{good}=="))),
            Err(SignatureError::BadBase64 { .. })
        ));
        let standard = encoded.replace('-', "+").replace('_', "/");
        if standard != encoded {
            assert!(matches!(
                with(json!(format!("{PREFIX}{standard}"))),
                Err(SignatureError::BadBase64 { .. })
            ));
        }
        assert!(matches!(
            with(json!(format!("{good} "))),
            Err(SignatureError::BadBase64 { .. })
        ));
        assert!(matches!(
            with(json!(PREFIX)),
            Err(SignatureError::WrongLength { len: 0 })
        ));
        assert!(matches!(
            with(json!(format!("{PREFIX}{}", &encoded[..84]))),
            Err(SignatureError::WrongLength { len: 63 })
        ));
        assert!(matches!(
            with(json!(format!(
                "{PREFIX}{}",
                URL_SAFE_NO_PAD.encode([0u8; 65])
            ))),
            Err(SignatureError::WrongLength { len: 65 })
        ));
        assert!(matches!(
            with(json!(format!(
                "{PREFIX}{}",
                URL_SAFE_NO_PAD.encode([0u8; 64])
            ))),
            Err(SignatureError::Mismatch)
        ));
    }

    #[test]
    fn only_objects_are_signed_or_verified() {
        let key = SigningKey::generate();
        for doc in [json!([1, 2]), json!("text"), json!(null), json!(3)] {
            assert!(matches!(
                signing_bytes(&doc),
                Err(SignatureError::NotAnObject { .. })
            ));
            assert!(sign_document(&doc, &key).is_err());
            assert!(matches!(
                verify_document(&doc, &key.public_key()),
                Err(SignatureError::NotAnObject { .. })
            ));
        }
    }

    #[test]
    fn a_document_with_an_unsafe_integer_is_not_signed() {
        let key = SigningKey::generate();
        let doc = json!({"amount": u64::MAX});
        assert!(matches!(
            sign_document(&doc, &key),
            Err(SignatureError::Canonical(_))
        ));
    }

    #[test]
    fn the_signed_bytes_are_the_canonical_form_without_the_signature() {
        let doc = json!({"signature": "ed25519:x", "b": 2.0, "a": "x"});
        assert_eq!(
            signing_bytes(&doc).expect("bytes"),
            br#"{"a":"x","b":2}"#.to_vec()
        );
    }
}
