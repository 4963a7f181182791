//! The values that cross the [`Store`](crate::Store) boundary. No sqlx type appears here.

use serde_json::{Map, Value};
use tollgate_core::{Currency, EventFlags, Nanos, TokenCounts, UsageEvent};
use uuid::Uuid;

/// A tenant: a project or organisation whose data is isolated from every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `tnt_…`
    pub id: String,
    /// Unique, human-chosen name.
    pub name: String,
    /// Creation time.
    pub created_us: i64,
    /// Number of events in the tenant's log.
    pub log_size: i64,
    /// Its plan; None means the configured default plan.
    pub plan: Option<String>,
}

/// What a tenant API key may do within its own tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Log usage and authorize calls.
    Ingest,
    /// Read stats, logs, receipts and balances.
    Read,
    /// Change the tenant's own settings: account limits, webhooks.
    Admin,
    /// Move the tenant's money: top-ups, refunds, adjustments, account limits.
    Billing,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Admin, Scope::Billing];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
            Scope::Billing => "billing",
        }
    }

    /// Reads a scope name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name.trim())
    }

    /// Reads a comma-separated list, refusing unknown names.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| {
                if name == "operator" {
                    "operator is not a scope but a role held by keys created as operator keys \
                     (`tollgate keys create --operator`)"
                        .to_string()
                } else {
                    format!("unknown scope '{name}' (known: ingest, read, admin, billing)")
                }
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("a key needs at least one scope".to_string());
        }
        scopes.sort();
        Ok(scopes)
    }

    /// Joins scopes for storage.
    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Who a key acts for. Stored in a column of its own, apart from the scopes, so that no list
/// of scopes (which tenant admins choose and read) can carry the deployment-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// A tenant key: its scopes, within its own tenant.
    Tenant,
    /// An operator key: everything, in any tenant (`X-Tenant-Id`), plus plans and tenants.
    /// Only a key created as one, or granted the role explicitly, holds it.
    Operator,
}

impl KeyRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Tenant => "tenant",
            KeyRole::Operator => "operator",
        }
    }

    /// Reads a stored role.
    pub fn parse(name: &str) -> Option<KeyRole> {
        match name {
            "tenant" => Some(KeyRole::Tenant),
            "operator" => Some(KeyRole::Operator),
            _ => None,
        }
    }
}

/// A key to create. The caller generates the secret and passes only its hash.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `key_…`
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// SHA-256 hex of the secret.
    pub key_hash: String,
    /// The first characters of the secret, for listings.
    pub prefix: String,
    /// Optional label.
    pub name: Option<String>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Tenant or operator key.
    pub role: KeyRole,
}

/// A key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// `key_…`
    pub id: String,
    /// Owning tenant id.
    pub tenant_id: String,
    /// Owning tenant name.
    pub tenant_name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// Optional label.
    pub name: Option<String>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Tenant or operator key.
    pub role: KeyRole,
    /// Creation time.
    pub created_us: i64,
    /// Revocation time, if revoked.
    pub revoked_us: Option<i64>,
}

/// How a retried or repeated call is recognised, so that it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// Nothing identifies repeats: every item is a new call.
    None,
    /// The client's request id (`request_id`), unique per tenant.
    RequestId(String),
    /// The llmring client's second post of a call it already sent to
    /// `/api/v1/conversations/log`: the usage log naming that conversation is the same call.
    ConversationCall(Uuid),
}

/// A conversation recorded with its call (`POST /api/v1/conversations/log`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    /// Conversation id.
    pub id: Uuid,
    /// Title.
    pub title: Option<String>,
    /// System prompt, if kept.
    pub system_prompt: Option<String>,
    /// Alias or `provider:model`.
    pub model_alias: String,
    /// Temperature.
    pub temperature: f64,
    /// Max tokens.
    pub max_tokens: Option<i64>,
    /// The messages, the assistant's answer last.
    pub messages: Vec<NewMessage>,
    /// The id of the assistant's answer among `messages`.
    pub response_message_id: Uuid,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Message id.
    pub id: Uuid,
    /// Role as sent (`user`, `assistant`, `developer`, ...).
    pub role: String,
    /// Content (a string or a list of parts), or None when the logging level drops it.
    pub content: Option<Value>,
    /// SHA-256 hex of the content, unless the logging level is `none`.
    pub content_hash: Option<String>,
    /// Input tokens (on the answer).
    pub input_tokens: Option<i64>,
    /// Output tokens (on the answer).
    pub output_tokens: Option<i64>,
    /// Tool calls.
    pub tool_calls: Option<Value>,
    /// Tool results.
    pub tool_results: Option<Value>,
    /// Metadata object.
    pub metadata: Map<String, Value>,
    /// Time.
    pub ts_us: i64,
}

