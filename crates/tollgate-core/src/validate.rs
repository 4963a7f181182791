//! Input validation shared by every entry point: one error type with a stable code, the field
//! it concerns and a sentence a person can act on.

use std::fmt;

/// The largest token count one event may carry in any field.
pub const MAX_TOKENS: i64 = 1_000_000_000;

/// A rejected input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Stable machine-readable code, such as `INVALID_FIELD`.
    pub code: &'static str,
    /// The field, as a JSON path-ish name (`events[3].input_tokens`).
    pub field: String,
    /// What is wrong and what to send instead.
    pub message: String,
}

impl Invalid {
    /// A field that has the wrong value.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            code: "INVALID_FIELD",
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, for a field nested under `prefix`.
    pub fn within(mut self, prefix: &str) -> Invalid {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

/// A required string: trimmed, non-empty, at most `max` bytes of UTF-8, no control characters.
///
/// Bytes, not characters: these strings are stored and some are index keys (the rollups key
/// on provider, model, alias, origin and user), whose size the database limits in bytes; a
/// limit in characters would let four-byte characters past it.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Invalid::field(field, format!("{field} must not be empty")));
    }
    optional_text(field, Some(v), max).map(|s| s.unwrap_or_default())
}

/// An optional string: empty means absent; otherwise as [`required_text`].
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, Invalid> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > max {
        return Err(Invalid::field(
            field,
            format!(
                "{field} must be at most {max} bytes of UTF-8 (a character takes 1 to 4), got {}",
                v.len()
            ),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Invalid::field(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(v.to_string()))
}

/// A token count: 0 to [`MAX_TOKENS`].
pub fn tokens(field: &str, value: i64) -> Result<i64, Invalid> {
    if (0..=MAX_TOKENS).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::field(
            field,
            format!("{field} must be between 0 and {MAX_TOKENS}, got {value}"),
        ))
    }
}

/// The longest plan name.
pub const MAX_PLAN_NAME: usize = 64;

/// A plan's name: as [`required_text`], at most [`MAX_PLAN_NAME`] bytes, and not
/// `default`, which stands for "the default plan" wherever a tenant's plan is chosen.
pub fn plan_name(field: &str, value: &str) -> Result<String, Invalid> {
    let name = required_text(field, value, MAX_PLAN_NAME)?;
    if name == "default" {
        return Err(Invalid::field(
            field,
            format!("{field} 'default' is reserved: it names the default plan wherever a plan is chosen"),
        ));
    }
    Ok(name)
}

/// A plan's monthly request quota: None (unlimited), or zero or more.
pub fn monthly_requests(field: &str, value: Option<i64>) -> Result<Option<i64>, Invalid> {
    match value {
        Some(n) if n < 0 => Err(Invalid::field(
            field,
            format!("{field} must be zero or more (or null for unlimited), got {n}"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_limit_counts_bytes_so_four_byte_characters_cannot_pass_it() {
        assert!(optional_text("model", Some(&"a".repeat(8)), 8).is_ok());
        let emoji = "\u{1F600}".repeat(3); // 3 characters, 12 bytes
        let e = optional_text("model", Some(&emoji), 8).expect_err("too long");
        assert_eq!(e.field, "model");
        assert!(e.message.contains("bytes"), "{}", e.message);
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(
            required_text("model", "  gpt-4o ", 10),
            Ok("gpt-4o".to_string())
        );
        assert!(required_text("model", "   ", 10).is_err());
        assert!(required_text("model", "abcdefghijk", 10).is_err());
        assert!(required_text("model", "a\u{0}b", 10).is_err());
        assert_eq!(optional_text("alias", Some(""), 10), Ok(None));
    }

    #[test]
    fn token_counts_are_non_negative_and_bounded() {
        assert!(tokens("input_tokens", -1).is_err());
        assert!(tokens("input_tokens", MAX_TOKENS + 1).is_err());
        assert_eq!(tokens("input_tokens", 0), Ok(0));
    }

    #[test]
    fn plan_names_are_bounded_text_other_than_default() {
        assert_eq!(plan_name("name", " team "), Ok("team".to_string()));
        assert!(plan_name("name", "default").is_err());
        assert!(plan_name("name", &"p".repeat(65)).is_err());
        assert!(monthly_requests("monthly_requests", Some(-1)).is_err());
        assert_eq!(monthly_requests("monthly_requests", None), Ok(None));
    }

    #[test]
    fn nesting_prefixes_the_field() {
        let e = Invalid::field("input_tokens", "bad").within("events[2]");
        assert_eq!(e.field, "events[2].input_tokens");
    }
}
