//! RFC 8785 (JSON Canonicalization Scheme) for the values Tollgate signs and hashes.
//!
//! Tollgate's canonical records hold strings, booleans, nulls, arrays, objects and integers
//! within ±2^53, the range in which RFC 8785's ECMAScript number form is the plain decimal
//! form. Anything else is refused rather than encoded in a way another verifier might not
//! reproduce.

use serde_json::Value;

/// The largest integer magnitude RFC 8785 can carry exactly (2^53).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// A number that is not an integer within ±2^53.
    UnsupportedNumber(String),
}

impl std::fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedNumber(n) => {
                write!(f, "number {n} is not an integer within ±2^53")
            }
        }
    }
}

impl std::error::Error for CanonicalError {}

/// The RFC 8785 bytes of `value`.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // RFC 8785 §3.2.3: keys sort by their UTF-16 code units, not by UTF-8 bytes.
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) -> Result<(), CanonicalError> {
    let fits = if let Some(i) = n.as_i64() {
        i.unsigned_abs() <= MAX_SAFE_INTEGER
    } else if let Some(u) = n.as_u64() {
        u <= MAX_SAFE_INTEGER
    } else {
        false
    };
    if !fits {
        return Err(CanonicalError::UnsupportedNumber(n.to_string()));
    }
    out.extend_from_slice(n.to_string().as_bytes());
    Ok(())
}

/// Writes `s` as an RFC 8785 string: quotes, `\"`, `\\`, the short escapes for
/// backspace, form feed, newline, carriage return and tab, `\u00xx` (lower-case hex) for the
/// other control characters, and every other character as its UTF-8 bytes.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> String {
        String::from_utf8(canonicalize(&v).expect("canonical")).expect("utf-8")
    }

    #[test]
    fn keys_are_sorted_and_whitespace_is_dropped() {
        assert_eq!(
            text(json!({"b": 1, "a": [true, null, "x"], "c": {"z": 0, "y": -5}})),
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":-5,"z":0}}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+E000 is one UTF-16 unit (0xE000); U+1F600 is a surrogate pair starting 0xD83D,
        // so the emoji sorts first in RFC 8785 although its UTF-8 bytes sort last.
        assert_eq!(
            text(json!({"\u{e000}": 1, "\u{1f600}": 2})),
            "{\"\u{1f600}\":2,\"\u{e000}\":1}"
        );
    }

    #[test]
    fn control_characters_use_short_escapes_or_lowercase_hex() {
        assert_eq!(
            text(json!("a\"b\\c\n\t\u{1}\u{1f}é")),
            "\"a\\\"b\\\\c\\n\\t\\u0001\\u001fé\""
        );
    }

    #[test]
    fn floats_and_unsafe_integers_are_refused() {
        assert!(canonicalize(&json!(1.5)).is_err());
        assert!(canonicalize(&json!(9_007_199_254_740_993_u64)).is_err());
        assert!(canonicalize(&json!(9_007_199_254_740_992_u64)).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn canonical_text_parses_back_to_the_same_value(
            map in proptest::collection::btree_map("[a-zA-Z0-9_\\u{0}-\\u{7f}é€😀]{0,8}", proptest::prelude::any::<i32>(), 0..8),
            s in "\\PC{0,20}",
        ) {
            let value = json!({"map": map, "s": s});
            let bytes = canonicalize(&value).expect("canonical");
            let back: Value = serde_json::from_slice(&bytes).expect("parses");
            proptest::prop_assert_eq!(back, value);
        }
    }
}
