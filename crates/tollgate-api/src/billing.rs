//! The billing wire: the tenant's plan and quota, an account's balance and ledger, the
//! credits a `billing` key posts (top-ups, refunds, adjustments), account settings, and the
//! usage and cost reports. The same shapes are served at the paths the replaced billing
//! systems used (`/api/billing/*`, `/billing/*`).
//!
//! Money is an exact decimal string with nine places (`"10.500000000"`), per currency; times
//! are RFC 3339 UTC. Fields that are always present are required in the schema; where one is
//! `null` today it is an `Option` without `skip_serializing_if`. Members are declared in the
//! order the server has always written them (alphabetical), so the bytes did not change when
//! the shapes became types.
//!
//! This module holds the plan and quota shapes and what the others share (the [`Loose`]
//! reading of amounts, [`Pagination`]); `accounts.rs` holds an account's balance, ledger,
//! credits and settings, `overrides.rs` an admin's overrides and the audit trail,
//! `reports.rs` the usage and cost reports, `statements.rs` an account's monthly statement,
//! `stream.rs` the live balance stream's events, all re-exported here.

mod accounts;
mod overrides;
pub mod prepaid;
mod reports;
mod statements;
mod stream;

pub use accounts::*;
pub use overrides::*;
pub use reports::*;
pub use statements::*;
pub use stream::*;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// For `Option<Option<T>>` fields: absent is `None`, `null` is `Some(None)`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A member Tollgate wants as a string (an amount, a currency code), kept as the client sent
/// it: the server refuses a JSON number or another value with that field's own code and a
/// message that says why, and where a route takes a number it reads it from its decimal text,
/// never through a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loose {
    /// A JSON string: what Tollgate asks for.
    Text(String),
    /// A JSON number, as the client wrote it (`0.05`, `1e-3`).
    Number(String),
    /// Any other JSON value (`true`, `[]`, `{}`), as its JSON text.
    Other(String),
}

impl Loose {
    /// The string, when the client sent a string.
    pub fn text(&self) -> Option<&str> {
        match self {
            Loose::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<&str> for Loose {
    fn from(text: &str) -> Loose {
        Loose::Text(text.to_string())
    }
}

impl From<String> for Loose {
    fn from(text: String) -> Loose {
        Loose::Text(text)
    }
}

impl Serialize for Loose {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Loose::Text(t) => s.serialize_str(t),
            Loose::Number(raw) | Loose::Other(raw) => RawValue::from_string(raw.clone())
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'"') => {
                Loose::Text(serde_json::from_str(text).map_err(serde::de::Error::custom)?)
            }
            Some(b'-' | b'0'..=b'9') => Loose::Number(text.to_string()),
            _ => Loose::Other(text.to_string()),
        })
    }
}

/// Body of `POST /api/v1/billing/plan`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// A plan's name (see `GET /api/v1/plans`), or null for the default plan; required.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub plan: Option<Option<String>>,
}

/// The tenant's plan, its monthly request quota and this month's use, as one statement read
/// them (`GET /api/v1/billing/limits`, and the answer to `POST /api/v1/billing/plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantLimits {
    /// Requests a month the plan allows; null: unlimited.
    #[schema(required = true)]
    pub limit: Option<i64>,
    /// The UTC month counted, `YYYY-MM`.
    #[schema(example = "2026-01")]
    pub month: String,
    /// The plan's name.
    pub plan: String,
    /// Requests left this month (never below zero); null: unlimited.
    #[schema(required = true)]
    pub remaining: Option<i64>,
    /// Requests open holds reserve.
    pub reserved: i64,
    /// When the count starts again: the first instant of the next UTC month.
    #[schema(format = DateTime, example = "2026-02-01T00:00:00Z")]
    pub resets_at: String,
    /// Requests recorded this month.
    pub used: i64,
}

/// Where a page sits in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    /// Items on this page.
    pub count: i64,
    /// Whether items follow this page.
    pub has_more: bool,
    /// The most a page holds, as asked.
    pub limit: i64,
    /// Items skipped before this page.
    pub offset: i64,
    /// Items in the whole listing.
    pub total: i64,
}

impl Pagination {
    /// The pagination of a page of `count` items from `offset`, out of `total`.
    pub fn new(limit: i64, offset: i64, count: usize, total: i64) -> Pagination {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        Pagination {
            count,
            has_more: offset.saturating_add(count) < total,
            limit,
            offset,
            total,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    /// `text` is in the order the server wrote it before these types (serde_json's maps sort
    /// their keys), and the type reads it and writes it back byte for byte.
    pub(crate) fn same_bytes<T: Serialize + serde::de::DeserializeOwned>(text: &str) {
        let sorted: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(sorted.to_string(), text, "the sample is in sorted order");
        let typed: T = serde_json::from_str(text).expect("the type reads it");
        assert_eq!(serde_json::to_string(&typed).expect("serializes"), text);
    }

    #[test]
    fn a_loose_member_keeps_a_number_as_its_decimal_text() {
        let body: CreditBody =
            serde_json::from_str(r#"{"amount": 0.1000000000000000055511151231257827}"#)
                .expect("a body");
        assert_eq!(
            body.amount,
            Some(Loose::Number("0.1000000000000000055511151231257827".into()))
        );
        let body: CreditBody =
            serde_json::from_str(r#"{"amount": "10", "currency": 840}"#).expect("a body");
        assert_eq!(body.amount, Some(Loose::Text("10".into())));
        assert_eq!(body.currency, Some(Loose::Number("840".into())));
        let body: CreditBody = serde_json::from_str(r#"{"amount": [1]}"#).expect("a body");
        assert_eq!(body.amount, Some(Loose::Other("[1]".into())));
    }

    #[test]
    fn a_loose_member_serializes_as_it_was_read() {
        for text in [
            r#"{"amount":"1.5"}"#,
            r#"{"amount":1e-3}"#,
            r#"{"amount":true}"#,
        ] {
            let body: CreditBody = serde_json::from_str(text).expect("a body");
            assert_eq!(serde_json::to_string(&body).expect("serializes"), text);
        }
    }

    #[test]
    fn the_tenant_limits_keep_the_bytes_the_server_always_wrote() {
        same_bytes::<TenantLimits>(
            r#"{"limit":null,"month":"2026-01","plan":"pro","remaining":null,"reserved":0,"resets_at":"2026-02-01T00:00:00Z","used":3}"#,
        );
    }

    #[test]
    fn pagination_says_whether_more_follow() {
        assert!(Pagination::new(3, 0, 3, 4).has_more);
        assert!(!Pagination::new(3, 3, 1, 4).has_more);
        assert_eq!(
            serde_json::to_string(&Pagination::new(50, 0, 4, 4)).expect("serializes"),
            r#"{"count":4,"has_more":false,"limit":50,"offset":0,"total":4}"#
        );
    }
}
