//! The prepaid-balance billing service's own shapes, served at its paths (`/api/billing/*`):
//! a `success` wrapper, amounts as JSON numbers, `amount_usd`/`amount_uah` and
//! `daily_limit_usd`/`monthly_limit_usd`. Tollgate writes each amount as a JSON number with
//! its exact decimal text (`10.000000000`) and reads each from its decimal text, never
//! through a float. The canonical routes (`/api/v1/billing/*`) keep exact decimal strings.

use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{present, Loose};

/// An amount written as a JSON number holding its exact decimal text.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = f64, example = 10.0)]
pub struct PrepaidAmount(pub String);

impl Serialize for PrepaidAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for PrepaidAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PrepaidAmount, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(PrepaidAmount(raw.get().to_string()))
    }
}

/// An account's spending limits in USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidLimits {
    /// Daily limit; null: none (or the limits are in another currency).
    #[schema(required = true, value_type = Option<f64>)]
    pub daily_usd: Option<PrepaidAmount>,
    /// Monthly limit; null: none (or the limits are in another currency).
    #[schema(required = true, value_type = Option<f64>)]
    pub monthly_usd: Option<PrepaidAmount>,
}

/// Spend today and this month (UTC), in USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidUsage {
    /// Spent today.
    pub today_usd: PrepaidAmount,
    /// Spent this month.
    pub month_usd: PrepaidAmount,
}

/// An account as the prepaid service showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidBilling {
    /// The USD balance.
    pub balance_usd: PrepaidAmount,
    /// The UAH balance.
    pub balance_uah: PrepaidAmount,
    /// Everything charged in USD, ever.
    pub total_spent_usd: PrepaidAmount,
    /// Requests charged, ever.
    pub total_requests: i64,
    /// The limits.
    pub limits: PrepaidLimits,
    /// The spend.
    pub usage: PrepaidUsage,
    /// The last charged request; null: none yet.
    #[schema(required = true, format = DateTime)]
    pub last_request_at: Option<String>,
    /// Whether the account may spend.
    pub is_active: bool,
    /// Whether usage is charged to the balance.
    pub billing_enabled: bool,
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
}

/// `GET /api/billing/balance` and the answer to `PUT /api/billing/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidBalance {
    /// Always true: a failure is an error answer.
    pub success: bool,
    /// The account.
    pub billing: PrepaidBilling,
}

/// One ledger entry as the prepaid service listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidTransaction {
    /// Its id.
    pub id: String,
    /// The account's user.
    pub user_id: String,
    /// `charge`, `refund`, `topup` or `adjustment` (and Tollgate's `hold` and `release`,
    /// which move held money, not the balance).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its size in USD (0 for an entry in another currency).
    pub amount_usd: PrepaidAmount,
    /// Its size in UAH (0 for an entry in another currency).
    pub amount_uah: PrepaidAmount,
    /// The USD balance before it; null for an entry in another currency.
    #[schema(required = true, value_type = Option<f64>)]
    pub balance_before_usd: Option<PrepaidAmount>,
    /// The USD balance after it; null for an entry in another currency.
    #[schema(required = true, value_type = Option<f64>)]
    pub balance_after_usd: Option<PrepaidAmount>,
    /// Its currency.
    pub currency: String,
    /// The client's request id of the charged call.
    #[schema(required = true)]
    pub request_id: Option<String>,
    /// Why.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Who took the payment.
    #[schema(required = true)]
    pub payment_provider: Option<String>,
    /// The payment's id there.
    #[schema(required = true)]
    pub payment_id: Option<String>,
    /// When it was posted.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Where a page of history sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidPagination {
    /// The most a page holds, as asked.
    pub limit: i64,
    /// Entries skipped before this page.
    pub offset: i64,
    /// Entries on this page.
    pub count: i64,
    /// Entries in the whole history.
    pub total: i64,
}

/// `GET /api/billing/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidHistory {
    /// Always true.
    pub success: bool,
    /// The entries, newest first.
    pub transactions: Vec<PrepaidTransaction>,
    /// Where the page sits.
    pub pagination: PrepaidPagination,
}

/// Body of `POST /api/billing/topup`, as the prepaid service's clients send it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepaidTopupBody {
    /// USD paid in: a JSON number or a decimal string, at most 9 decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, example = 10.0)]
    pub amount_usd: Option<Loose>,
    /// UAH paid in: a JSON number or a decimal string, at most 9 decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, example = 0)]
    pub amount_uah: Option<Loose>,
    /// Why (at most 1,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who took the payment (`stripe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_provider: Option<String>,
    /// The payment's id there (`pi_123456`): a payment is credited once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The answer to `POST /api/billing/topup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrepaidTopup {
    /// Always true.
    pub success: bool,
    /// The ledger entry posted (or, for a payment credited before, the one posted then).
    pub transaction: PrepaidTransaction,
    /// The account after it.
    pub billing: PrepaidBilling,
}

/// Body of `PUT /api/billing/settings`; an absent field is left as it is, `null` removes a
/// limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepaidSettingsBody {
    /// The daily limit in USD: a JSON number or a decimal string.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>, example = 20.0)]
    pub daily_limit_usd: Option<Option<Loose>>,
    /// The monthly limit in USD: a JSON number or a decimal string.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>, example = 200.0)]
    pub monthly_limit_usd: Option<Option<Loose>>,
    /// Whether the account may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Whether usage is charged to the balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_enabled: Option<bool>,
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_is_written_as_a_json_number_with_its_exact_digits() {
        let limits = PrepaidLimits {
            daily_usd: Some(PrepaidAmount("20.000000000".into())),
            monthly_usd: None,
        };
        assert_eq!(
            serde_json::to_string(&limits).expect("serializes"),
            r#"{"daily_usd":20.000000000,"monthly_usd":null}"#
        );
    }

    #[test]
    fn the_source_documents_bodies_read_as_they_are_written() {
        let topup: PrepaidTopupBody = serde_json::from_str(
            r#"{"amount_usd": 10.00, "amount_uah": 0, "description": "Top up via Stripe",
                "payment_provider": "stripe", "payment_id": "pi_123456"}"#,
        )
        .expect("the seed's top-up");
        assert_eq!(topup.amount_usd, Some(Loose::Number("10.00".into())));
        let settings: PrepaidSettingsBody =
            serde_json::from_str(r#"{"daily_limit_usd": 20.00, "monthly_limit_usd": 200.00}"#)
                .expect("the seed's settings");
        assert_eq!(
            settings.monthly_limit_usd,
            Some(Some(Loose::Number("200.00".into())))
        );
    }
}
