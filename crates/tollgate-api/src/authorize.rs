//! The authorization wire: may a call happen (`POST /api/v1/authorize`), the decision with the
//! numbers behind it, the refusal (a 402 whose error carries the same numbers), and releasing
//! a hold.
//!
//! Members are declared in the order the server has always written them (alphabetical), so
//! the bytes did not change when the shapes became types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::Loose;
use crate::rate::RateLimitState;
use crate::ErrorCode;

/// Body of `POST /api/v1/authorize`: an estimate as a cost, or as a model and token counts.
/// Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// The end user whose account pays (none: the tenant's own; an end user: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The provider, to price the estimated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model, to price the estimated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Estimated prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_input_tokens: Option<i64>,
    /// Estimated generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_output_tokens: Option<i64>,
    /// The service tier the call will be served at (`standard`, `batch`, `flex`,
    /// `priority`): the token estimate is priced at its rates, as the call will be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// A decimal string ("0.05") or a JSON number, read exactly from its decimal text (at
    /// most 9 places); wins over the token estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "decimal", example = "0.05")]
    pub estimated_cost: Option<Loose>,
    /// The currency of `estimated_cost` (default: the account limits' currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Reserve the estimate until the usage event carrying the hold id settles it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// How long the hold lasts (default `billing.hold_ttl_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ttl_seconds: Option<i64>,
}

/// The estimate a decision weighed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    /// The estimated cost.
    #[schema(format = "decimal", example = "0.050000000")]
    pub amount: String,
    /// Its currency.
    #[schema(example = "USD")]
    pub currency: String,
}

/// The tenant's plan quota as a decision saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Requests a month the plan allows; null: unlimited.
    #[schema(required = true)]
    pub limit: Option<i64>,
    /// The plan's name.
    pub plan: String,
    /// Requests left this month (never below zero); null: unlimited.
    #[schema(required = true)]
    pub remaining: Option<i64>,
    /// Requests open holds reserve (this decision's own hold included).
    pub reserved: i64,
    /// When the count starts again: the first instant of the next UTC month.
    #[schema(format = DateTime, example = "2026-02-01T00:00:00Z")]
    pub resets_at: String,
    /// Requests recorded this month.
    pub used: i64,
}

/// An account's limits as a decision saw them: what is used counts open holds until they
/// settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DecisionLimits {
    /// The currency of the limits.
    #[schema(example = "USD")]
    pub currency: String,
    /// Daily spending limit; null: none.
    #[schema(required = true, format = "decimal", example = "10.000000000")]
    pub daily: Option<String>,
    /// Spent today plus open holds.
    #[schema(format = "decimal", example = "0.250000000")]
    pub daily_used: String,
    /// Monthly spending limit; null: none.
    #[schema(required = true, format = "decimal", example = "100.000000000")]
    pub monthly: Option<String>,
    /// Spent this month plus open holds.
    #[schema(format = "decimal", example = "3.000000000")]
    pub monthly_used: String,
}

/// The paying account as a decision saw it (after the decision's own hold, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DecisionAccount {
    /// The balance less open holds.
    #[schema(format = "decimal", example = "4.000000000")]
    pub available: String,
    /// The balance in `currency`.
    #[schema(format = "decimal", example = "5.000000000")]
    pub balance: String,
    /// Whether usage is charged to the balance and the balance must cover the estimate.
    pub billing_enabled: bool,
    /// The currency of the balance (the estimate's).
    #[schema(example = "USD")]
    pub currency: String,
    /// What open holds reserve.
    #[schema(format = "decimal", example = "1.000000000")]
    pub held: String,
    /// Whether the account may spend.
    pub is_active: bool,
    /// Its limits.
    pub limits: DecisionLimits,
    /// How far below zero an admin lets the balance go: a call may use `available` plus this.
    #[schema(format = "decimal", example = "0.000000000")]
    pub overdraft: String,
    /// The account's user.
    pub user_id: String,
}

/// What `POST /api/v1/authorize` decided, with the numbers behind it. Allowed, it is the
/// 200 body; refused, its members are the 402 (or 429) error's details (see `Refusal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// Whether the call may happen.
    pub allowed: bool,
    /// The paying account; null when no account was named (only the quota was checked).
    #[schema(required = true)]
    pub balance: Option<DecisionAccount>,
    /// The estimate weighed.
    pub estimate: Estimate,
    /// When the hold expires; null without a hold.
    #[schema(required = true, format = DateTime)]
    pub hold_expires_at: Option<String>,
    /// The hold placed, when `hold` was asked for and the call is allowed; null otherwise.
    #[schema(required = true, example = "hold_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub hold_id: Option<String>,
    /// The account's limits (as in `balance`); null when no account was named.
    #[schema(required = true)]
    pub limits: Option<DecisionLimits>,
    /// The tenant's plan quota.
    pub quota: Quota,
    /// The rate limits weighed: the key's, the user's and the client IP's, each where one
    /// is set (absent from servers before rate limits: empty).
    #[serde(default)]
    pub rate_limits: Vec<RateLimitState>,
}

