//! An account's admin overrides (`/api/v1/billing/overrides`) and its audit trail
//! (`/api/v1/billing/audit`): an overdraft per currency, a suspension with its reason, an
//! exemption from limits until a time, each recorded with who set it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{present, Loose};

/// Body of `PUT /api/v1/billing/overrides`; an absent member is left as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverridesBody {
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// How far below zero the balance of `currency` may go before `authorize` refuses: a
    /// decimal string ("25.00"); "0" ends the overdraft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "decimal", example = "25.00")]
    pub overdraft: Option<Loose>,
    /// The overdraft's currency (default: the account limits' currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `true` suspends the account (`authorize` refuses its calls with `ACCOUNT_DISABLED`;
    /// usage that happened is still charged); `false` resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    /// Why: recorded in the audit trail with every change of this request, and kept as the
    /// suspension's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Lift the daily and monthly spending limits and the user's rate limits until this UTC
    /// instant (RFC 3339); null ends an exemption.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-31T00:00:00Z")]
    pub exempt_until: Option<Option<String>>,
}

/// An account's admin overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountOverrides {
    /// Until when its limits are lifted; null: not exempt (or the exemption has ended).
    #[schema(required = true, format = DateTime)]
    pub exempt_until: Option<String>,
    /// The overdraft of each currency that has one, by ISO 4217 code.
    #[schema(value_type = BTreeMap<String, String>)]
    pub overdraft: BTreeMap<String, String>,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Why it is suspended, as the admin said; null when it is not, or no reason was given.
    #[schema(required = true)]
    pub suspended_reason: Option<String>,
    /// The account's user (`""`: the tenant's own account).
    pub user_id: String,
}

/// One change in an account's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// `overdraft`, `suspend`, `resume` or `exempt`.
    #[schema(example = "suspend")]
    pub action: String,
    /// When.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The change: `currency` and `amount` (overdraft), `reason` (suspend, resume), `until`
    /// and `reason` (exempt).
    #[schema(value_type = Object)]
    pub detail: Map<String, Value>,
    /// Its id.
    pub id: String,
    /// Who made it: the id of the key that did.
    pub set_by: String,
}

/// `GET /api/v1/billing/audit`: an account's audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditTrail {
    /// The changes.
    pub entries: Vec<AuditEntry>,
    /// The account's user.
    pub user_id: String,
}

/// Query of `GET /api/v1/billing/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The account (none: the tenant's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// How many, 1 to 500 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}
