//! The error body every failed request carries, and its stable codes.
//!
//! A code decides its HTTP status ([`ErrorCode::status`]), so the server never chooses a
//! status apart from the code it reports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A stable error code. Clients branch on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: a query parameter is wrong (`field` names it).
    InvalidQuery,
    /// 400: a path segment is wrong.
    InvalidPath,
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: the body does not have the expected shape.
    InvalidBody,
    /// 400: the body holds a character Tollgate does not store (NUL).
    InvalidCharacter,
    /// 400: the API key header is malformed.
    InvalidApiKey,
    /// 400: an amount is not a valid decimal of the currency.
    InvalidAmount,
    /// 400: a currency is not one the account uses.
    InvalidCurrency,
    /// 400: a webhook event type is unknown.
    InvalidEventType,
    /// 400: an idempotency key is malformed.
    InvalidIdempotencyKey,
    /// 400: a value the database cannot store.
    InvalidInput,
    /// 400: a receipt to verify is malformed.
    InvalidReceipt,
    /// 400: a webhook secret is malformed.
    InvalidSecret,
    /// 400: a payment provider's webhook signature does not verify.
    InvalidSignature,
    /// 400: `X-Tenant-Id` is malformed.
    InvalidTenant,
    /// 400: a webhook URL is refused.
    InvalidUrl,
    /// 400: the receipt selection holds no logs.
    NoLogs,
    /// 400: the receipt request selects nothing.
    NoSelection,
    /// 401: no usable credentials.
    Unauthorized,
    /// 401: an end user's token is invalid or not accepted.
    InvalidToken,
    /// 402: the plan's monthly request quota is used up.
    QuotaExceeded,
    /// 402: the account is disabled.
    AccountDisabled,
    /// 402: the account's daily limit would be passed.
    DailyLimitExceeded,
    /// 402: the account's monthly limit would be passed.
    MonthlyLimitExceeded,
    /// 402: the prepaid balance does not cover the call.
    InsufficientBalance,
    /// 403: the credentials lack a scope or role.
    Forbidden,
    /// 404: no such object (or another tenant's), or no such route.
    NotFound,
    /// 404: the receipt does not certify that log.
    NotCertified,
    /// 405: the route does not accept that method.
    MethodNotAllowed,
    /// 408: the body did not arrive in time.
    RequestTimeout,
    /// 409: the request conflicts with what is stored.
    Conflict,
    /// 409: a concurrent change won; retry.
    ConcurrentChange,
    /// 413: the body is too large.
    BodyTooLarge,
    /// 422: a body field is invalid (`field` names it).
    InvalidField,
    /// 429: a requests- or tokens-per-minute limit would be passed; retry after
    /// `Retry-After`.
    RateLimited,
    /// 500: a fault of the server; its log has the cause.
    Internal,
    /// 502: an MCP server could not be reached, or did not answer as MCP requires.
    McpServerError,
    /// 503: temporarily unable; retry after `Retry-After`.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 38] = [
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidCharacter,
        ErrorCode::InvalidApiKey,
        ErrorCode::InvalidAmount,
        ErrorCode::InvalidCurrency,
        ErrorCode::InvalidEventType,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidReceipt,
        ErrorCode::InvalidSecret,
        ErrorCode::InvalidSignature,
        ErrorCode::InvalidTenant,
        ErrorCode::InvalidUrl,
        ErrorCode::NoLogs,
        ErrorCode::NoSelection,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidToken,
        ErrorCode::QuotaExceeded,
        ErrorCode::AccountDisabled,
        ErrorCode::DailyLimitExceeded,
        ErrorCode::MonthlyLimitExceeded,
        ErrorCode::InsufficientBalance,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::NotCertified,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::Conflict,
        ErrorCode::ConcurrentChange,
        ErrorCode::BodyTooLarge,
        ErrorCode::InvalidField,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::McpServerError,
        ErrorCode::Unavailable,
    ];

    /// The HTTP status every error with this code has.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidQuery
            | InvalidPath
            | InvalidJson
            | InvalidBody
            | InvalidCharacter
            | InvalidApiKey
            | InvalidAmount
            | InvalidCurrency
            | InvalidEventType
            | InvalidIdempotencyKey
            | InvalidInput
            | InvalidReceipt
            | InvalidSecret
            | InvalidSignature
            | InvalidTenant
            | InvalidUrl
            | NoLogs
            | NoSelection => 400,
            Unauthorized | InvalidToken => 401,
            QuotaExceeded | AccountDisabled | DailyLimitExceeded | MonthlyLimitExceeded
            | InsufficientBalance => 402,
            Forbidden => 403,
            NotFound | NotCertified => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            Conflict | ConcurrentChange => 409,
            BodyTooLarge => 413,
            InvalidField => 422,
            RateLimited => 429,
            Internal => 500,
            McpServerError => 502,
            Unavailable => 503,
        }
    }

    /// The code as it appears on the wire (`INVALID_FIELD`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidQuery => "INVALID_QUERY",
            InvalidPath => "INVALID_PATH",
            InvalidJson => "INVALID_JSON",
            InvalidBody => "INVALID_BODY",
            InvalidCharacter => "INVALID_CHARACTER",
            InvalidApiKey => "INVALID_API_KEY",
            InvalidAmount => "INVALID_AMOUNT",
            InvalidCurrency => "INVALID_CURRENCY",
            InvalidEventType => "INVALID_EVENT_TYPE",
            InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            InvalidInput => "INVALID_INPUT",
            InvalidReceipt => "INVALID_RECEIPT",
            InvalidSecret => "INVALID_SECRET",
            InvalidSignature => "INVALID_SIGNATURE",
            InvalidTenant => "INVALID_TENANT",
            InvalidUrl => "INVALID_URL",
            NoLogs => "NO_LOGS",
            NoSelection => "NO_SELECTION",
            Unauthorized => "UNAUTHORIZED",
            InvalidToken => "INVALID_TOKEN",
            QuotaExceeded => "QUOTA_EXCEEDED",
            AccountDisabled => "ACCOUNT_DISABLED",
            DailyLimitExceeded => "DAILY_LIMIT_EXCEEDED",
            MonthlyLimitExceeded => "MONTHLY_LIMIT_EXCEEDED",
            InsufficientBalance => "INSUFFICIENT_BALANCE",
            Forbidden => "FORBIDDEN",
            NotFound => "NOT_FOUND",
            NotCertified => "NOT_CERTIFIED",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            RequestTimeout => "REQUEST_TIMEOUT",
            Conflict => "CONFLICT",
            ConcurrentChange => "CONCURRENT_CHANGE",
            BodyTooLarge => "BODY_TOO_LARGE",
            InvalidField => "INVALID_FIELD",
            RateLimited => "RATE_LIMITED",
            Internal => "INTERNAL",
            McpServerError => "MCP_SERVER_ERROR",
            Unavailable => "UNAVAILABLE",
        }
    }

    /// The code spelled `text` on the wire, if there is one.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error: Tollgate's `error`, and llmring's `detail` (the message again,
/// where llmring's client reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The message again, as FastAPI's `detail`.
    pub detail: String,
}

/// Tollgate's error: a stable code, a message, the field at fault, and further details
/// (such as authorize's numbers on a 402).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
    /// The body field, query parameter, path parameter or header at fault
    /// (`events[3].userid`); null when the error concerns no one field (a body that is not
    /// JSON, a missing key, a route that does not exist). Always present, never empty.
    #[serde(default)]
    #[schema(required = true)]
    pub field: Option<String>,
    /// Further members: details of the refusal (authorize's limits and balance).
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub details: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_wire_spelling() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("a code serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn an_error_body_keeps_its_details_beside_code_and_message() {
        let text = r#"{"error":{"code":"QUOTA_EXCEEDED","message":"no","field":null,"limit":5},"detail":"no"}"#;
        let body: ErrorBody = serde_json::from_str(text).expect("an error body");
        assert_eq!(body.error.code, ErrorCode::QuotaExceeded);
        assert_eq!(body.error.details["limit"], 5);
        assert_eq!(serde_json::to_string(&body).expect("serializes"), text);
    }
}
