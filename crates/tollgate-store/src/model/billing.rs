//! Billing accounts, the ledger, credits, audits and authorization decisions.

use serde_json::{Map, Value};
use tollgate_core::rate::{Counts, Exceeded, Limits};
use tollgate_core::{Currency, Nanos};

pub use tollgate_core::billing::{ledger_flags, AccountState, QuotaState, Refusal};

/// What a new billing account starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDefaults {
    /// Whether it may spend at all.
    pub is_active: bool,
    /// Whether usage is charged to its balance (and the balance enforced).
    pub billing_enabled: bool,
    /// The currency its limits are in.
    pub limit_currency: Currency,
    /// Daily spending limit (None: none).
    pub daily_limit: Option<Nanos>,
    /// Monthly spending limit (None: none).
    pub monthly_limit: Option<Nanos>,
}

/// One currency of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    /// Currency.
    pub currency: Currency,
    /// The sum of the ledger's deltas.
    pub balance: Nanos,
    /// What open holds reserve.
    pub held: Nanos,
    /// Lifetime charges.
    pub spent: Nanos,
}

/// Spend of one period (a day or a month) in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodSpend {
    /// Currency.
    pub currency: Currency,
    /// Charges in the period.
    pub spent: Nanos,
    /// Charged requests in the period.
    pub requests: i64,
}

/// A billing account: one per (tenant, user); user `""` is the tenant's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Tenant.
    pub tenant_id: String,
    /// User (`""`: the tenant's own account).
    pub user_id: String,
    /// Whether it may spend at all.
    pub is_active: bool,
    /// Whether usage is charged to its balance (and the balance enforced).
    pub billing_enabled: bool,
    /// The currency its limits are in.
    pub limit_currency: Currency,
    /// Daily spending limit.
    pub daily_limit: Option<Nanos>,
    /// Monthly spending limit.
    pub monthly_limit: Option<Nanos>,
    /// Requests charged to it, ever.
    pub total_requests: i64,
    /// The last charged request.
    pub last_request_us: Option<i64>,
    /// Creation time; None for an account not created yet (shown with the defaults).
    pub created_us: Option<i64>,
    /// Balances, one per currency it has used.
    pub balances: Vec<AccountBalance>,
    /// Spend today (UTC).
    pub today: Vec<PeriodSpend>,
    /// Spend this month (UTC).
    pub this_month: Vec<PeriodSpend>,
}

/// An account as a listing shows it: the account and its open holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAccount {
    /// The account, with its balances (each with what open holds reserve) and spend.
    pub account: Account,
    /// Holds placed by authorize and not yet settled, released or expired.
    pub open_holds: i64,
}

/// Which accounts a listing selects, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only users whose id starts with this (case-sensitive).
    pub user_prefix: Option<String>,
    /// The most on a page.
    pub limit: i64,
    /// How many to skip.
    pub offset: i64,
}

/// The kinds of ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
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

impl LedgerKind {
    /// Every kind.
    pub const ALL: [LedgerKind; 6] = [
        LedgerKind::Charge,
        LedgerKind::Refund,
        LedgerKind::Topup,
        LedgerKind::Adjustment,
        LedgerKind::Hold,
        LedgerKind::Release,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Charge => "charge",
            LedgerKind::Refund => "refund",
            LedgerKind::Topup => "topup",
            LedgerKind::Adjustment => "adjustment",
            LedgerKind::Hold => "hold",
            LedgerKind::Release => "release",
        }
    }

    /// The kind of a stored name.
    pub fn parse(text: &str) -> Option<LedgerKind> {
        LedgerKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// What a payment (a provider's payment id) moved on one account in one currency: for a refund
/// that names the payment, not the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTotals {
    /// The account's user.
    pub user_id: String,
    /// The currency.
    pub currency: Currency,
    /// What its entries credited.
    pub credited: Nanos,
    /// What its entries debited (positive).
    pub debited: Nanos,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// `txn_…`
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Account user.
    pub user_id: String,
    /// Kind.
    pub kind: LedgerKind,
    /// Size, as a person reads it.
    pub amount: Nanos,
    /// Effect on the balance.
    pub delta: Nanos,
    /// Currency.
    pub currency: Currency,
    /// Balance before.
    pub balance_before: Nanos,
    /// Balance after.
    pub balance_after: Nanos,
    /// The usage event it belongs to.
    pub log_id: Option<String>,
    /// The hold it belongs to.
    pub hold_id: Option<String>,
    /// The client's request id.
    pub request_id: Option<String>,
    /// Payment provider (top-ups).
    pub payment_provider: Option<String>,
    /// Payment id (top-ups).
    pub payment_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata, a JSON object.
    pub metadata: Map<String, Value>,
    /// [`ledger_flags`] bits.
    pub flags: i64,
    /// When.
    pub created_us: i64,
}

