//! The receipt routes, the tenant log's transparency routes and the published signing keys,
//! answering `tollgate_api` types.
//!
//! A receipt fetched to be checked comes back as a [`ReceiptDocument`]: the document as the server
//! sent it, which is what the signature covers, beside its typed reading.

use tollgate_api::keys::PublicKeys;
use tollgate_api::receipts::{
    GeneratedReceipt, PageQuery, PreviewAnswer, ProofQuery, ReceiptDocument, ReceiptList,
    ReceiptLogs, ReceiptProof, ReceiptRequest, UncertifiedLogs,
};
use tollgate_api::transparency::{ConsistencyProof, ConsistencyQuery};

use super::{api_error, segment, Client, ClientError};

impl Client {
    /// `POST /api/v1/receipts/generate`: the signed receipt and how many logs it certifies.
    pub async fn generate_receipt(
        &self,
        req: &ReceiptRequest,
    ) -> Result<GeneratedReceipt, ClientError> {
        self.post("/api/v1/receipts/generate", req).await
    }

    /// `POST /api/v1/receipts/preview`: what a receipt would certify; nothing is signed.
    pub async fn preview_receipt(
        &self,
        req: &ReceiptRequest,
    ) -> Result<PreviewAnswer, ClientError> {
        self.post("/api/v1/receipts/preview", req).await
    }

    /// `GET /api/v1/receipts/` (`limit`, `offset`, `tag`), newest first.
    pub async fn receipts(&self, page: &PageQuery) -> Result<ReceiptList, ClientError> {
        self.get_query("/api/v1/receipts/", page).await
    }

    /// `GET /api/v1/receipts/{id}`: the signed receipt as the server sent it, with its
    /// reading.
    pub async fn receipt(&self, id: &str) -> Result<ReceiptDocument, ClientError> {
        self.get(&format!("/api/v1/receipts/{}", segment(id)), &[])
            .await
    }

    /// `GET /api/v1/receipts/{id}/logs` (`limit` up to 1,000, `offset`), in leaf order, each
    /// log with its leaf `index` and canonical `entry`.
    pub async fn receipt_logs(
        &self,
        id: &str,
        page: &PageQuery,
    ) -> Result<ReceiptLogs, ClientError> {
        self.get_query(&format!("/api/v1/receipts/{}/logs", segment(id)), page)
            .await
    }

    /// `GET /api/v1/receipts/{id}/proof?log_id=`: one log's inclusion proof in the receipt.
    pub async fn receipt_proof(&self, id: &str, log_id: &str) -> Result<ReceiptProof, ClientError> {
        let query = ProofQuery {
            log_id: Some(log_id.to_string()),
        };
        self.get_query(&format!("/api/v1/receipts/{}/proof", segment(id)), &query)
            .await
    }

    /// `GET /api/v1/receipts/uncertified` (`limit`, `offset`), newest first.
    pub async fn uncertified(&self, page: &PageQuery) -> Result<UncertifiedLogs, ClientError> {
        self.get_query("/api/v1/receipts/uncertified", page).await
    }

    /// `GET /api/v1/receipts/public-keys.json`: every key that ever signed (no key needed).
    pub async fn public_keys(&self) -> Result<PublicKeys, ClientError> {
        self.get("/api/v1/receipts/public-keys.json", &[]).await
    }

    /// `GET /api/v1/transparency/checkpoint`: the tenant log's checkpoint, a signed note.
    pub async fn checkpoint(&self) -> Result<String, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, "/api/v1/transparency/checkpoint")
            .send()
            .await?;
        if resp.status().is_success() {
            return Ok(resp.text().await?);
        }
        Err(api_error(resp).await)
    }

    /// `GET /api/v1/transparency/consistency?from&to`: the proof that the log of size `to`
    /// extends the one of size `from`.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, ClientError> {
        let query = ConsistencyQuery {
            from: Some(from as i64),
            to: Some(to as i64),
        };
        self.get_query("/api/v1/transparency/consistency", &query)
            .await
    }
}
