//! The billing routes: plans and quota, balances, the ledger, credits a billing key posts,
//! account settings, and authorization before a call. Money travels as decimal strings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{decode, segment, Client, ClientError};

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

/// A top-up, refund or adjustment. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credit {
    /// A positive decimal string (`"10"`, `"0.5"`).
    pub amount: String,
    /// ISO 4217 code (default: the server's account currency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The account's user (absent: the tenant's own account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A note kept on the ledger entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who took the payment (`stripe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_provider: Option<String>,
    /// The payment's id at that provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Refunds only: the usage event refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    /// Adjustments only: `credit` (default) or `debit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Free-form metadata kept on the ledger entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// The answer to a credit.
#[derive(Debug, Clone)]
pub struct Credited {
    /// The ledger entry.
    pub transaction: Value,
    /// The account's balance view after it.
    pub balance: Value,
    /// True when the server repeated the answer to an earlier request with the same
    /// Idempotency-Key instead of posting again.
    pub replayed: bool,
}

/// A change of account settings (`PUT /api/v1/billing/settings`); `None` leaves a field as
/// it is, and `Some(None)` removes a limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SettingsChange {
    /// The account's user (absent: the tenant's own account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Daily spending limit as a decimal string, or null for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_limit: Option<Option<String>>,
    /// Monthly spending limit as a decimal string, or null for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_limit: Option<Option<String>>,
    /// Whether the account may be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Whether usage is charged to the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_enabled: Option<bool>,
}

/// A question for `POST /api/v1/authorize`: give either a cost or a model and token counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The account that pays (absent: only the tenant's quota is checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Provider of the model to price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model to price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Expected prompt tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_input_tokens: Option<i64>,
    /// Expected generated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_output_tokens: Option<i64>,
    /// The estimate itself, a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<String>,
    /// Currency of `estimated_cost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Reserve the estimate until a usage event settles it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// How long the hold lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ttl_seconds: Option<i64>,
}

/// What `POST /api/v1/authorize` decided.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// 200: the call may happen. The body has `hold_id`, `quota`, `balance`, `limits`.
    Allowed(Value),
    /// 402: it may not.
    Refused {
        /// `QUOTA_EXCEEDED`, `DAILY_LIMIT_EXCEEDED`, `MONTHLY_LIMIT_EXCEEDED`,
        /// `INSUFFICIENT_BALANCE` or `ACCOUNT_DISABLED`.
        code: String,
        /// What a person can do about it.
        message: String,
        /// The whole error object: code, message and the numbers behind the refusal.
        details: Value,
    },
}

fn user_query(user: Option<&str>) -> Vec<(&'static str, String)> {
    user.map(|u| ("user_id", u.to_string()))
        .into_iter()
        .collect()
}

impl Client {
    /// `GET /api/v1/billing/limits`: the tenant's plan and this month's quota use.
    pub async fn limits(&self) -> Result<Value, ClientError> {
        self.get("/api/v1/billing/limits", &[]).await
    }

    /// `POST /api/v1/billing/plan` (operator): moves the tenant to a plan (None: the
    /// default plan); answers like [`Client::limits`].
    pub async fn set_plan(&self, plan: Option<&str>) -> Result<Value, ClientError> {
        self.post("/api/v1/billing/plan", &serde_json::json!({ "plan": plan }))
            .await
    }

    /// `GET /api/v1/billing/balance`: an account's balances, limits and spend.
    pub async fn balance(&self, user: Option<&str>) -> Result<Value, ClientError> {
        self.get("/api/v1/billing/balance", &user_query(user)).await
    }

    /// `GET /api/v1/billing/history` (`user_id`, `type`, `start`, `end`, `limit`, `offset`):
    /// ledger entries, newest first.
    pub async fn history(&self, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.get("/api/v1/billing/history", query).await
    }

    /// Posts a top-up, refund or adjustment (billing scope). With an `idempotency_key`, a repeat
    /// returns the first answer and posts nothing.
    pub async fn credit(
        &self,
        kind: CreditKind,
        credit: &Credit,
        idempotency_key: Option<&str>,
    ) -> Result<Credited, ClientError> {
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
        let body: Value = decode(resp).await?;
        Ok(Credited {
            transaction: body["transaction"].clone(),
            balance: body["balance"].clone(),
            replayed,
        })
    }

    /// `PUT /api/v1/billing/settings` (admin): answers with the account's balance view.
    pub async fn update_settings(&self, change: &SettingsChange) -> Result<Value, ClientError> {
        let resp = self
            .request(reqwest::Method::PUT, "/api/v1/billing/settings")
            .json(change)
            .send()
            .await?;
        decode(resp).await
    }

    /// `POST /api/v1/authorize`: a refusal (402) is an answer, not an error.
    pub async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, ClientError> {
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
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let details = &body["error"];
        match (details["code"].as_str(), details["message"].as_str()) {
            (Some(code), Some(message)) => Ok(Authorization::Refused {
                code: code.to_string(),
                message: message.to_string(),
                details: details.clone(),
            }),
            _ => Err(ClientError::Api {
                status,
                code: "UNKNOWN".into(),
                message: "the server refused without saying why".into(),
            }),
        }
    }

    /// `POST /api/v1/authorize/{hold_id}/release`: the call will not happen.
    pub async fn release_hold(&self, hold_id: &str) -> Result<Value, ClientError> {
        let path = format!("/api/v1/authorize/{}/release", segment(hold_id));
        let resp = self.request(reqwest::Method::POST, &path).send().await?;
        decode(resp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_change_sends_only_what_changes_and_null_removes_a_limit() {
        let change = SettingsChange {
            daily_limit: Some(None),
            monthly_limit: Some(Some("50".into())),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(change).expect("serializes"),
            serde_json::json!({"daily_limit": null, "monthly_limit": "50"})
        );
    }

    #[test]
    fn an_authorization_without_a_hold_does_not_send_the_hold_field() {
        let req = AuthorizeRequest {
            estimated_cost: Some("0.05".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(req).expect("serializes"),
            serde_json::json!({"estimated_cost": "0.05"})
        );
    }
}
