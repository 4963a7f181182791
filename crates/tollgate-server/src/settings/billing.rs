//! Plans, billing accounts, authorization and holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{BalanceStreamSettings, DecimalText};

/// Billing settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSettings {
    /// The default plan (of tenants that have none set) to choose at start, a plan in the
    /// database (start-up stops otherwise). The choice is the database's, one for every
    /// instance: this sets it while no operator has chosen one (`tollgate plans default`), and
    /// is otherwise only compared, with a warning where it differs. None: leave the
    /// database's (`starter` in a new database).
    pub default_plan: Option<String>,
    /// Plans to add or set at start. A plan the database lacks is added; one an operator set
    /// (`tollgate plans`, the API) is never changed from here (a warning where it differs);
    /// any other (built in, or set by the settings before) takes the quota given here. The
    /// database comes with `starter` (500 requests a month), `growth` (5,000) and `pro`
    /// (unlimited).
    pub plans: BTreeMap<String, PlanSettings>,
    /// What a new billing account starts with.
    pub account: AccountSettings,
    /// How long a hold lasts when the request does not say, in seconds.
    pub hold_ttl_seconds: u64,
    /// The longest hold a request may ask for, in seconds.
    pub max_hold_ttl_seconds: u64,
    /// How often expired holds are released, in seconds.
    pub expire_holds_seconds: u64,
    /// Most authorizations decided in one transaction.
    pub max_authorize_batch: usize,
    /// Meter and charge an MCP tool execution that reports an `error` like a successful one.
    /// Off (the default), a failed execution is recorded and charged nothing.
    pub charge_failed_tool_calls: bool,
    /// Live balance streams.
    pub stream: BalanceStreamSettings,
}

/// One plan.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Requests a month (UTC calendar months); absent means unlimited.
    pub monthly_requests: Option<i64>,
}

/// Defaults of a new billing account.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Whether it may spend.
    pub is_active: bool,
    /// Whether usage is charged to its prepaid balance (and the balance enforced).
    pub billing_enabled: bool,
    /// The currency of its limits.
    pub currency: String,
    /// Daily spending limit, an amount ("" or absent: none).
    pub daily_limit: Option<DecimalText>,
    /// Monthly spending limit, an amount ("" or absent: none).
    pub monthly_limit: Option<DecimalText>,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            default_plan: None,
            plans: BTreeMap::new(),
            account: AccountSettings::default(),
            hold_ttl_seconds: 300,
            max_hold_ttl_seconds: 86_400,
            expire_holds_seconds: 5,
            max_authorize_batch: 512,
            charge_failed_tool_calls: false,
            stream: BalanceStreamSettings::default(),
        }
    }
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            is_active: true,
            billing_enabled: true,
            currency: "USD".into(),
            daily_limit: Some("10".into()),
            monthly_limit: Some("100".into()),
        }
    }
}
