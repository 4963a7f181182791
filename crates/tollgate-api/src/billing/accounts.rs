//! An account's wire: its balance view, a listing of accounts, its ledger entries and history,
//! the credits a `billing` key posts, and its settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{present, Loose, Pagination};

/// One currency of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyBalance {
    /// The balance less open holds: what a call may still use.
    #[schema(format = "decimal", example = "9.500000000")]
    pub available: String,
    /// The sum of the ledger's deltas.
    #[schema(format = "decimal", example = "10.000000000")]
    pub balance: String,
    /// What open holds reserve.
    #[schema(format = "decimal", example = "0.500000000")]
    pub held: String,
    /// Everything charged, ever.
    #[schema(format = "decimal", example = "1.250000000")]
    pub spent: String,
}

/// An account's spending limits, in its limit currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountLimits {
    /// The currency of the limits.
    #[schema(example = "USD")]
    pub currency: String,
    /// Daily spending limit; null: none.
    #[schema(required = true, format = "decimal", example = "10.000000000")]
    pub daily: Option<String>,
    /// The daily limit when the limits are in USD (the seed's field); otherwise null.
    #[schema(required = true, format = "decimal", example = "10.000000000")]
    pub daily_usd: Option<String>,
    /// Monthly spending limit; null: none.
    #[schema(required = true, format = "decimal", example = "100.000000000")]
    pub monthly: Option<String>,
    /// The monthly limit when the limits are in USD (the seed's field); otherwise null.
    #[schema(required = true, format = "decimal", example = "100.000000000")]
    pub monthly_usd: Option<String>,
}

/// An account's spend today and this month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountUsage {
    /// The limit currency, which `today` and `month` are in.
    #[schema(example = "USD")]
    pub currency: String,
    /// Spent this month, in the limit currency.
    #[schema(format = "decimal", example = "3.000000000")]
    pub month: String,
    /// Spent this month in USD (the seed's field).
    #[schema(format = "decimal", example = "3.000000000")]
    pub month_usd: String,
    /// Spent today, in the limit currency.
    #[schema(format = "decimal", example = "0.250000000")]
    pub today: String,
    /// Spent today in USD (the seed's field).
    #[schema(format = "decimal", example = "0.250000000")]
    pub today_usd: String,
}

/// An account's balance view: the seed's fields (USD and UAH), its limits and spend, and
/// every currency it holds (`GET /api/v1/billing/balance`, `PUT /api/v1/billing/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// The UAH balance (zero when it holds none).
    #[schema(format = "decimal", example = "0.000000000")]
    pub balance_uah: String,
    /// The USD balance (zero when it holds none).
    #[schema(format = "decimal", example = "10.000000000")]
    pub balance_usd: String,
    /// Every currency the account holds, by ISO 4217 code.
    pub balances: BTreeMap<String, CurrencyBalance>,
    /// Whether usage is charged to the balance (prepaid) and authorize requires it to cover.
    pub billing_enabled: bool,
    /// When the account was created; null for one never used (shown with the defaults).
    #[schema(required = true, format = DateTime)]
    pub created_at: Option<String>,
    /// Whether the account may spend.
    pub is_active: bool,
    /// The last charged request; null: none yet.
    #[schema(required = true, format = DateTime)]
    pub last_request_at: Option<String>,
    /// The currency of the limits.
    #[schema(example = "USD")]
    pub limit_currency: String,
    /// The spending limits.
    pub limits: AccountLimits,
    /// Requests charged to it, ever.
    pub total_requests: i64,
    /// Everything charged in USD, ever.
    #[schema(format = "decimal", example = "1.250000000")]
    pub total_spent_usd: String,
    /// Spend today and this month.
    pub usage: AccountUsage,
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
}

/// The kind of a ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerEntryType {
    /// A usage event's cost.
    Charge,
    /// Money given back.
    Refund,
    /// Money paid in.
    Topup,
    /// An operator's correction, either way.
    Adjustment,
    /// A reservation placed by authorize (moves held money, not the balance).
    Hold,
    /// A reservation given back (settled, expired or released).
    Release,
}

impl LedgerEntryType {
    /// Every kind.
    pub const ALL: [LedgerEntryType; 6] = [
        LedgerEntryType::Charge,
        LedgerEntryType::Refund,
        LedgerEntryType::Topup,
        LedgerEntryType::Adjustment,
        LedgerEntryType::Hold,
        LedgerEntryType::Release,
    ];

