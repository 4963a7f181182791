//! A typed HTTP client for Tollgate's API, used by the CLI and by Rust programs.
//!
//! It speaks JSON over HTTP with `X-API-Key`, and turns error bodies
//! (`{"error": {"code", "message"}}`) into [`ClientError::Api`]. The billing routes are in
//! `billing.rs`, the webhook routes in `webhooks.rs`, the export downloads in `export.rs`, the
//! receipt, transparency and key routes in `receipts.rs`.
#![forbid(unsafe_code)]

mod billing;
mod export;
mod receipts;
mod webhooks;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use billing::{Authorization, AuthorizeRequest, Credit, CreditKind, Credited, SettingsChange};
pub use export::Download;
pub use webhooks::NewWebhook;

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
    /// The server could not be reached or answered something unreadable.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// A Tollgate server and the key to use with it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// None for an anonymous client, which sends no `X-API-Key` (the public-key routes).
    key: Option<String>,
}

/// One call to log (`POST /api/v1/log`). Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageLog {
    /// Provider (`openai`).
    pub provider: String,
    /// Model (`gpt-4o`).
    pub model: String,
    /// Prompt tokens, cached included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<i64>,
    /// Generated tokens, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<i64>,
    /// Cached prompt tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<i64>,
    /// Cache-write tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<i64>,
    /// Reasoning tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<i64>,
    /// Alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// End user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Client cost (used only for models the server cannot price).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Served from a response cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_response: Option<bool>,
}

/// The answer to a logged call.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Logged {
    /// Log id.
    pub log_id: String,
    /// Cost as a float (llmring).
    pub cost: f64,
    /// Exact cost.
    pub cost_exact: String,
    /// Currency.
    pub currency: String,
    /// Event time.
    pub timestamp: String,
    /// Position in the tenant's log.
    pub seq: i64,
    /// The price it was charged at.
    pub price_version: Option<String>,
    /// Flags (`unpriced`, `cached_response`, ...).
    pub flags: Vec<String>,
    /// True when the call had been recorded before.
    pub duplicate: bool,
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

    /// Logs a batch of calls (`{"events": [...]}`); the answer has one result per event.
    pub async fn log_batch<T: Serialize>(&self, events: &[T]) -> Result<Value, ClientError> {
        self.post(
            "/api/v1/log/batch",
            &serde_json::json!({ "events": events }),
        )
        .await
    }

    /// `GET /api/v1/stats` with query parameters.
    pub async fn stats(&self, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.get("/api/v1/stats", query).await
    }

    /// `GET /api/v1/logs` with query parameters.
    pub async fn logs(&self, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.get("/api/v1/logs", query).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Value, ClientError> {
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

async fn api_error(resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
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