/// A money movement an operator posts: a top-up, refund or adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit {
    /// Tenant.
    pub tenant_id: String,
    /// Account user (`""`: the tenant's own).
    pub user_id: String,
    /// Topup, Refund or Adjustment.
    pub kind: LedgerKind,
    /// Size (positive).
    pub amount: Nanos,
    /// Effect on the balance: `amount` or `-amount`.
    pub delta: Nanos,
    /// Currency.
    pub currency: Currency,
    /// Description.
    pub description: Option<String>,
    /// Payment provider.
    pub payment_provider: Option<String>,
    /// Payment id.
    pub payment_id: Option<String>,
    /// The usage event a refund is for.
    pub log_id: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// The request's Idempotency-Key.
    pub idempotency_key: Option<String>,
    /// A hash of the request body, to tell a repeat from a different request under the same key.
    pub request_hash: String,
    /// A debit that takes the balance from at or above this amount to below it raises
    /// `balance.low`, as a charge does.
    pub balance_low: Option<Nanos>,
}

/// Filter of a ledger listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only this kind.
    pub kind: Option<LedgerKind>,
    /// From this instant.
    pub start_us: Option<i64>,
    /// Up to this instant.
    pub end_us: Option<i64>,
}

/// Changes to an account's settings; None leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSettings {
    /// Daily limit (Some(None) removes it).
    pub daily_limit: Option<Option<Nanos>>,
    /// Monthly limit (Some(None) removes it).
    pub monthly_limit: Option<Option<Nanos>>,
    /// Active.
    pub is_active: Option<bool>,
    /// Billing enabled.
    pub billing_enabled: Option<bool>,
}

/// One account whose stored balance or holds differ from its ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFinding {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// Currency.
    pub currency: String,
    /// The stored balance.
    pub balance: Nanos,
    /// The sum of the ledger's deltas.
    pub ledger_sum: Nanos,
    /// What the balance row says open holds reserve.
    pub held: Nanos,
    /// What the open holds add up to.
    pub open_holds: Nanos,
}

/// What an audit found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Accounts (and currencies) checked.
    pub checked: i64,
    /// Those that differ.
    pub findings: Vec<AuditFinding>,
}

/// One request to `authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Tenant.
    pub tenant_id: String,
    /// The user whose account pays (None: the tenant's quota only).
    pub user_id: Option<String>,
    /// The estimated cost of the call.
    pub estimate: Nanos,
    /// Its currency.
    pub currency: Currency,
    /// Reserve the estimate until this instant (a hold), or only decide.
    pub hold_until_us: Option<i64>,
    /// Who else the call's rate limits count besides its user, and its tokens.
    pub rate: RateSubjects,
}

/// Who a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateKind {
    /// The API key that asks.
    Key,
    /// The end user whose call it is.
    User,
    /// The client's IP address.
    Ip,
}