/// One call to append.
#[derive(Debug, Clone)]
pub struct AppendItem {
    /// The priced event.
    pub event: UsageEvent,
    /// How repeats are recognised.
    pub dedupe: Dedupe,
    /// The conversation recorded with the call, if any.
    pub conversation: Option<NewConversation>,
    /// Charge the call to its user's billing account (and settle a hold), in the same
    /// transaction that records it; None records it without billing.
    pub charge: Option<Charge>,
}

/// How a recorded call is billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The hold `authorize` placed for this call, settled by it.
    pub hold_id: Option<String>,
    /// What the user's account starts with if this call creates it.
    pub defaults: std::sync::Arc<AccountDefaults>,
    /// Raise `balance.low` when the charge takes the balance below this (None: never).
    pub balance_low: Option<Nanos>,
}

/// What an append did with one item: recorded it, or found it already recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event's log id (the first one's, for a repeat).
    pub log_id: Uuid,
    /// Its position in the tenant's log.
    pub seq: i64,
    /// Its event time.
    pub timestamp_us: i64,
    /// Its cost.
    pub cost: Nanos,
    /// The cost's currency.
    pub currency: Currency,
    /// Its flags.
    pub flags: EventFlags,
    /// The price version it was charged at.
    pub price_version: Option<String>,
    /// The conversation, for conversation calls.
    pub conversation_id: Option<Uuid>,
    /// The assistant message, for conversation calls.
    pub message_id: Option<Uuid>,
    /// True when nothing new was written because the call was already recorded.
    pub duplicate: bool,
}

/// A stored usage event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the tenant's log.
    pub seq: i64,
    /// When it was written.
    pub recorded_us: i64,
    /// The event.
    pub event: UsageEvent,
}

/// Filters of the log listing; every one optional.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Events at or after this instant.
    pub start_us: Option<i64>,
    /// Events at or before this instant.
    pub end_us: Option<i64>,
    /// Exact alias.
    pub alias: Option<String>,
    /// Exact model.
    pub model: Option<String>,
    /// Exact provider.
    pub provider: Option<String>,
    /// Exact origin.
    pub origin: Option<String>,
    /// Exact user.
    pub user_id: Option<String>,
    /// Exact conversation.
    pub conversation_id: Option<Uuid>,
    /// Only unpriced events.
    pub unpriced_only: bool,
}

/// Usage totals for one combination of dimensions on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// Day (days since epoch, UTC).
    pub day: i64,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias ('' when none).
    pub alias: String,
    /// Origin ('' when none).
    pub origin: String,
    /// User ('' when none).
    pub user_id: String,
    /// Currency.
    pub currency: String,
    /// Number of calls.
    pub requests: i64,
    /// Token sums.
    pub tokens: TokenCounts,
    /// Cost sum.
    pub cost: Nanos,
    /// Calls served from a response cache.
    pub cached_responses: i64,
    /// Unpriced calls.
    pub unpriced: i64,
}

/// A conversation as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: String,
    /// Title.
    pub title: Option<String>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// Alias or `provider:model`.
    pub model_alias: String,
    /// Temperature.
    pub temperature: f64,
    /// Max tokens.
    pub max_tokens: Option<i64>,
    /// Number of messages.
    pub message_count: i64,
    /// Input tokens of its calls.
    pub total_input_tokens: i64,
    /// Output tokens of its calls.
    pub total_output_tokens: i64,
    /// Cost of its calls.
    pub total_cost: Nanos,
    /// Currency of the cost.
    pub currency: String,
    /// Created.
    pub created_us: i64,
    /// Updated.
    pub updated_us: i64,
    /// Last message.
    pub last_message_us: Option<i64>,
}

/// A message as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Id.
    pub id: Uuid,
    /// Conversation.
    pub conversation_id: Uuid,
    /// Role.
    pub role: String,
    /// Content, unless the logging level dropped it.
    pub content: Option<Value>,
    /// SHA-256 hex of the content.
    pub content_hash: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Tool calls.
    pub tool_calls: Option<Value>,
    /// Tool results.
    pub tool_results: Option<Value>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Time.
    pub ts_us: i64,
}

