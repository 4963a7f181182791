//! The webhook routes: alert endpoints of the tenant and their delivery logs (admin keys).
//! Requests and answers are `tollgate_api` types.

use tollgate_api::webhooks::{
    CreateWebhookBody, DeliveriesQuery, DeliveryLog, Webhook, WebhookList,
};

use super::{api_error, segment, Client, ClientError};

impl Client {
    /// `POST /api/v1/webhooks`: the endpoint, with `secret` when the server generated it.
    pub async fn create_webhook(
        &self,
        webhook: &CreateWebhookBody,
    ) -> Result<Webhook, ClientError> {
        self.post("/api/v1/webhooks", webhook).await
    }

    /// `GET /api/v1/webhooks`: the tenant's endpoints, oldest first.
    pub async fn webhooks(&self) -> Result<WebhookList, ClientError> {
        self.get("/api/v1/webhooks", &[]).await
    }

    /// `GET /api/v1/webhooks/{id}`.
    pub async fn webhook(&self, id: &str) -> Result<Webhook, ClientError> {
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

    /// `GET /api/v1/webhooks/{id}/deliveries`: a page of the delivery log, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        page: &DeliveriesQuery,
    ) -> Result<DeliveryLog, ClientError> {
        self.get_query(
            &format!("/api/v1/webhooks/{}/deliveries", segment(id)),
            page,
        )
        .await
    }
}
