//! Request extractors that answer malformed input with [`ApiError`]'s shape instead of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use tollgate_api::{vocabulary, ErrorCode};

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
            // The body as a whole is at fault, not one field of it: `field` is null.
            return Err(ApiError::new(
                ErrorCode::InvalidField,
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

/// A body read only once it fits in the ingestion body gate (see
/// [`AppState::body_permit`]), so that many large bodies arriving at once wait unread
/// instead of all being held in memory. `permit` (None for a small body) keeps the body's
/// place until dropped: the handler drops it once the body is parsed.
pub struct Gated<B> {
    pub body: B,
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl<B: FromRequest<AppState, Rejection = ApiError>> FromRequest<AppState> for Gated<B> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let permit = state.body_permit(declared).await?;
        let body = B::from_request(req, state).await?;
        Ok(Gated { body, permit })
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
    // Tracking the path costs a third of the parse, and only a refusal names it: a body is
    // parsed without it first, and again with it only when it is refused.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
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
            if field.is_empty() {
                // The body as a whole has the wrong shape (a string, a number): no one field.
                return ApiError::new(ErrorCode::InvalidField, text);
            }
            ApiError::invalid_field(&field, format!("{field}: {inner}"))
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
/// "no filter". An alias of the route's name for an idea (`start_date` for `start`; see
/// [`tollgate_api::vocabulary`]) is read as that name; both at once are a 400 naming both.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
        let query = without_empty_values(parts.uri.query().unwrap_or_default());
        let query = with_route_names(&route, &query)?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                // A struct's own complaint (`missing field `seq``) names the parameter in its text.
                let field = if path == "." {
                    inner
                        .to_string()
                        .split_once('`')
                        .and_then(|(_, rest)| rest.split_once('`'))
                        .map(|(name, _)| name.to_string())
                } else {
                    Some(path)
                };
                match field {
                    Some(name) => ApiError::invalid_query(
                        &name,
                        format!("Failed to deserialize query string: {name}: {inner}"),
                    ),
                    None => ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("Failed to deserialize query string: {inner}"),
                    ),
                }
            })
    }
}

/// The query with each alias renamed to the name `route` uses for its idea; two names of one
/// idea are a 400 naming both.
fn with_route_names(route: &str, query: &str) -> Result<String, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let route = route.trim_end_matches('/');
    if let Some((own, other)) = vocabulary::both_given(route, pairs.iter().map(|(n, _)| n.as_str()))
    {
        return Err(ApiError::invalid_query(
            own,
            format!("give {own} or {other}, not both: {other} is another name for {own}"),
        ));
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &pairs {
        let name = vocabulary::idea_of(route, name).map_or(name.as_str(), |i| i.name_on(route));
        out.append_pair(name, value);
    }
    Ok(out.finish())
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
