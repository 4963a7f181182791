//! The answer to a body member no request type knows: 422 `INVALID_FIELD` with the member's
//! JSON path as `field` and, when one is close enough, the known name it probably meant as
//! `suggestion`.
//!
//! Request bodies are `#[serde(deny_unknown_fields)]` types, so serde finds the member; this
//! module only turns its error into that answer. serde says which names the object takes
//! only in its message (`` unknown field `x`, expected one of `a`, `b` ``), so the message is
//! read here, in one place, and the unit tests below pin every form serde writes. Anything
//! that does not read as such a message is left to the generic shape error.

use serde_json::json;
use serde_path_to_error::Segment;

use crate::error::ApiError;

/// The 422 for an unknown member, or `None` when `e` is another kind of error.
pub fn from_serde(e: &serde_path_to_error::Error<serde_json::Error>) -> Option<ApiError> {
    let Some(Segment::Map { key }) = e.path().iter().next_back() else {
        return None;
    };
    let message = serde_message(e.inner());
    let known = expected_names(&message, key)?;
    Some(unknown_field(&e.path().to_string(), key, &known))
}

/// The 422 for the member `key` at `path` (the whole JSON path, `messages[0].rol`) of an
/// object that takes only `known`.
pub fn unknown_field(path: &str, key: &str, known: &[&str]) -> ApiError {
    let suggestion = closest(key, known);
    let message = match (suggestion, known) {
        (Some(s), _) => format!("unknown field '{path}'; did you mean '{s}'?"),
        (None, []) => format!("unknown field '{path}'; this object takes no fields"),
        (None, _) => format!(
            "unknown field '{path}'; the fields here are: {}",
            known.join(", ")
        ),
    };
    let details = match suggestion {
        Some(s) => json!({"field": path, "suggestion": s}),
        None => json!({"field": path}),
    };
    ApiError::invalid_field(path, message).with_details(details)
}

/// serde_json's message without the ` at line L column C` it appends.
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(message) if e.line() != 0 => message.to_string(),
        _ => text,
    }
}

/// The names serde lists in `` unknown field `key`, … ``; `None` for any other message.
fn expected_names<'m>(message: &'m str, key: &str) -> Option<Vec<&'m str>> {
    let rest = message.strip_prefix(&format!("unknown field `{key}`, "))?;
    if rest == "there are no fields" {
        return Some(Vec::new());
    }
    let list = rest.strip_prefix("expected ")?;
    // Field names are Rust identifiers (or serde renames of them): no backticks, so the
    // names are exactly the odd pieces between backticks.
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    (!names.is_empty()).then_some(names)
}

