//! A typed HTTP client for Tollgate's API, used by the CLI and by Rust programs.
//!
//! It speaks JSON over HTTP with `X-API-Key`, and turns error bodies
//! (`{"error": {"code", "message"}}`) into [`ClientError::Api`].
#![forbid(unsafe_code)]

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
}

/// A Tollgate server and the key to use with it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
        })
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
            .http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
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
            .http
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .json(body)
            .send()
            .await?;
        decode(resp).await
    }
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.json().await?);
    }
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let error = &body["error"];
    Err(ClientError::Api {
        status: status.as_u16(),
        code: error["code"].as_str().unwrap_or("UNKNOWN").to_string(),
        message: error["message"]
            .as_str()
            .or_else(|| body["detail"].as_str())
            .unwrap_or("the server gave no message")
            .to_string(),
    })
}
