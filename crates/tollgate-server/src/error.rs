//! `ApiError`: the only place that chooses status codes.
//!
//! Every error body is `{"error": {"code", "message", ...}, "detail": message}`. `error` is
//! Tollgate's stable shape; `detail` is the llmring (FastAPI) shape its client reads, so one
//! body serves both. A 5xx never carries its cause: that is logged once, here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tollgate_core::Invalid;
use tollgate_store::StoreError;

/// What a 503 tells clients to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    /// An error with a status, a stable code and a message a person can act on.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds machine-readable details beside the message.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 400: a query parameter or header is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the field (or parameter) the error is about, as `details.field`.
    pub fn with_field(self, field: &str) -> ApiError {
        self.with_details(json!({ "field": field }))
    }

    /// 422 `INVALID_FIELD`: a field of the body is wrong.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD", message).with_field(field)
    }

    /// 400 `INVALID_QUERY`: a query parameter is wrong.
    pub fn invalid_query(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::bad_request("INVALID_QUERY", message).with_field(field)
    }

    /// 401: no usable credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403: the key lacks a scope.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 404: missing, or another tenant's.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    /// 500 with the cause logged and hidden.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; the server log has the cause",
        )
    }

    /// 503: try again later; the answer says when (`Retry-After`).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `{"code", "message", ...}` object, also used per item in batch results.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(obj), Some(Value::Object(details))) = (error.as_object_mut(), &self.details) {
            for (k, v) in details {
                obj.insert(k.clone(), v.clone());
            }
        }
        error
    }
}

impl From<Invalid> for ApiError {
    /// A body field failed validation: 422, as llmring's server answers.
    fn from(e: Invalid) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message)
            .with_details(json!({"field": e.field}))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&what),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "CONFLICT", message)
            }
            StoreError::Stale(message) => ApiError::new(
                StatusCode::CONFLICT,
                "CONCURRENT_CHANGE",
                format!("{message}; retry the request"),
            ),
            StoreError::Unavailable(cause) | StoreError::Contention(cause) => {
                tracing::error!(%cause, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry later")
            }
            StoreError::Rejected(cause) => {
                // Input validation should have caught it: worth a look, not an alarm.
                tracing::warn!(%cause, "the database refused a value of a request");
                ApiError::bad_request(
                    "INVALID_INPUT",
                    "the request holds a value the database cannot store (a control character or an out-of-range number); correct it and retry",
                )
            }
            StoreError::Invariant(cause) => ApiError::internal(cause),
        }
    }
}

impl From<crate::serve::BodyTimedOut> for ApiError {
    /// The body did not arrive in time (`http.body_timeout_ms`): 408. The server closes the
    /// connection after this answer.
    fn from(e: crate::serve::BodyTimedOut) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.body(), "detail": self.message});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
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
