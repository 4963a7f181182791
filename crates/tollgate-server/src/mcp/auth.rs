//! What a server's `auth_config` means when Tollgate connects to it:
//!
//! - `{"bearer_token": "…"}`: `Authorization: Bearer …` on every HTTP request;
//! - `{"headers": {"Name": "value", …}}`: those headers on every HTTP request (after the
//!   bearer token, so an explicit `Authorization` wins); the headers of the protocol itself
//!   (`Content-Type`, `Accept`, `Mcp-Session-Id`, `MCP-Protocol-Version`) cannot be set;
//! - `{"env": {"NAME": "value", …}}`: environment variables of a `stdio` server's process.
//!
//! Other members are kept and ignored. The shapes are checked when a server is registered or
//! changed (422 naming the member), so a refresh does not find them wrong.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Headers the transport sets itself.
const RESERVED: [&str; 5] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "content-length",
];

/// Checks the members Tollgate reads; 422 naming the first one that is wrong.
pub(crate) fn check_auth_config(config: &Map<String, Value>) -> Result<(), ApiError> {
    headers(config).map(|_| ())?;
    env(config).map(|_| ())
}

fn string_map<'a>(
    config: &'a Map<String, Value>,
    member: &str,
) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    match config.get(member) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.as_str(), s.as_str())),
                _ => Err(ApiError::invalid_field(
                    &format!("auth_config.{member}.{k}"),
                    format!("auth_config.{member}.{k} must be a string"),
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_field(
            &format!("auth_config.{member}"),
            format!("auth_config.{member} must be an object of strings"),
        )),
    }
}

/// The headers `config` adds to every HTTP request.
pub(super) fn headers(config: &Map<String, Value>) -> Result<HeaderMap, ApiError> {
    let mut map = HeaderMap::new();
    match config.get("bearer_token") {
        None | Some(Value::Null) => {}
        Some(Value::String(token)) => {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ApiError::invalid_field(
                    "auth_config.bearer_token",
                    "auth_config.bearer_token holds a character a header cannot carry",
                )
            })?;
            map.insert(reqwest::header::AUTHORIZATION, value);
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "auth_config.bearer_token",
                "auth_config.bearer_token must be a string",
            ))
        }
    }
    for (name, value) in string_map(config, "headers")? {
        let field = format!("auth_config.headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ApiError::invalid_field(&field, format!("{field}: '{name}' is not a header name"))
        })?;
        if RESERVED.contains(&header.as_str()) {
            return Err(ApiError::invalid_field(
                &field,
                format!("{field}: the MCP transport sets {name} itself"),
            ));
        }
        let value = HeaderValue::from_str(value).map_err(|_| {
            ApiError::invalid_field(
                &field,
                format!("{field} holds a character a header cannot carry"),
            )
        })?;
        map.insert(header, value);
    }
    Ok(map)
}

/// The environment variables `config` sets for a `stdio` process.
pub(super) fn env(config: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let vars = string_map(config, "env")?;
    vars.into_iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                Err(ApiError::invalid_field(
                    &format!("auth_config.env.{k}"),
                    format!("auth_config.env.{k} is not a usable environment variable"),
                ))
            } else {
                Ok((k.to_string(), v.to_string()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    #[test]
    fn a_bearer_token_and_headers_become_headers_and_an_explicit_authorization_wins() {
        let h = headers(&config(
            json!({"bearer_token": "t0k", "headers": {"X-Team": "a"}}),
        ))
        .expect("valid");
        assert_eq!(h["authorization"], "Bearer t0k");
        assert_eq!(h["x-team"], "a");
        let h = headers(&config(
            json!({"bearer_token": "t0k", "headers": {"Authorization": "Basic eA=="}}),
        ))
        .expect("valid");
        assert_eq!(h["authorization"], "Basic eA==");
        assert!(headers(&config(json!({"type": "oauth"})))
            .expect("ignored")
            .is_empty());
    }

    #[test]
    fn shapes_a_header_cannot_carry_are_refused_naming_the_member() {
        for (bad, field) in [
            (json!({"headers": {"X-A": 1}}), "auth_config.headers.X-A"),
            (json!({"headers": ["X-A"]}), "auth_config.headers"),
            (
                json!({"headers": {"bad name": "x"}}),
                "auth_config.headers.bad name",
            ),
            (
                json!({"headers": {"Accept": "text/html"}}),
                "auth_config.headers.Accept",
            ),
            (json!({"bearer_token": 5}), "auth_config.bearer_token"),
            (json!({"bearer_token": "a\nb"}), "auth_config.bearer_token"),
            (json!({"env": {"A=B": "x"}}), "auth_config.env.A=B"),
        ] {
            let e = check_auth_config(&config(bad.clone())).expect_err("refused");
            assert_eq!(e.detail().field.as_deref(), Some(field), "{bad}");
            assert_eq!(e.status(), 422);
        }
    }
}
