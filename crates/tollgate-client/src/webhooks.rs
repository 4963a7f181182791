//! The webhook routes: alert endpoints of the tenant and their delivery logs (admin keys).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{api_error, segment, Client, ClientError};

/// An endpoint to register. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewWebhook {
    /// Where alerts are POSTed (http or https).
    pub url: String,
    /// The event types wanted (absent: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// A `whsec_` secret of the caller's (absent: the server generates one and shows it once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Client {
    /// `POST /api/v1/webhooks`: the endpoint, with `secret` when the server generated it.
    pub async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Value, ClientError> {
        self.post("/api/v1/webhooks", webhook).await
    }

    /// `GET /api/v1/webhooks`: `{"webhooks": [...]}`.
    pub async fn webhooks(&self) -> Result<Value, ClientError> {
        self.get("/api/v1/webhooks", &[]).await
    }

    /// `GET /api/v1/webhooks/{id}`.
    pub async fn webhook(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/webhooks/{}", segment(id)), &[])
            .await
    }

    /// `DELETE /api/v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/webhooks/{}", segment(id));
        let resp = self.request(reqwest::Method::DELETE, &path).send().await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(api_error(resp).await)
    }

    /// `GET /api/v1/webhooks/{id}/deliveries`: `{"deliveries": [...], "pagination": {...}}`,
    /// newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Value, ClientError> {
        self.get(
            &format!("/api/v1/webhooks/{}/deliveries", segment(id)),
            &[("limit", limit.to_string()), ("offset", offset.to_string())],
        )
        .await
    }
}
