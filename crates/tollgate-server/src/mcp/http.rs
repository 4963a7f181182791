//! MCP's Streamable HTTP transport (MCP 2025-06-18, "Transports"): every JSON-RPC message is a
//! POST to the server's URL with `Accept: application/json, text/event-stream`; a request is
//! answered with `application/json` or with an event stream carrying the response, a
//! notification with 202. The `Mcp-Session-Id` the server gives at initialization goes on
//! every later request, with the negotiated `MCP-Protocol-Version`; the session is deleted at
//! the end.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};

use super::sse::Events;
use super::{auth, response_to, upstream};
use crate::error::ApiError;
use crate::settings::McpSettings;
use crate::webhooks::egress::{caused_by_private_address, refused_host_for, PublicOnly};
use tollgate_api::ErrorCode;

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";
const SETTING: &str = "mcp.allow_private_networks";

/// One session's connection.
pub(super) struct HttpConn {
    client: reqwest::Client,
    url: Url,
    /// From `auth_config`.
    auth: HeaderMap,
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
    max_bytes: usize,
    timeout: Duration,
}

/// 400 `INVALID_URL`: the server's URL is on a network Tollgate may not reach.
fn private(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidUrl, message).with_field("url")
}

impl HttpConn {
    /// Checks the URL and the authentication settings and builds the client: no redirects
    /// followed, and unless private networks are allowed, a resolver that drops private
    /// addresses and no proxy (as webhook deliveries).
    pub(super) fn new(
        url: &str,
        config: &Map<String, Value>,
        settings: &McpSettings,
    ) -> Result<HttpConn, ApiError> {
        let parsed = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "url",
                    "url must be an http or https URL for transport http",
                )
            })?;
        if !settings.allow_private_networks {
            if let Some(why) = refused_host_for(&parsed, "MCP servers", SETTING) {
                return Err(private(why));
            }
        }
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(PublicOnly)).no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| ApiError::internal(format!("MCP HTTP client: {e}")))?;
        Ok(HttpConn {
            client,
            url: parsed,
            auth: auth::headers(config)?,
            session: None,
            version: None,
            max_bytes: settings.max_response_bytes,
            timeout,
        })
    }

    /// The version later requests name in `MCP-Protocol-Version`.
    pub(super) fn set_protocol_version(&mut self, version: &str) {
        self.version = HeaderValue::from_str(version).ok();
    }

    fn headers(&self) -> HeaderMap {
        let mut h = self.auth.clone();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(s) = &self.session {
            h.insert(SESSION, s.clone());
        }
        if let Some(v) = &self.version {
            h.insert(VERSION, v.clone());
        }
        h
    }

    async fn send(&mut self, method: &str, message: &Value) -> Result<reqwest::Response, ApiError> {
        let resp = self
            .client
            .post(self.url.clone())
            .headers(self.headers())
            .body(message.to_string())
            .send()
            .await
            .map_err(|e| self.failed(method, &e))?;
        if self.session.is_none() {
            self.session = resp.headers().get(SESSION).cloned();
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        Err(upstream(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                "{method}: HTTP {} (check the server's auth_config)",
                status.as_u16()
            ),
            StatusCode::NOT_FOUND if self.session.is_some() => {
                format!("{method}: HTTP 404 (the server ended the session)")
            }
            _ => format!("{method}: HTTP {}", status.as_u16()),
        }))
    }

    fn failed(&self, method: &str, e: &reqwest::Error) -> ApiError {
        tracing::debug!(error = %chain(e), url = %self.url, "an MCP request failed");
        if caused_by_private_address(e) {
            return private(format!(
                "url's host resolves only to loopback, private or otherwise internal \
                 addresses, which MCP servers may not be on; set {SETTING} to allow it"
            ));
        }
        upstream(if e.is_timeout() {
            format!(
                "{method}: no answer within {} ms (mcp.timeout_ms)",
                self.timeout.as_millis()
            )
        } else if e.is_connect() {
            format!("{method}: could not connect to it")
        } else {
            format!("{method}: the request failed")
        })
    }

    /// Sends request `id` and answers the JSON-RPC response to it.
    pub(super) async fn request(
        &mut self,
        method: &str,
        message: &Value,
        id: i64,
    ) -> Result<Value, ApiError> {
        let mut resp = self.send(method, message).await?;
        let stream = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(self.too_large(method));
        }
        let mut read = 0usize;
        let mut body = Vec::new();
        let mut events = Events::default();
        loop {
            let chunk = resp.chunk().await.map_err(|e| self.failed(method, &e))?;
            let Some(chunk) = chunk else { break };
            read += chunk.len();
            if read > self.max_bytes {
                return Err(self.too_large(method));
            }
            if stream {
                for data in events.feed(&chunk) {
                    if let Some(answer) = answer(&data, id) {
                        return Ok(answer);
                    }
                }
            } else {
                body.extend_from_slice(&chunk);
            }
        }
        if stream {
            return events
                .finish()
                .and_then(|data| answer(&data, id))
                .ok_or_else(|| {
                    upstream(format!(
                        "{method}: the event stream ended without an answer"
                    ))
                });
        }
        let message: Value = serde_json::from_slice(&body)
            .map_err(|_| upstream(format!("{method}: the answer is not JSON")))?;
        response_to(message, id).ok_or_else(|| {
            upstream(format!(
                "{method}: the answer is not a JSON-RPC response to it"
            ))
        })
    }

    fn too_large(&self, method: &str) -> ApiError {
        upstream(format!(
            "{method}: the answer is larger than {} bytes (mcp.max_response_bytes)",
            self.max_bytes
        ))
    }

    /// Sends a notification (answered 202, or any success).
    pub(super) async fn notify(&mut self, method: &str, message: &Value) -> Result<(), ApiError> {
        self.send(method, message).await.map(|_| ())
    }

    /// Deletes the session, if the server gave one; a server may refuse (405), and nothing
    /// depends on it.
    pub(super) async fn close(self) {
        let Some(session) = &self.session else { return };
        let mut headers = self.auth.clone();
        headers.insert(SESSION, session.clone());
        if let Some(v) = &self.version {
            headers.insert(VERSION, v.clone());
        }
        let _ = self
            .client
            .request(Method::DELETE, self.url.clone())
            .headers(headers)
            .send()
            .await;
    }
}

/// The response to `id` in one event's data, if it holds it.
fn answer(data: &str, id: i64) -> Option<Value> {
    serde_json::from_str(data)
        .ok()
        .and_then(|m| response_to(m, id))
}

/// An error and its causes, for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
