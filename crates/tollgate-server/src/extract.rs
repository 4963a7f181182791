//! Request extractors that answer malformed input with [`ApiError`]'s shape instead of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;
use tollgate_api::ErrorCode;

/// A JSON body, parsed with the path of the first bad field in the error.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        // serde reads a struct from an array too, member by member in order; every body
        // here is an object, so an array is refused rather than read by position.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::invalid_field(
                "",
                "the body must be a JSON object, not an array",
            ));
        }
        parse_json(&bytes).map(Body)
    }
}

/// The body as bytes, with [`Body`]'s errors (too large: 413, too slow: 408) rather than
/// axum's plain-text ones.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

/// Parses JSON: malformed JSON is a 400, a string holding a NUL character a 400 naming it
/// (see [`crate::input`]), JSON of the wrong shape a 422 naming the field (an unknown one
/// with the known field it most resembles; see [`crate::unknown_field`]).
pub fn parse_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    if crate::input::may_hold_nul(bytes) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(field) = crate::input::nul_in_json(&value) {
                let shown = if field.is_empty() { "the body" } else { &field };
                return Err(ApiError::new(ErrorCode::InvalidCharacter,
                    format!("{shown} holds a NUL character (\\u0000), which Tollgate does not store; remove it"),
                )
                .with_field(&field));
            }
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if let Some(unknown) = crate::unknown_field::from_serde(&e) {
            return unknown;
        }
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {inner}"),
            )
        } else {
            let field = if path == "." { String::new() } else { path };
            // A missing member is named by its own path, not its parent's.
            let text = inner.to_string();
            if let Some((missing, _)) = text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
            {
                let field = if field.is_empty() {
                    missing.to_string()
                } else {
                    format!("{field}.{missing}")
                };
                return ApiError::invalid_field(&field, format!("{field} is required"));
            }
            let message = if field.is_empty() {
                text
            } else {
                format!("{field}: {inner}")
            };
            ApiError::invalid_field(&field, message)
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

fn body_rejection(e: BytesRejection) -> ApiError {
    if let Some(late) = crate::serve::body_timed_out(&e) {
        return late.into();
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            "the body is larger than the server accepts (max_body_bytes)",
        )
    } else {
        ApiError::new(ErrorCode::InvalidBody, e.body_text())
    }
}

/// Query parameters; a bad one is a 400 naming it. A parameter with an empty value is
/// absent: llmring's clients send every filter, the unset ones as `alias=&model=`, and mean
/// "no filter".
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = without_empty_values(parts.uri.query().unwrap_or_default());
        serde_urlencoded::from_str(&query).map(Params).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("Failed to deserialize query string: {e}"),
            )
        })
    }
}

/// The query string without its `name=` (and bare `name`) parameters.
pub(crate) fn without_empty_values(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| !name.is_empty() && !value.is_empty())
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One path segment as a string; an undecodable one is a 400 in the usual shape.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|e| ApiError::new(ErrorCode::InvalidPath, e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_query_values_are_dropped_and_others_kept_as_sent() {
        assert_eq!(
            super::without_empty_values("limit=50&offset=0&alias=&model=&origin=&x&a%3D=b=c"),
            "limit=50&offset=0&a%3D=b=c"
        );
        assert_eq!(super::without_empty_values(""), "");
    }
}
