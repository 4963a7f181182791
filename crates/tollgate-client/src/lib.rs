//! A typed HTTP client for Tollgate's API, used by the CLI and by Rust programs.
//!
//! It speaks JSON over HTTP with `X-API-Key`, and turns error bodies
//! (`{"error": {"code", "message"}}`) into [`ClientError::Api`]. The billing routes are in
//! `billing.rs`, the cost summaries in `costs.rs`, the webhook routes in `webhooks.rs`, the
//! export downloads in `export.rs`, the receipt, transparency and key routes in
//! `receipts.rs`.
//!
//! Where `tollgate-api` has a route's types, the client takes and returns them, the very ones
//! the server sends, rather than wire structs of its own.
#![forbid(unsafe_code)]

mod billing;
mod costs;
mod export;
mod receipts;
mod webhooks;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use billing::{Authorization, CreditKind, CreditOutcome};
pub use export::Download;
pub use tollgate_api::usage::Logged;
/// One call to log (`POST /api/v1/log`): `tollgate-api`'s body, under the client's old name.
pub use tollgate_api::usage::UsageLogBody as UsageLog;

use tollgate_api::operate::Health;
use tollgate_api::usage::{
    logs_headers, LogBatchBody, LogBatchResponse, LogEntry, LogsPage, LogsQuery, StatsQuery,
    UsageStats,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Tollgate's stable error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached or answered something unreadable. Its message holds
    /// the cause already, so it names no source of its own (which would print it twice).
    #[error("{}", transport(.0))]
    Transport(reqwest::Error),
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> ClientError {
        ClientError::Transport(e)
    }
}

/// A transport error in words a person can act on: for a server that could not be reached,
/// the address tried, the system's reason, and how to start or point at one.
fn transport(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let at = e
        .url()
        .map(|u| format!("{}://{}", u.scheme(), u.authority()))
        .unwrap_or_else(|| "the server".into());
    if e.is_connect() || e.is_timeout() {
        format!(
            "could not reach the Tollgate server at {at} ({cause}); start one with \
             `tollgate serve`, or point at one with --server URL or TOLLGATE_URL"
        )
    } else {
        let (outer, inner) = (e.to_string(), cause.to_string());
        if outer == inner {
            outer
        } else {
            format!("{outer}: {inner}")
        }
    }
}

/// A Tollgate server and the key to use with it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// None for an anonymous client, which sends no `X-API-Key` (the public-key routes).
    key: Option<String>,
}

impl Client {
    /// A client for `base` (`http://127.0.0.1:8000`) using `key`.
    pub fn new(base: &str, key: &str) -> Result<Client, ClientError> {
        Self::build(base, Some(key.to_string()))
    }

    /// A client without a key, for the routes anyone may call (public keys, health).
    pub fn anonymous(base: &str) -> Result<Client, ClientError> {
        Self::build(base, None)
    }

    fn build(base: &str, key: Option<String>) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        })
    }

    /// The server's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Logs one call.
    pub async fn log_usage(&self, log: &UsageLog) -> Result<Logged, ClientError> {
        self.post("/api/v1/log", log).await
    }

    /// Logs a batch of calls; the answer has one result per event, by index.
    pub async fn log_batch(&self, batch: &LogBatchBody) -> Result<LogBatchResponse, ClientError> {
        self.post("/api/v1/log/batch", batch).await
    }

    /// `GET /api/v1/pricing/coverage`: what was recorded without a price in a range.
    pub async fn pricing_coverage(
        &self,
        query: &tollgate_api::usage::CoverageQuery,
    ) -> Result<tollgate_api::usage::PricingCoverage, ClientError> {
        self.get_query("/api/v1/pricing/coverage", query).await
    }

    /// `POST /api/v1/pricing/reprice`: prices the calls recorded without a price that the
    /// book now has a price for, by appending adjustments (or, on a dry run, says what would).
    pub async fn reprice(
        &self,
        body: &tollgate_api::usage::RepriceRequest,
    ) -> Result<tollgate_api::usage::Repriced, ClientError> {
        self.post("/api/v1/pricing/reprice", body).await
    }

    /// `GET /api/v1/stats`.
    pub async fn stats(&self, query: &StatsQuery) -> Result<UsageStats, ClientError> {
        self.get_query("/api/v1/stats", query).await
    }

    /// `GET /api/v1/logs`: a page of logged calls, newest first (the body), and where it
    /// sits (the paging headers).
    pub async fn logs(&self, query: &LogsQuery) -> Result<LogsPage, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, "/api/v1/logs")
            .query(query)
            .send()
            .await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let number = |name: &str| header(name).and_then(|v| v.parse::<i64>().ok());
        let limit = number(logs_headers::LIMIT);
        let offset = number(logs_headers::OFFSET);
        let (start_date, end_date) = (
            header(logs_headers::RANGE_START),
            header(logs_headers::RANGE_END),
        );
        let logs: Vec<LogEntry> = decode(resp).await?;
        Ok(LogsPage {
            limit: limit.unwrap_or(logs.len() as i64),
            offset: offset.unwrap_or(0),
            count: logs.len() as u64,
            start_date,
            end_date,
            logs,
        })
    }

    /// `GET /health`. A server whose database does not answer is an error (503).
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health", &[]).await
    }

    /// Any GET returning JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await?;
        decode(resp).await
    }

    /// A GET whose query parameters are the members of `query` (`None` ones left out),
    /// returning JSON.
    pub(crate) async fn get_query<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await?;
        decode(resp).await
    }

    /// Any POST of JSON returning JSON.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await?;
        decode(resp).await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => req.header("X-API-Key", key),
            None => req,
        }
    }
}

/// `text` as one URL path segment: everything but unreserved characters percent-encoded, so
/// an id can never reach another route.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.json().await?);
    }
    Err(api_error(resp).await)
}

/// The error an answer carries: Tollgate's `ErrorBody`, or, from a server or proxy that
/// answers otherwise, whatever `error.code`, `error.message` or FastAPI's `detail` it holds.
async fn api_error(resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if let Ok(body) = serde_json::from_str::<tollgate_api::ErrorBody>(&text) {
        return ClientError::Api {
            status: status.as_u16(),
            code: body.error.code.as_str().to_string(),
            message: body.error.message,
        };
    }
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let error = &body["error"];
    ClientError::Api {
        status: status.as_u16(),
        code: error["code"].as_str().unwrap_or("UNKNOWN").to_string(),
        message: error["message"]
            .as_str()
            .or_else(|| body["detail"].as_str())
            .unwrap_or("the server gave no message")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_cannot_escape_its_path_segment() {
        assert_eq!(segment("rcpt_01AB-c.d~"), "rcpt_01AB-c.d~");
        assert_eq!(segment("../x?y=1#z"), "..%2Fx%3Fy%3D1%23z");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