/// One entry of a tenant's log: the canonical bytes and their leaf hash, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position.
    pub seq: i64,
    /// RFC 8785 canonical JSON of the event; None once retention archived it (the archive
    /// file holds it; the leaf hash stays).
    pub entry: Option<Vec<u8>>,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
}

/// A run of consecutive log positions, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First position.
    pub start: i64,
    /// One past the last position.
    pub end: i64,
}

impl SeqRange {
    /// How many positions it holds.
    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Compresses ascending, distinct positions into runs.
    pub fn runs(seqs: impl IntoIterator<Item = i64>) -> Vec<SeqRange> {
        let mut out: Vec<SeqRange> = Vec::new();
        for s in seqs {
            match out.last_mut() {
                Some(r) if r.end == s => r.end += 1,
                _ => out.push(SeqRange {
                    start: s,
                    end: s + 1,
                }),
            }
        }
        out
    }
}

/// Which logs a receipt certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every call of one conversation.
    Conversation(Uuid),
    /// Every call whose time is in `[start_us, end_us]`.
    TimeRange {
        /// First instant.
        start_us: i64,
        /// Last instant (inclusive).
        end_us: i64,
    },
    /// These logs (ids of another tenant, or unknown, match nothing).
    LogIds(Vec<Uuid>),
    /// Every log no receipt certifies yet.
    Uncertified,
}

/// What [`Store::select_logs`](crate::Store::select_logs) should gather besides totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectOptions {
    /// Read every selected log's position and leaf hash (generation; a preview needs none).
    pub leaf_hashes: bool,
    /// How many log ids to list, in log order.
    pub inline_ids: usize,
}

/// Totals of the selected logs that share provider, model, alias and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionGroup {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if the calls had one.
    pub alias: Option<String>,
    /// Currency of the costs.
    pub currency: Currency,
    /// Number of logs.
    pub calls: i64,
    /// Token sums.
    pub tokens: TokenCounts,
    /// Cost sum.
    pub cost: Nanos,
    /// Input-side cost sum.
    pub input_cost: Nanos,
}

/// The logs a [`Selection`] matched, read at one size of the tenant's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedLogs {
    /// The log size the selection was made at: every selected log has `seq < log_size`.
    pub log_size: i64,
    /// Number of logs.
    pub count: i64,
    /// Their positions, as ascending runs (filled when leaf hashes were asked for).
    pub ranges: Vec<SeqRange>,
    /// Their leaf hashes in position order (when asked for).
    pub leaf_hashes: Vec<tollgate_receipts::Hash>,
    /// Totals per provider, model, alias and currency, sorted.
    pub groups: Vec<SelectionGroup>,
    /// Distinct conversations, sorted.
    pub conversation_ids: Vec<Uuid>,
    /// The first log ids in position order, at most `inline_ids + 1` (so a caller can tell
    /// whether the list is complete).
    pub log_ids: Vec<Uuid>,
    /// Earliest and latest call time.
    pub first_us: Option<i64>,
    /// Latest call time.
    pub last_us: Option<i64>,
    /// The last log in position order.
    pub newest: Option<LogLabels>,
    /// The distinct profiles the logs recorded, sorted.
    pub profiles: Vec<String>,
    /// The distinct lock digests the logs recorded, sorted; `""` stands for logs that
    /// recorded none.
    pub lock_digests: Vec<String>,
    /// The tenant's receipt version the selection saw (for [`Selection::Uncertified`]).
    pub certified_version: i64,
}

/// Provider, model and alias of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLabels {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if it had one.
    pub alias: Option<String>,
}

