//! Strings from the wire, checked before anything reads them.
//!
//! A NUL byte or bytes that are not UTF-8 can reach Tollgate in a path segment, a query
//! parameter or a JSON string (hyper refuses them in header names and values; the headers
//! Tollgate reads are checked where they are read). PostgreSQL cannot store a NUL in text,
//! and a lossy decoder would silently store something else than was sent, so both are a 400
//! naming the parameter or field, answered here for the path and query (checked by the
//! middleware every route runs in, `routes::observe`) and in [`crate::extract::parse_json`] for
//! bodies, before any handler or query runs.
//!
//! The same check answers a `Content-Length` above the body limit with 413 before a byte of
//! the body is read.

use axum::extract::Request;
use axum::http::header;
use percent_encoding::percent_decode;
use serde_json::Value;

use crate::error::ApiError;
use tollgate_api::ErrorCode;

/// Bad bytes in the path or query, or a declared body over `max_body_bytes`: the answer to
/// give before the route runs. `route` is the matched route, if any.
pub(crate) fn check_request(
    req: &Request,
    route: Option<&str>,
    max_body_bytes: usize,
) -> Result<(), ApiError> {
    check_path(req.uri().path(), route)?;
    if let Some(query) = req.uri().query() {
        check_query(query)?;
    }
    check_length(req, max_body_bytes)
}

/// What is wrong with a percent-encoded part of a URI, decoded, if anything. A URI holds
/// visible ASCII only, so without an escape there is nothing to decode or find: the common
/// case allocates nothing.
fn flaw(raw: &str) -> Option<&'static str> {
    if !raw.contains('%') {
        return None;
    }
    let decoded: Vec<u8> = percent_decode(raw.as_bytes()).collect();
    match std::str::from_utf8(&decoded) {
        Err(_) => Some("is not valid UTF-8"),
        Ok(s) if s.contains('\0') => Some("contains a NUL byte (%00)"),
        Ok(_) => None,
    }
}

/// Each path segment, percent-decoded, must be UTF-8 without NUL. The error names the
/// route's parameter the segment fills (`id` of `/api/v1/receipts/{id}`) when there is one.
fn check_path(path: &str, route: Option<&str>) -> Result<(), ApiError> {
    for (i, segment) in path.split('/').enumerate() {
        if let Some(why) = flaw(segment) {
            let field = route
                .and_then(|r| r.split('/').nth(i))
                .and_then(|t| t.strip_prefix('{'))
                .and_then(|t| t.strip_suffix('}'))
                .map(|t| t.trim_start_matches('*'))
                .unwrap_or("path");
            let message = if field == "path" {
                format!("the path {why}")
            } else {
                format!("path parameter '{field}' {why}")
            };
            return Err(ApiError::new(ErrorCode::InvalidPath, message).with_field(field));
        }
    }
    Ok(())
}

/// Each query parameter's name and value, percent-decoded, must be UTF-8 without NUL.
fn check_query(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(why) = flaw(name) {
            return Err(ApiError::invalid_query(
                "query",
                format!("a query parameter name {why}"),
            ));
        }
        if let Some(why) = flaw(value) {
            let field = percent_decode(name.as_bytes()).decode_utf8_lossy();
            return Err(ApiError::invalid_query(
                &field,
                format!("query parameter '{field}' {why}"),
            ));
        }
    }
    Ok(())
}

/// A declared body larger than the limit is refused before it is read.
fn check_length(req: &Request, max: usize) -> Result<(), ApiError> {
    let Some(length) = req.headers().get(header::CONTENT_LENGTH) else {
        return Ok(());
    };
    let declared = length
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is {n} bytes; this server accepts at most {max} (max_body_bytes)"),
        )),
        _ => Ok(()),
    }
}

/// Whether JSON text may hold a NUL character: only as the escape `\u0000` (raw control
/// characters are invalid JSON). A cheap test on the raw bytes; [`nul_in_json`] says where.
pub(crate) fn may_hold_nul(json: &[u8]) -> bool {
    json.windows(6).any(|w| w == b"\\u0000")
}

/// The path of the first string (a value or an object key) holding a NUL character, as
/// `serde_path_to_error` writes paths (`messages[0].content`), if any.
pub(crate) fn nul_in_json(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in_json(v).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(k.replace('\0', "\\u0000"));
            }
            nul_in_json(v).map(|rest| format!("{k}{}", dotted(&rest)))
        }),
        _ => None,
    }
}

/// A child's path as it follows its parent's (`.name` or `[i]`).
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_in_a_path_parameter_names_the_parameter() {
        let e = check_path("/api/v1/receipts/rcpt_%00x", Some("/api/v1/receipts/{id}"))
            .expect_err("refused");
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(e.detail().field.as_deref(), Some("id"));
    }

    #[test]
    fn invalid_utf8_in_a_path_is_refused() {
        let e = check_path("/api/v1/receipts/%FF", None).expect_err("refused");
        assert_eq!(e.code(), ErrorCode::InvalidPath);
        assert_eq!(e.detail().field.as_deref(), Some("path"));
        assert!(check_path("/api/v1/receipts/caf%C3%A9", None).is_ok());
    }

    #[test]
    fn a_nul_or_invalid_utf8_in_a_query_value_names_the_parameter() {
        let e = check_query("limit=5&model=gpt%00").expect_err("refused");
        assert_eq!(e.detail().field.as_deref(), Some("model"));
        let e = check_query("alias=%C3%28").expect_err("refused");
        assert_eq!(e.detail().field.as_deref(), Some("alias"));
        assert!(check_query("model=gpt-4o&tag=a+b%20c").is_ok());
    }

    #[test]
    fn the_first_string_holding_a_nul_is_found_by_its_path() {
        let v = json!({"model": "m", "messages": [{"role": "user"}, {"content": "a\u{0}"}]});
        assert_eq!(nul_in_json(&v).as_deref(), Some("messages[1].content"));
        assert_eq!(nul_in_json(&json!({"ok": ["x"]})), None);
        assert_eq!(
            nul_in_json(&json!({"user_id": "\u{0}"})).as_deref(),
            Some("user_id")
        );
    }

    #[test]
    fn only_the_nul_escape_triggers_the_slow_path() {
        assert!(may_hold_nul(br#"{"a": "x\u0000"}"#));
        assert!(!may_hold_nul(br#"{"a": "x\u0001"}"#));
    }
}