    /// The kind as the wire spells it (`topup`).
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerEntryType::Charge => "charge",
            LedgerEntryType::Refund => "refund",
            LedgerEntryType::Topup => "topup",
            LedgerEntryType::Adjustment => "adjustment",
            LedgerEntryType::Hold => "hold",
            LedgerEntryType::Release => "release",
        }
    }
}

/// Something a charge did that the limits or the balance did not allow for; usage is never
/// refused after the call happened, so it is recorded and flagged instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerFlag {
    /// The charge took the day's spend over the daily limit.
    OverDailyLimit,
    /// The charge took the month's spend over the monthly limit.
    OverMonthlyLimit,
    /// The charge took the balance below zero.
    NegativeBalance,
}

impl LedgerFlag {
    /// Every flag.
    pub const ALL: [LedgerFlag; 3] = [
        LedgerFlag::OverDailyLimit,
        LedgerFlag::OverMonthlyLimit,
        LedgerFlag::NegativeBalance,
    ];

    /// The flag as the wire spells it (`over_daily_limit`).
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerFlag::OverDailyLimit => "over_daily_limit",
            LedgerFlag::OverMonthlyLimit => "over_monthly_limit",
            LedgerFlag::NegativeBalance => "negative_balance",
        }
    }
}

/// One ledger entry, with the balance before and after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// Its size, as a person reads it (positive).
    #[schema(format = "decimal", example = "10.000000000")]
    pub amount: String,
    /// The balance after it.
    #[schema(format = "decimal", example = "10.000000000")]
    pub balance_after: String,
    /// The balance before it.
    #[schema(format = "decimal", example = "0.000000000")]
    pub balance_before: String,
    /// When it was posted.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// Its effect on the balance (negative for a charge or a debit).
    #[schema(format = "decimal", example = "10.000000000")]
    pub delta: String,
    /// Why, when someone said.
    #[schema(required = true)]
    pub description: Option<String>,
    /// What the charge did that the limits or the balance did not allow for.
    pub flags: Vec<LedgerFlag>,
    /// The hold it belongs to.
    #[schema(required = true, example = "hold_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub hold_id: Option<String>,
    /// Its id.
    #[schema(example = "txn_0193a4f1c2d37e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// The usage event it belongs to (a UUID).
    #[schema(required = true, format = "uuid")]
    pub log_id: Option<String>,
    /// Free-form metadata the poster attached: any JSON object, kept as sent, so it has no
    /// fixed shape.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// The payment's id at its provider.
    #[schema(required = true)]
    pub payment_id: Option<String>,
    /// Who took the payment.
    #[schema(required = true)]
    pub payment_provider: Option<String>,
    /// The client's request id of the usage event.
    #[schema(required = true)]
    pub request_id: Option<String>,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: LedgerEntryType,
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
}

/// A page of an account's ledger, newest first (`GET /api/v1/billing/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// Where the page sits.
    pub pagination: Pagination,
    /// The entries, newest first.
    pub transactions: Vec<LedgerEntry>,
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
}

/// Body of the top-up, refund and adjustment routes. Fields left `None` are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// A positive decimal string, at most 9 places; anything else (a JSON number too) is
    /// refused with `INVALID_AMOUNT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, format = "decimal", example = "10.00")]
    pub amount: Option<Loose>,
    /// A three-letter ISO 4217 code (default: the account limits' currency); anything else
    /// is refused with `INVALID_CURRENCY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "USD")]
    pub currency: Option<Loose>,
    /// Why (at most 1,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who took the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_provider: Option<String>,
    /// The payment's id there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Free-form metadata kept on the ledger entry: any JSON object, so it has no fixed shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Refunds only: the usage event refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    /// Adjustments only: `credit` (default) or `debit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// The answer to a top-up, refund or adjustment. A repeat under the same `Idempotency-Key`
/// answers the same, with the header `idempotent-replayed: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Credited {
    /// The account's balance view after it.
    pub balance: Account,
    /// The ledger entry posted.
    pub transaction: LedgerEntry,
}

