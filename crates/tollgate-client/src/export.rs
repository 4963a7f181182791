//! Downloads of the export routes: usage as CSV or JSON lines, and a receipt's accounting
//! CSV. They are read a chunk at a time, so a caller can write them out as they arrive.

use std::time::Duration;

use serde::Serialize;
use tollgate_api::usage::UsageExportQuery;

use crate::{api_error, segment, Client, ClientError};

/// An export longer than the client's usual timeout still has to finish.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// An export being received.
pub struct Download {
    response: reqwest::Response,
    /// How many events the server said the export holds (`X-Export-Count`), when it did.
    pub count: Option<u64>,
}

impl Download {
    /// The next piece of the body; None at its end. A transfer the server cut short is an
    /// error, never a quiet end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self.response.chunk().await?.map(|b| b.to_vec()))
    }
}

impl Client {
    /// `GET /api/v1/export/usage`: CSV, or JSON lines (each a
    /// [`tollgate_api::usage::UsageExportLine`]) with `format` `jsonl`.
    pub async fn export_usage(&self, query: &UsageExportQuery) -> Result<Download, ClientError> {
        self.download("/api/v1/export/usage", query).await
    }

    /// `GET /api/v1/export/receipt/{id}?format=csv`.
    pub async fn export_receipt(&self, id: &str) -> Result<Download, ClientError> {
        let path = format!("/api/v1/export/receipt/{}", segment(id));
        self.download(&path, &[("format", "csv".to_string())]).await
    }

    async fn download<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<Download, ClientError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(api_error(response).await);
        }
        let count = response
            .headers()
            .get("x-export-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(Download { response, count })
    }
}