/// A receipt to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// Owner.
    pub tenant_id: String,
    /// `rcpt_…`
    pub id: String,
    /// Issue time.
    pub issued_us: i64,
    /// `single` or `batch`.
    pub receipt_type: String,
    /// The key that signed it.
    pub key_id: String,
    /// Number of logs certified.
    pub count: i64,
    /// Merkle root over their leaf hashes.
    pub root: tollgate_receipts::Hash,
    /// Roots of the set tree's complete 256-leaf tiles.
    pub tiles: Vec<tollgate_receipts::Hash>,
    /// Tags.
    pub tags: Vec<String>,
    /// The signed document.
    pub document: String,
    /// The certified positions.
    pub ranges: Vec<SeqRange>,
    /// For "since the last receipt": the receipt version the selection saw; storing fails
    /// with [`StoreError::Stale`](crate::StoreError::Stale) if another receipt came first.
    pub since_version: Option<i64>,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// `rcpt_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Issue time.
    pub issued_us: i64,
    /// The key that signed it.
    pub key_id: String,
    /// Number of logs certified.
    pub count: i64,
    /// Merkle root over their leaf hashes.
    pub root: tollgate_receipts::Hash,
    /// The signed document, as issued.
    pub document: String,
}

/// One log certified by a receipt, with its leaf index in the receipt's set.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptLog {
    /// Leaf index in the receipt's Merkle tree.
    pub index: i64,
    /// The event with its canonical entry (the bytes its leaf hash covers), or what stays of
    /// it once archived.
    pub log: CertifiedLog,
}

/// A log a receipt certifies: live, or archived by retention.
#[derive(Debug, Clone, PartialEq)]
pub enum CertifiedLog {
    /// In the live table.
    Live {
        /// The event.
        event: Box<StoredEvent>,
        /// Its canonical entry.
        entry: Vec<u8>,
    },
    /// Moved to an archive file; its position, id and leaf hash stay.
    Archived {
        /// Position in the tenant's log.
        seq: i64,
        /// The log id.
        log_id: String,
        /// SHA-256(0x00 || entry).
        leaf_hash: Vec<u8>,
        /// The archive holding its entry (`<yyyy-mm>-<first seq>`).
        archive_id: String,
    },
}

/// A signed checkpoint of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Owner.
    pub tenant_id: String,
    /// Log size.
    pub size: i64,
    /// Merkle root at that size.
    pub root: tollgate_receipts::Hash,
    /// The key that signed it.
    pub key_id: String,
    /// The C2SP signed note.
    pub note: String,
    /// When it was signed.
    pub created_us: i64,
}

/// A public key that has signed receipts or checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// `key_…`
    pub key_id: String,
    /// Raw 32-byte Ed25519 key, base64url without padding.
    pub public_key: String,
    /// First use.
    pub created_us: i64,
    /// When a newer key replaced it.
    pub retired_us: Option<i64>,
}

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

/// Flags of a ledger entry (bits of `flags`).
pub mod ledger_flags {
    /// The charge took the day's spend over the daily limit.
    pub const OVER_DAILY_LIMIT: i64 = 1;
    /// The charge took the month's spend over the monthly limit.
    pub const OVER_MONTHLY_LIMIT: i64 = 2;
    /// The charge took the balance below zero.
    pub const NEGATIVE_BALANCE: i64 = 4;
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
}

/// Why `authorize` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant's plan quota for the month is used up.
    QuotaExceeded,
    /// The account is not active.
    AccountDisabled,
    /// The day's spend plus holds plus the estimate would pass the daily limit.
    DailyLimitExceeded,
    /// The month's spend plus holds plus the estimate would pass the monthly limit.
    MonthlyLimitExceeded,
    /// The balance less open holds does not cover the estimate.
    InsufficientBalance,
}

/// The tenant's quota as a decision saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaState {
    /// Plan name.
    pub plan: String,
    /// Monthly requests allowed (None: unlimited).
    pub limit: Option<i64>,
    /// Requests recorded this month.
    pub used: i64,
    /// Requests open holds reserve.
    pub reserved: i64,
    /// The month (yyyymm, UTC).
    pub month: i64,
}

/// An account as a decision saw it (after the decision's own hold, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// User.
    pub user_id: String,
    /// Active.
    pub is_active: bool,
    /// Balance enforced.
    pub billing_enabled: bool,
    /// Currency of the balance below.
    pub currency: Currency,
    /// Balance.
    pub balance: Nanos,
    /// Open holds.
    pub held: Nanos,
    /// Currency of the limits.
    pub limit_currency: Currency,
    /// Daily limit.
    pub daily_limit: Option<Nanos>,
    /// Spent today plus the open holds (which count against both limits until settled).
    pub daily_used: Nanos,
    /// Monthly limit.
    pub monthly_limit: Option<Nanos>,
    /// Spent this month plus the open holds.
    pub monthly_used: Nanos,
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
}