/// Body of `PUT /api/v1/billing/settings`; an absent field is left as it is. Fields left
/// `None` are not sent; `Some(None)` sends `null`, which removes a limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A decimal string, or null to remove the limit.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = "decimal", example = "10.00")]
    pub daily_limit: Option<Option<Loose>>,
    /// A decimal string, or null to remove the limit.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = "decimal", example = "100.00")]
    pub monthly_limit: Option<Option<Loose>>,
    /// Whether the account may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Whether usage is charged to the balance (prepaid) and authorize requires it to cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_enabled: Option<bool>,
}

/// `user_id` alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The account (none: the tenant's own; an end user: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// One account of a listing: the balance view and its open holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListedAccount {
    /// The account, as `GET /api/v1/billing/balance` shows it (`held`: what its open holds
    /// reserve, per currency).
    pub account: Account,
    /// How many holds placed by authorize are still open on it.
    pub open_holds: i64,
}

/// A page of the tenant's accounts, ordered by user id (`GET /api/v1/billing/accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    /// The accounts on this page.
    pub accounts: Vec<ListedAccount>,
    /// Where the page sits.
    pub pagination: Pagination,
}

/// Query of `GET /api/v1/billing/accounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// Only users whose id starts with this (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_prefix: Option<String>,
    /// How many, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// Query of `GET /api/v1/billing/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The account (none: the tenant's own; an end user: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// How many, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Only entries of this kind: `charge`, `refund`, `topup`, `adjustment`, `hold` or
    /// `release`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// From this day or instant (also `start_date`).
    #[serde(alias = "start_date", default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Until this day or instant (also `end_date`).
    #[serde(alias = "end_date", default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::tests::same_bytes;

    #[test]
    fn settings_tell_an_absent_limit_from_a_null_one() {
        let body: SettingsBody = serde_json::from_str(r#"{"daily_limit": null}"#).expect("a body");
        assert_eq!(body.daily_limit, Some(None));
        assert_eq!(body.monthly_limit, None);
        let change = SettingsBody {
            daily_limit: Some(None),
            monthly_limit: Some(Some("50".into())),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&change).expect("serializes"),
            r#"{"daily_limit":null,"monthly_limit":"50"}"#
        );
    }

    #[test]
    fn an_unknown_member_of_a_request_is_refused() {
        let e = serde_json::from_str::<CreditBody>(r#"{"amount": "1", "userid": "u"}"#)
            .expect_err("refused");
        assert!(e.to_string().contains("unknown field `userid`"), "{e}");
    }

    #[test]
    fn kinds_and_flags_are_spelled_as_serde_writes_them() {
        for kind in LedgerEntryType::ALL {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        for flag in LedgerFlag::ALL {
            let json = serde_json::to_string(&flag).expect("serializes");
            assert_eq!(json, format!("\"{}\"", flag.as_str()));
        }
    }

    #[test]
    fn accounts_and_entries_keep_the_bytes_the_server_always_wrote() {
        let account = r#"{"balance_uah":"0.000000000","balance_usd":"1.000000000","balances":{"USD":{"available":"1.000000000","balance":"1.000000000","held":"0.000000000","spent":"0.000000000"}},"billing_enabled":true,"created_at":null,"is_active":true,"last_request_at":null,"limit_currency":"USD","limits":{"currency":"USD","daily":"10.000000000","daily_usd":"10.000000000","monthly":null,"monthly_usd":null},"total_requests":0,"total_spent_usd":"0.000000000","usage":{"currency":"USD","month":"0.000000000","month_usd":"0.000000000","today":"0.000000000","today_usd":"0.000000000"},"user_id":"alice"}"#;
        same_bytes::<Account>(account);
        let entry = r#"{"amount":"1.000000000","balance_after":"1.000000000","balance_before":"0.000000000","created_at":"2026-01-01T00:00:00.000000Z","currency":"USD","delta":"1.000000000","description":null,"flags":["negative_balance"],"hold_id":null,"id":"txn_1","log_id":null,"metadata":{"order":7},"payment_id":"pi_1","payment_provider":"stripe","request_id":null,"type":"topup","user_id":"alice"}"#;
        same_bytes::<LedgerEntry>(entry);
        same_bytes::<Credited>(&format!(r#"{{"balance":{account},"transaction":{entry}}}"#));
        same_bytes::<History>(&format!(
            r#"{{"pagination":{{"count":1,"has_more":false,"limit":50,"offset":0,"total":1}},"transactions":[{entry}],"user_id":"alice"}}"#
        ));
    }
}