impl RateKind {
    /// Its name in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Key => "key",
            RateKind::User => "user",
            RateKind::Ip => "ip",
        }
    }

    /// The kind by its name.
    pub fn parse(name: &str) -> Option<RateKind> {
        match name {
            "key" => Some(RateKind::Key),
            "user" => Some(RateKind::User),
            "ip" => Some(RateKind::Ip),
            _ => None,
        }
    }
}

/// The subjects of one authorization's rate limits besides its user (`user_id`), and the
/// tokens it counts against tokens-per-minute limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateSubjects {
    /// The API key that asks (None: an end user's own token).
    pub key_id: Option<String>,
    /// The client's IP address, as the server determined it.
    pub ip: Option<String>,
    /// The tokens the call is expected to use (0: unknown; tokens limits are not weighed).
    pub tokens: i64,
}

/// A plan's rate limits for each kind of subject.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanRates {
    /// Each API key's.
    pub key: Limits,
    /// Each end user's.
    pub user: Limits,
    /// Each client IP's.
    pub ip: Limits,
}

impl PlanRates {
    /// The limits of `kind`.
    pub fn of(&self, kind: RateKind) -> Limits {
        match kind {
            RateKind::Key => self.key,
            RateKind::User => self.user,
            RateKind::Ip => self.ip,
        }
    }
}

/// What an admin changes on an account (`set_account_overrides`); None leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverrideChange {
    /// How far below zero the balance of a currency (None: the account's limit currency) may
    /// go before calls are refused (zero: not at all).
    pub overdraft: Option<(Option<Currency>, Nanos)>,
    /// Suspend (true) or resume (false).
    pub suspended: Option<bool>,
    /// Why, recorded with the change (and kept as the suspension's reason).
    pub reason: Option<String>,
    /// Lift the spending and the user's rate limits until then (`Some(None)`: end it).
    pub exempt_until_us: Option<Option<i64>>,
    /// Who makes the change: the key id.
    pub set_by: String,
    /// When.
    pub at_us: i64,
}

/// An account's admin overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOverrides {
    /// The account's user.
    pub user_id: String,
    /// The overdraft of each currency that has one.
    pub overdrafts: std::collections::BTreeMap<String, Nanos>,
    /// Whether it is suspended (not active).
    pub suspended: bool,
    /// Why, as the admin who suspended it said.
    pub suspended_reason: Option<String>,
    /// Until when its limits are lifted.
    pub exempt_until_us: Option<i64>,
}

/// One entry of an account's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountAuditEntry {
    /// Its id.
    pub id: String,
    /// `overdraft`, `suspend`, `resume` or `exempt`.
    pub action: String,
    /// The change.
    pub detail: Value,
    /// Who made it.
    pub set_by: String,
    /// When.
    pub created_us: i64,
}

/// One key's or one user's own rate limits, replacing its plan's where set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateOverride {
    /// A key or a user.
    pub kind: RateKind,
    /// The key id or user id.
    pub subject: String,
    /// Its own limits (None: the plan's).
    pub limits: Limits,
    /// Who set them: the key id, or `operator:` and the key id.
    pub set_by: String,
    /// When.
    pub updated_us: i64,
}

/// One rate limit as a decision weighed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateState {
    /// Who it counts.
    pub kind: RateKind,
    /// The key id, user id or IP address.
    pub subject: String,
    /// Its limits (the plan's, or the subject's own where set).
    pub limits: Limits,
    /// What counts against them, after this call when it was allowed.
    pub used: Counts,
    /// The limit this call would pass, when it would.
    pub exceeded: Option<Exceeded>,
}

/// The answer to one `authorize` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// None when allowed.
    pub refusal: Option<Refusal>,
    /// The hold placed, when asked for and allowed.
    pub hold_id: Option<String>,
    /// When it expires.
    pub hold_expires_us: Option<i64>,
    /// The quota.
    pub quota: QuotaState,
    /// The account, when a user was named.
    pub account: Option<AccountState>,
    /// The rate limits weighed (only subjects with a limit).
    pub rates: Vec<RateState>,
}
