//! The billing routes: plans and quota, balances, the ledger, credits a billing key posts,
//! account settings, and authorization before a call. Requests and answers are
//! `tollgate_api` types; money travels as decimal strings.

use tollgate_api::authorize::{AuthorizeBody, AuthorizeRefusal, Decision, HoldReleased, Refusal};
use tollgate_api::billing::{
    Account, AccountOverrides, AuditTrail, CreditBody, Credited, History, HistoryQuery,
    OverridesBody, PlanBody, SettingsBody, Statement, StatementQuery, TenantLimits, UserQuery,
};

use super::{api_error, decode, segment, Client, ClientError};

/// Which credit an operator posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditKind {
    /// Money paid in (`POST /api/v1/billing/topup`).
    Topup,
    /// Money given back (`POST /api/v1/billing/refund`).
    Refund,
    /// A correction, either way (`POST /api/v1/billing/adjustment`).
    Adjustment,
}

impl CreditKind {
    fn path(self) -> &'static str {
        match self {
            CreditKind::Topup => "/api/v1/billing/topup",
            CreditKind::Refund => "/api/v1/billing/refund",
            CreditKind::Adjustment => "/api/v1/billing/adjustment",
        }
    }
}

/// The answer to a credit, and whether it was a repeat.
#[derive(Debug, Clone)]
pub struct CreditOutcome {
    /// The ledger entry and the account's balance view after it.
    pub credited: Credited,
    /// True when the server repeated the answer to an earlier request with the same
    /// Idempotency-Key (header `idempotent-replayed: true`) instead of posting again.
    pub replayed: bool,
}

/// What `POST /api/v1/authorize` decided.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// 200: the call may happen; with `hold`, the hold reserving its estimate.
    Allowed(Decision),
    /// 402: it may not; the code, what a person can do, and the numbers behind it.
    Refused(Refusal),
}

impl Client {
    /// `GET /api/v1/billing/limits`: the tenant's plan and this month's quota use.
    pub async fn limits(&self) -> Result<TenantLimits, ClientError> {
        self.get("/api/v1/billing/limits", &[]).await
    }

    /// `POST /api/v1/billing/plan` (operator): moves the tenant to a plan (None: the
    /// default plan); answers like [`Client::limits`].
    pub async fn set_plan(&self, plan: Option<&str>) -> Result<TenantLimits, ClientError> {
        let body = PlanBody {
            plan: Some(plan.map(str::to_string)),
        };
        self.post("/api/v1/billing/plan", &body).await
    }

    /// `GET /api/v1/billing/balance`: an account's balances, limits and spend.
    pub async fn balance(&self, user: Option<&str>) -> Result<Account, ClientError> {
        let query = UserQuery {
            user_id: user.map(str::to_string),
        };
        self.get_query("/api/v1/billing/balance", &query).await
    }

    /// `GET /api/v1/billing/history`: ledger entries, newest first.
    pub async fn history(&self, query: &HistoryQuery) -> Result<History, ClientError> {
        self.get_query("/api/v1/billing/history", query).await
    }

    /// `GET /api/v1/billing/statement`: an account's monthly statement (the query's `format`
    /// is ignored: this reads the JSON).
    pub async fn statement(&self, query: &StatementQuery) -> Result<Statement, ClientError> {
        let query = StatementQuery {
            format: None,
            ..query.clone()
        };
        self.get_query("/api/v1/billing/statement", &query).await
    }

    /// `GET /api/v1/billing/statement` in the query's `format` (`json`, `csv` or `html`): the
    /// document exactly as the server wrote it.
    pub async fn statement_document(&self, query: &StatementQuery) -> Result<Vec<u8>, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, "/api/v1/billing/statement")
            .query(query)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(resp).await);
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// Posts a top-up, refund or adjustment (billing scope). With an `idempotency_key`, a repeat
    /// returns the first answer and posts nothing.
    pub async fn credit(
        &self,
        kind: CreditKind,
        credit: &CreditBody,
        idempotency_key: Option<&str>,
    ) -> Result<CreditOutcome, ClientError> {
        let mut req = self
            .request(reqwest::Method::POST, kind.path())
            .json(credit);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await?;
        let replayed = resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true");
        Ok(CreditOutcome {
            credited: decode(resp).await?,
            replayed,
        })
    }

    /// `PUT /api/v1/billing/settings` (billing or admin): answers with the account's balance
    /// view.
    pub async fn update_settings(&self, change: &SettingsBody) -> Result<Account, ClientError> {
        let resp = self
            .request(reqwest::Method::PUT, "/api/v1/billing/settings")
            .json(change)
            .send()
            .await?;
        decode(resp).await
    }

    /// `PUT /api/v1/billing/overrides` (admin): an account's overrides as they are after the
    /// change.
    pub async fn set_overrides(
        &self,
        change: &OverridesBody,
    ) -> Result<AccountOverrides, ClientError> {
        let resp = self
            .request(reqwest::Method::PUT, "/api/v1/billing/overrides")
            .json(change)
            .send()
            .await?;
        decode(resp).await
    }

    /// `GET /api/v1/billing/overrides` (admin).
    pub async fn overrides(&self, user: Option<&str>) -> Result<AccountOverrides, ClientError> {
        let query: Vec<(&str, String)> = user
            .map(|u| ("user_id", u.to_string()))
            .into_iter()
            .collect();
        self.get("/api/v1/billing/overrides", &query).await
    }

    /// `GET /api/v1/billing/audit` (admin): the account's override changes, newest first.
    pub async fn audit_trail(&self, user: Option<&str>) -> Result<AuditTrail, ClientError> {
        let query: Vec<(&str, String)> = user
            .map(|u| ("user_id", u.to_string()))
            .into_iter()
            .collect();
        self.get("/api/v1/billing/audit", &query).await
    }

    /// `POST /api/v1/authorize`: a refusal (402) is an answer, not an error.
    pub async fn authorize(&self, req: &AuthorizeBody) -> Result<Authorization, ClientError> {
        let resp = self
            .request(reqwest::Method::POST, "/api/v1/authorize")
            .json(req)
            .send()
            .await?;
        if resp.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return decode(resp).await.map(Authorization::Allowed);
        }
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        match serde_json::from_slice::<AuthorizeRefusal>(&bytes) {
            Ok(body) => Ok(Authorization::Refused(body.error)),
            Err(e) => Err(ClientError::Api {
                status,
                code: "UNKNOWN".into(),
                message: format!("the server refused, in a body this client cannot read: {e}"),
            }),
        }
    }

    /// `POST /api/v1/authorize/{hold_id}/release`: the call will not happen.
    pub async fn release_hold(&self, hold_id: &str) -> Result<HoldReleased, ClientError> {
        let path = format!("/api/v1/authorize/{}/release", segment(hold_id));
        let resp = self.request(reqwest::Method::POST, &path).send().await?;
        decode(resp).await
    }
}
