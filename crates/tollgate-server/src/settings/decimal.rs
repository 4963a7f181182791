//! Decimal settings (amounts, multiples) as people write them: `5`, `5.00` or `"5"`, in
//! `tollgate.toml` or a `TOLLGATE_*` variable. The setting keeps the decimal's text; the money
//! parser (`Nanos::parse_exact`) reads that text exactly where the setting is used. This module
//! only turns what the file or the environment held into that text.

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most significant digits a number (a float, by the time it reaches the settings) is
/// trusted to carry: every decimal of at most 15 significant digits survives the trip through
/// an `f64` and back through its shortest round-trip text unchanged.
const FLOAT_DIGITS: usize = 15;

/// A decimal setting, kept as text. Written as an integer (`5`), exact; as a decimal number
/// (`5.00`), read back from the float's shortest round-trip text (`5`), exact up to 15
/// significant digits and refused beyond; or as a string (`"5"`), exact and never through a
/// float.
#[derive(Clone, PartialEq, Eq)]
pub struct DecimalText(String);

impl DecimalText {
    /// The decimal as text, for the exact parser.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for DecimalText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DecimalText {
    fn from(text: &str) -> Self {
        DecimalText(text.to_string())
    }
}

impl From<String> for DecimalText {
    fn from(text: String) -> Self {
        DecimalText(text)
    }
}

impl fmt::Debug for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DecimalText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl utoipa::PartialSchema for DecimalText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Number, Type::String]))
            .description(Some(
                "A decimal, written as a number (5, 0.50) or a string (\"5\").",
            ))
            .into()
    }
}

impl utoipa::ToSchema for DecimalText {}

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalVisitor)
    }
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = DecimalText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal, as a number (5, 0.50) or a string (\"5\")")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DecimalText, E> {
        Ok(DecimalText(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DecimalText, E> {
        Ok(DecimalText(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DecimalText, E> {
        Ok(DecimalText(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<DecimalText, E> {
        Ok(DecimalText(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<DecimalText, E> {
        Ok(DecimalText(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DecimalText, E> {
        float_text(v).map(DecimalText).map_err(E::custom)
    }
}

/// The decimal a float stands for: its shortest round-trip text, which is the decimal that was
/// written whenever that had at most 15 significant digits. A longer one may already have been
/// rounded by the float, so it is refused rather than guessed.
fn float_text(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Err(format!(
            "{v} is not an amount; write a decimal such as 5 or \"0.50\""
        ));
    }
    // Rust's `Display` for f64 is the shortest text that reads back as the same float, and
    // never uses an exponent.
    let text = format!("{v}");
    if significant_digits(&text) > FLOAT_DIGITS {
        return Err(format!(
            "the number {text} has more than {FLOAT_DIGITS} significant digits, more than a \
             number keeps exactly; quote the amount to have it read as written: \
             \"{text}\" in tollgate.toml, '\"{text}\"' in a TOLLGATE_* variable"
        ));
    }
    Ok(text)
}

/// Significant digits of a plain decimal text (no exponent): the digits between the first
/// and the last non-zero one.
fn significant_digits(text: &str) -> usize {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.trim_matches('0').len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_of_up_to_fifteen_significant_digits_read_back_as_written() {
        for (float, text) in [
            (5.0, "5"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1234.56789012345, "1234.56789012345"),
            (0.000000001, "0.000000001"),
            (100000000000000000000.0, "100000000000000000000"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(float_text(float).as_deref(), Ok(text));
        }
    }

    #[test]
    fn a_float_of_sixteen_significant_digits_is_refused_with_a_hint_to_quote_it() {
        let error = float_text(1234.567890123456).expect_err("16 digits");
        assert!(
            error.contains("more than 15 significant digits") && error.contains("quote"),
            "{error}"
        );
        assert!(float_text(f64::NAN).is_err() && float_text(f64::INFINITY).is_err());
    }
}