/// Why authorize refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalCode {
    /// The tenant's plan quota for this month is used up.
    QuotaExceeded,
    /// The account is disabled.
    AccountDisabled,
    /// The call would pass the account's daily spending limit.
    DailyLimitExceeded,
    /// The call would pass the account's monthly spending limit.
    MonthlyLimitExceeded,
    /// The balance less open holds does not cover the call.
    InsufficientBalance,
    /// A requests- or tokens-per-minute limit would be passed (429, with `Retry-After`).
    RateLimited,
}

impl RefusalCode {
    /// The error code it is on the wire.
    pub fn error_code(self) -> ErrorCode {
        match self {
            RefusalCode::QuotaExceeded => ErrorCode::QuotaExceeded,
            RefusalCode::AccountDisabled => ErrorCode::AccountDisabled,
            RefusalCode::DailyLimitExceeded => ErrorCode::DailyLimitExceeded,
            RefusalCode::MonthlyLimitExceeded => ErrorCode::MonthlyLimitExceeded,
            RefusalCode::InsufficientBalance => ErrorCode::InsufficientBalance,
            RefusalCode::RateLimited => ErrorCode::RateLimited,
        }
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error_code().as_str())
    }
}

/// The `error` of a refusal: its code, what a person can do about it, and the decision's
/// numbers beside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Refusal {
    /// Why.
    pub code: RefusalCode,
    /// What a person can do about it.
    pub message: String,
    /// Always null: a refusal concerns no one field (as in every error body).
    #[serde(default)]
    #[schema(required = true)]
    pub field: Option<String>,
    /// The numbers behind the refusal (`allowed` is false).
    #[serde(flatten)]
    pub decision: Decision,
}

/// The 402 body of `POST /api/v1/authorize`: the error body, whose `error` carries the
/// decision's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeRefusal {
    /// The refusal.
    pub error: Refusal,
    /// The message again, as FastAPI's `detail`.
    pub detail: String,
}

/// The answer to releasing a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HoldReleased {
    /// The hold released.
    #[schema(example = "hold_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub hold_id: String,
    /// Always true: a hold that could not be released is a 404.
    pub released: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> Decision {
        Decision {
            allowed: false,
            balance: None,
            estimate: Estimate {
                amount: "0.010000000".into(),
                currency: "USD".into(),
            },
            hold_expires_at: None,
            hold_id: None,
            limits: None,
            quota: Quota {
                limit: Some(500),
                plan: "starter".into(),
                remaining: Some(500),
                reserved: 0,
                resets_at: "2026-02-01T00:00:00Z".into(),
                used: 0,
            },
            rate_limits: Vec::new(),
        }
    }

    #[test]
    fn a_refusal_reads_back_from_the_error_body_with_its_numbers() {
        let body = AuthorizeRefusal {
            error: Refusal {
                code: RefusalCode::InsufficientBalance,
                message: "top up".into(),
                field: None,
                decision: decision(),
            },
            detail: "top up".into(),
        };
        let text = serde_json::to_string(&body).expect("serializes");
        assert!(
            text.starts_with(
                r#"{"error":{"code":"INSUFFICIENT_BALANCE","message":"top up","field":null,"allowed":false,"balance":null,"#
            ),
            "{text}"
        );
        let back: AuthorizeRefusal = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, body);
        let generic: crate::ErrorBody = serde_json::from_str(&text).expect("an error body");
        assert_eq!(generic.error.code, ErrorCode::InsufficientBalance);
        assert_eq!(generic.error.details["quota"]["limit"], 500);
    }

    #[test]
    fn a_decision_keeps_the_bytes_the_server_always_wrote() {
        crate::billing::tests::same_bytes::<Decision>(
            r#"{"allowed":true,"balance":{"available":"3.000000000","balance":"5.000000000","billing_enabled":true,"currency":"USD","held":"2.000000000","is_active":true,"limits":{"currency":"USD","daily":"10.000000000","daily_used":"2.000000000","monthly":null,"monthly_used":"2.000000000"},"overdraft":"0.000000000","user_id":"dave"},"estimate":{"amount":"2.000000000","currency":"USD"},"hold_expires_at":"2026-01-01T00:05:00.000000Z","hold_id":"hold_1","limits":{"currency":"USD","daily":"10.000000000","daily_used":"2.000000000","monthly":null,"monthly_used":"2.000000000"},"quota":{"limit":500,"plan":"starter","remaining":499,"reserved":1,"resets_at":"2026-02-01T00:00:00Z","used":0},"rate_limits":[]}"#,
        );
        crate::billing::tests::same_bytes::<HoldReleased>(
            r#"{"hold_id":"hold_1","released":true}"#,
        );
    }

    #[test]
    fn an_authorization_without_a_hold_does_not_send_the_hold_field() {
        let req = AuthorizeBody {
            estimated_cost: Some("0.05".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).expect("serializes"),
            r#"{"estimated_cost":"0.05"}"#
        );
    }
}