/// The known name nearest to `key`, if near enough to be a likely slip: within a third of
/// the name's length in edits (at least one; case-insensitive, a transposition counting as
/// one), or else, for keys of four or more characters, a name the key starts or is the start
/// of (`hold_ttl` for `hold_ttl_seconds`). Among slips of the first kind the fewest edits
/// win, among the second the longest shared start; then the first name.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_lowercase();
    known
        .iter()
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let d = strsim::damerau_levenshtein(&key, &lower);
            if d <= (lower.chars().count() / 3).max(1) {
                return Some(((0, d), *name));
            }
            let cut = lower.starts_with(&key) || key.starts_with(&lower);
            let shared = key.chars().count().min(lower.chars().count());
            (cut && key.chars().count() >= 4).then_some(((1, usize::MAX - shared), *name))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Call {
        user_id: Option<String>,
        model: Option<String>,
        messages: Option<Vec<Message>>,
        one: Option<One>,
        two: Option<Two>,
        none: Option<Nothing>,
        metadata: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Message {
        role: Option<String>,
        content: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct One {
        only: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Two {
        first: Option<i64>,
        second: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}

    /// The error body `text` gets, through serde_path_to_error as `parse_json` runs it.
    fn answer(text: &str) -> Option<serde_json::Value> {
        let mut de = serde_json::Deserializer::from_str(text);
        let e = serde_path_to_error::deserialize::<_, Call>(&mut de).expect_err("an error");
        from_serde(&e).map(|a| {
            assert_eq!(a.status().as_u16(), 422);
            assert_eq!(a.code(), tollgate_api::ErrorCode::InvalidField);
            serde_json::to_value(a.detail()).expect("a detail serializes")
        })
    }

    #[test]
    fn a_misspelled_top_level_field_is_named_with_the_field_it_resembles() {
        let b = answer(r#"{"model": "m", "userid": "dave"}"#).expect("unknown field");
        assert_eq!(b["field"], "userid");
        assert_eq!(b["suggestion"], "user_id");
        assert_eq!(
            b["message"],
            "unknown field 'userid'; did you mean 'user_id'?"
        );
    }

    #[test]
    fn a_nested_field_is_named_by_its_whole_path() {
        let b = answer("{\"messages\": [{\"role\": \"user\"},\n {\"rol\": \"user\"}]}")
            .expect("unknown field");
        assert_eq!(b["field"], "messages[1].rol");
        assert_eq!(b["suggestion"], "role");
        assert_eq!(
            b["message"],
            "unknown field 'messages[1].rol'; did you mean 'role'?"
        );
    }

    #[test]
    fn a_field_like_no_known_one_lists_the_known_ones_and_suggests_nothing() {
        let b = answer(r#"{"colour": "red"}"#).expect("unknown field");
        assert_eq!(b["field"], "colour");
        assert!(b.get("suggestion").is_none(), "{b}");
        let message = b["message"].as_str().expect("message");
        assert!(
            message.starts_with(
                "unknown field 'colour'; the fields here are: user_id, model, messages"
            ),
            "{message}"
        );
    }

    #[test]
    fn every_form_of_serdes_expected_list_is_read() {
        // `expected `a``, `expected `a` or `b``, `expected one of …` and `there are no fields`.
        let b = answer(r#"{"one": {"onlyy": 1}}"#).expect("one name");
        assert_eq!(
            (&b["field"], &b["suggestion"]),
            (&json!("one.onlyy"), &json!("only"))
        );
        let b = answer(r#"{"two": {"secnod": 1}}"#).expect("two names");
        assert_eq!(
            (&b["field"], &b["suggestion"]),
            (&json!("two.secnod"), &json!("second"))
        );
        let b = answer(r#"{"none": {"x": 1}}"#).expect("no names");
        assert_eq!(b["field"], "none.x");
        assert_eq!(
            b["message"],
            "unknown field 'none.x'; this object takes no fields"
        );
    }

    #[test]
    fn case_and_transpositions_count_as_near() {
        assert_eq!(
            answer(r#"{"UserId": 1}"#).expect("unknown")["suggestion"],
            "user_id"
        );
        assert_eq!(
            answer(r#"{"mdoel": 1}"#).expect("unknown")["suggestion"],
            "model"
        );
    }

    #[test]
    fn a_key_with_backticks_or_punctuation_is_still_named_exactly() {
        let b = answer(r#"{"a`, expected `model": 1}"#).expect("unknown field");
        assert_eq!(b["field"], "a`, expected `model");
        assert!(b.get("suggestion").is_none(), "{b}");
    }

    #[test]
    fn members_of_a_free_form_object_are_not_unknown() {
        let mut de = serde_json::Deserializer::from_str(r#"{"metadata": {"anything": 1}}"#);
        serde_path_to_error::deserialize::<_, Call>(&mut de).expect("free-form metadata");
    }

    #[test]
    fn other_errors_are_left_to_the_generic_answer() {
        assert!(answer(r#"{"model": 5}"#).is_none());
        assert!(answer(r#"{"model": "a", "model": "b"}"#).is_none());
        assert!(answer(r#"{"messages": [{"role": 1}]}"#).is_none());
        assert!(answer("[1]").is_none());
    }

    #[test]
    fn near_means_at_most_a_third_of_the_name_and_at_least_one_edit() {
        assert_eq!(closest("tag", &["tags"]), Some("tags"));
        assert_eq!(closest("x", &["id"]), None);
        assert_eq!(
            closest(
                "estimated_tokens",
                &["estimated_input_tokens", "estimated_output_tokens"]
            ),
            Some("estimated_input_tokens")
        );
        assert_eq!(closest("currency", &[]), None);
        assert_eq!(
            closest("hold_ttl", &["hold", "hold_ttl_seconds"]),
            Some("hold_ttl_seconds")
        );
        assert_eq!(closest("plan_name", &["plan"]), Some("plan"));
        assert_eq!(
            closest("use", &["user_id"]),
            None,
            "too short to be a cut name"
        );
    }
}
