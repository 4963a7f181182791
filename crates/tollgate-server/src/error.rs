//! `ApiError`: the server's error, whose code (`tollgate_api::ErrorCode`) decides its status.
//!
//! Every error body is `{"error": {"code", "message", ...}, "detail": message}`. `error` is
//! Tollgate's stable shape; `detail` is the llmring (FastAPI) shape its client reads, so one
//! body serves both. A 5xx never carries its cause: that is logged once, here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use tollgate_api::{ErrorBody, ErrorCode, ErrorDetail};
use tollgate_core::Invalid;
use tollgate_store::StoreError;

/// What a 503 tells clients to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// A failed request: a code (which decides the status), a message a person can act on, and
/// details beside them.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Map<String, Value>,
}

impl ApiError {
    /// An error with a stable code and a message a person can act on. The code decides the
    /// status ([`ErrorCode::status`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds machine-readable details beside the message (the members of `details`, which must
    /// be an object).
    pub fn with_details(mut self, details: Value) -> ApiError {
        if let Value::Object(members) = details {
            self.details.extend(members);
        }
        self
    }

    /// Names the field (or parameter) the error is about, as `field`. An empty name names
    /// nothing: the body says `"field": null`, as for an error about no one field.
    pub fn with_field(mut self, field: &str) -> ApiError {
        if field.is_empty() {
            self.details.remove("field");
        } else {
            self.details
                .insert("field".into(), Value::String(field.into()));
        }
        self
    }

    /// 422 `INVALID_FIELD`: a field of the body is wrong.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidField, message).with_field(field)
    }

    /// 400 `INVALID_QUERY`: a query parameter is wrong.
    pub fn invalid_query(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidQuery, message).with_field(field)
    }

    /// 401: no usable credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    /// 403: the key lacks a scope.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 404: missing, or another tenant's.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 500 with the cause logged and hidden.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "request failed");
        ApiError::new(
            ErrorCode::Internal,
            "internal error; the server log has the cause",
        )
    }

    /// 503: try again later; the answer says when (`Retry-After`).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, message)
    }

    /// The status, decided by the code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `{"code", "message", ...}` object, also used per item in batch results.
    pub fn detail(&self) -> ErrorDetail {
        let mut details = self.details.clone();
        let field = match details.remove("field") {
            Some(Value::String(f)) if !f.is_empty() => Some(f),
            _ => None,
        };
        ErrorDetail {
            code: self.code,
            message: self.message.clone(),
            field,
            details,
        }
    }
}

impl From<Invalid> for ApiError {
    /// A body field failed validation: 422, as llmring's server answers.
    fn from(e: Invalid) -> ApiError {
        let code = ErrorCode::parse(e.code).unwrap_or(ErrorCode::InvalidField);
        ApiError::new(code, e.message).with_field(&e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&what),
            StoreError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            StoreError::Stale(message) => ApiError::new(
                ErrorCode::ConcurrentChange,
                format!("{message}; retry the request"),
            ),
            StoreError::Unavailable(cause) | StoreError::Contention(cause) => {
                tracing::error!(%cause, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry later")
            }
            StoreError::Rejected(cause) => {
                // Input validation should have caught it: worth a look, not an alarm.
                tracing::warn!(%cause, "the database refused a value of a request");
                ApiError::new(
                    ErrorCode::InvalidInput,
                    "the request holds a value the database cannot store (a control character or an out-of-range number); correct it and retry",
                )
            }
            StoreError::Invariant(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.detail(),
            detail: self.message,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is temporary (a full queue, a database that went away): say when to
            // come back, so clients back off instead of hammering.
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
