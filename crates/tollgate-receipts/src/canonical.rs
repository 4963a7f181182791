//! RFC 8785 (JSON Canonicalization Scheme) for the values Tollgate signs and hashes.
//!
//! Strings, booleans, nulls, arrays and objects are written as RFC 8785 §3.2 prescribes.
//! Numbers are IEEE-754 doubles printed the ECMAScript way (RFC 8785 §3.2.2.3, via
//! `ryu_js`): `2.0` is `2`, `-0.0` is `0`, `1e21` is `1e+21`. Integers are written exactly
//! when their magnitude is at most 2^53; larger `i64`/`u64` values are refused rather than
//! rounded to the nearest double, because another verifier would sign or hash a different
//! number than the one the record holds (this fails closed).
//!
//! Tollgate's own v2 records hold only strings and integers within ±2^53; finite floats are
//! supported for the peer's v1 receipts, whose costs are floats.

use serde_json::Value;

/// The largest integer magnitude RFC 8785 can carry exactly (2^53).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// An integer beyond ±2^53, which RFC 8785's doubles cannot carry exactly, or a number
    /// that is not a finite double (only possible with serde_json's `arbitrary_precision`).
    UnsupportedNumber(String),
}

impl std::fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedNumber(n) => {
                write!(
                    f,
                    "number {n} has no exact RFC 8785 form: integers must be within ±2^53 \
                     (9007199254740992) and other numbers finite; send larger values as strings"
                )
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
    let unsupported = || CanonicalError::UnsupportedNumber(n.to_string());
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.extend_from_slice(u.to_string().as_bytes());
    } else {
        // Not an i64 or u64, so serde_json holds it as a double (or, with
        // `arbitrary_precision`, as text that `as_f64` rounds to one).
        let f = n
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(unsupported)?;
        // ECMAScript prints -0 as "0" (RFC 8785 §3.2.2.3); adding 0.0 turns -0.0 into +0.0
        // and leaves every other value unchanged.
        let f = f + 0.0;
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    }
    Ok(())
}

/// Writes `s` as an RFC 8785 string: quotes, `\"`, `\\`, the short escapes for
/// backspace, form feed, newline, carriage return and tab, `\u00xx` (lower-case hex) for the
/// other control characters, and every other character as its UTF-8 bytes.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings (ids, names, versions) need no escape: copied whole.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
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
    fn integers_beyond_2_pow_53_are_refused_and_those_within_are_exact() {
        assert!(canonicalize(&json!(9_007_199_254_740_993_u64)).is_err());
        assert!(canonicalize(&json!(-9_007_199_254_740_993_i64)).is_err());
        assert!(canonicalize(&json!(u64::MAX)).is_err());
        assert!(canonicalize(&json!(i64::MIN)).is_err());
        assert_eq!(text(json!(9_007_199_254_740_992_u64)), "9007199254740992");
        assert_eq!(text(json!(-9_007_199_254_740_992_i64)), "-9007199254740992");
        assert_eq!(text(json!(0)), "0");
    }

    #[test]
    fn the_refusal_message_says_what_to_do() {
        let err = canonicalize(&json!({"a": [u64::MAX]})).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("18446744073709551615"), "{message}");
        assert!(message.contains("string"), "{message}");
    }

    #[test]
    fn floats_are_written_the_ecmascript_way() {
        assert_eq!(text(json!(0.0)), "0");
        assert_eq!(text(json!(-0.0)), "0");
        assert_eq!(text(json!(2.0)), "2");
        assert_eq!(text(json!(100.0)), "100");
        assert_eq!(text(json!(1.5)), "1.5");
        assert_eq!(text(json!(-1.5)), "-1.5");
        assert_eq!(text(json!(1.5e-7)), "1.5e-7");
        assert_eq!(text(json!(1e21)), "1e+21");
        assert_eq!(text(json!(1e20)), "100000000000000000000");
        assert_eq!(text(json!(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(text(json!(0.000_001)), "0.000001");
        assert_eq!(text(json!(1e-7)), "1e-7");
    }

    /// RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
    #[test]
    fn rfc_8785_appendix_b_numbers_match() {
        let cases: &[(u64, &str)] = &[
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for &(bits, expected) in cases {
            let value = json!(f64::from_bits(bits));
            assert_eq!(text(value), expected, "bits {bits:#018x}");
        }
    }

    #[test]
    fn nan_and_infinity_have_no_json_value_to_canonicalize() {
        // RFC 8785 makes NaN and ±Infinity errors; serde_json already maps them to null when
        // building a Value, so they can never reach the number writer as numbers.
        assert!(serde_json::Number::from_f64(f64::NAN).is_none());
        assert!(serde_json::Number::from_f64(f64::INFINITY).is_none());
        assert!(serde_json::Number::from_f64(f64::NEG_INFINITY).is_none());
    }

    /// RFC 8785 §3.2.2's example, built from Rust literals so the doubles are exact.
    // The RFC's input deliberately has more digits than a double holds.
    #[allow(clippy::excessive_precision)]
    #[test]
    fn rfc_8785_section_3_2_2_example_matches() {
        let value = json!({
            "numbers": [333_333_333.333_333_29_f64, 1e30, 4.50, 2e-3, 0.000_000_000_000_000_000_000_000_001],
            "string": "\u{20ac}$\u{f}\nA'\u{42}\"\\\\\"/",
            "literals": [null, true, false],
        });
        assert_eq!(
            text(value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn the_same_double_parsed_from_text_canonicalizes_the_same() {
        // What a verifier does: parse the received JSON, then canonicalize it.
        let parsed: Value =
            serde_json::from_str(r#"{"cost":1.5E-7,"n":2.0,"z":-0.0,"big":1E21}"#).expect("parses");
        assert_eq!(text(parsed), r#"{"big":1e+21,"cost":1.5e-7,"n":2,"z":0}"#);
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

        #[test]
        fn every_finite_double_is_written_as_text_that_reads_back_exactly(
            bits in proptest::prelude::any::<u64>(),
        ) {
            let f = f64::from_bits(bits);
            proptest::prop_assume!(f.is_finite());
            let written = text(json!(f));
            // Rust's parser rounds correctly (serde_json's default parser may not).
            let back: f64 = written.parse().expect("a number");
            proptest::prop_assert_eq!(back, f + 0.0, "{}", written);
            // Shortest form, no trailing ".0", no "+" in front of positive numbers.
            proptest::prop_assert!(!written.ends_with(".0") && !written.starts_with('+'));
        }
    }
}
