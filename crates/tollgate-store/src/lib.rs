//! Tollgate's storage: the [`Store`] trait, a set of business operations each run as one
//! transaction, and its implementation for SQLite and PostgreSQL.
//!
//! No driver type crosses the trait. SQLite is reached through rusqlite (one writer thread, a
//! read pool), PostgreSQL through sqlx; the operations are written once against the `db`
//! module's statements and rows, with per-engine migrations (`migrations/{sqlite,postgres}`);
//! where the SQL must differ, [`Dialect`] says so at the call site.
#![forbid(unsafe_code)]

pub mod archive;
pub mod changes;
mod db;
mod error;
mod exports;
pub mod migrate;
mod model;
mod ops;
mod plans;
pub mod retention;
mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use tollgate_core::PriceEntry;
use tollgate_receipts::merkle::{Needs, Nodes};
use tollgate_receipts::Hash;
use uuid::Uuid;

pub use changes::AccountChange;
pub use db::{redact, sqlite_path, ConnectOptions, Db, Dialect};
pub use error::StoreError;
pub use exports::{DimensionMatch, ExportPage, ExportSpan, ExportedEvent};
pub use migrate::MigrationReport;
pub use model::*;
pub use plans::{Plan, PlanChange, PlanPut, PlanSeed, PlanSource, PlanUpdate, Seeded, Seeding};
pub use retention::{
    ArchiveRecord, ArchiveState, RetentionOptions, RetentionPolicy, RetentionReport, RetentionStep,
    TenantRetention, UNCERTIFIED_HINT,
};
pub use webhooks::*;

/// The business operations of Tollgate's storage. Each is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The engine.
    fn dialect(&self) -> Dialect;

    /// Checks that the database answers.
    async fn health(&self) -> Result<(), StoreError>;

    /// Write transactions the database aborted for contention (a deadlock, a serialization
    /// failure, SQLite busy) that this store ran again, since it opened.
    fn contention_retries(&self) -> u64;

    /// How this instance's appends planned on a guess fared, since the store opened.
    fn append_guesses(&self) -> AppendGuesses;

    /// Closes the connections after in-flight work finishes.
    async fn close(&self);

    /// Notices of committed changes to billing accounts (balances, holds, spend, settings),
    /// from this process and, on PostgreSQL, from every instance on the database: a hint to
    /// read the account again (see [`changes`]).
    fn account_changes(&self) -> tokio::sync::broadcast::Receiver<AccountChange>;

    // Tenants and keys.

    /// Creates a tenant; a taken name is a conflict.
    async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError>;
    /// Every tenant, oldest first.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// A tenant by id (`tnt_…`) or by name.
    async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError>;
    /// Stores a new key.
    async fn create_key(&self, key: NewApiKey) -> Result<ApiKeyInfo, StoreError>;
    /// Keys, of one tenant or of all.
    async fn list_keys(&self, tenant_id: Option<&str>) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes a key (of `tenant_id` when given); revoking twice is harmless.
    async fn revoke_key(
        &self,
        key_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<ApiKeyInfo, StoreError>;
    /// Makes a key an operator key: deployment-wide, every scope in every tenant.
    async fn grant_operator(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError>;
    /// The active key with this hash, if any.
    async fn authenticate(&self, key_hash: &str) -> Result<Option<ApiKeyInfo>, StoreError>;
    /// On a database with no tenant at all, creates `tenant_name` and `key` atomically and
    /// returns them; otherwise does nothing and returns None.
    async fn bootstrap(
        &self,
        tenant_name: &str,
        key: NewApiKey,
    ) -> Result<Option<(Tenant, ApiKeyInfo)>, StoreError>;

    // Prices.

    /// Adds prices to the database price book. An entry already there with the same rates is
    /// skipped; one with different rates is a conflict (a price in use never changes; add a
    /// new `effective_from` instead). Returns how many were added.
    async fn import_prices(&self, entries: &[PriceEntry]) -> Result<usize, StoreError>;
    /// Every price in the database.
    async fn load_prices(&self) -> Result<Vec<PriceEntry>, StoreError>;

    // Usage.

    /// Appends calls to their tenants' logs in one transaction: sequence numbers, canonical
    /// entries, rollups, conversations and idempotency. One outcome per item, in order.
    async fn append_usage(&self, items: &[AppendItem]) -> Result<Vec<Recorded>, StoreError>;
    /// As [`Store::append_usage`], for a caller that hands its items over: an engine that
    /// writes on a thread of its own takes them there without copying them.
    async fn append_shared(
        &self,
        items: Arc<Vec<AppendItem>>,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.append_usage(&items).await
    }
    /// Usage totals per day and dimension for `[start_us, end_us]`: whole days from the
    /// rollups, the partial days at either end from the events.
    async fn usage_rows(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UsageRow>, StoreError>;
    /// Usage totals per day and value of the dimension `name` (`kb_id`, or a configured one),
    /// provider, model and currency for `[start_us, end_us]`: whole days from the dimension
    /// rollup, the partial days from the events. Calls without the dimension are not in it.
    async fn dimension_rows(
        &self,
        tenant_id: &str,
        name: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<(String, UsageRow)>, StoreError>;
    /// The tenant's calls of `[start_us, end_us]` by UTC hour of the day and currency, summed
    /// from the events (the rollups are daily).
    async fn usage_by_hour(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<HourUse>, StoreError>;
    /// The monthly rollup of `month` (yyyymm): one row per provider, model and currency, with
    /// `day` the month's first day and the dimensions that rollup does not keep empty.
    async fn monthly_rows(&self, tenant_id: &str, month: i64) -> Result<Vec<UsageRow>, StoreError>;
    /// How many events of `[start_us, end_us]` there are (with the dimension's value, when
    /// one is given), and their first and last positions.
    async fn export_span(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
        dimension: Option<&DimensionMatch>,
    ) -> Result<ExportSpan, StoreError>;
    /// One page of an export, in `seq` order, with each event's canonical entry.
    async fn export_page(
        &self,
        tenant_id: &str,
        page: &ExportPage,
    ) -> Result<Vec<ExportedEvent>, StoreError>;
    /// Canonical entries of a tenant's log from `start_seq`, in order, at most `limit`.
    async fn log_entries(
        &self,
        tenant_id: &str,
        start_seq: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError>;
    /// Events matching `filter`, newest first.
    async fn list_events(
        &self,
        tenant_id: &str,
        filter: &LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The tenant's calls recorded without a price in a range, per provider and model.
    async fn unpriced_models(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UnpricedGroup>, StoreError>;

    /// The tenant's priced LLM calls in a range, per provider, model and service tier, with
    /// their tokens by class: what coverage checks against the prices' own rates.
    async fn priced_models(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UnpricedGroup>, StoreError>;

    /// The tenant's calls a repricing may price: flagged unpriced, not served from a response
    /// cache, no adjustment themselves and none adjusting them yet, with an event time in
    /// `[start_us, end_us)`; in log order after position `after_seq`, at most `limit`.
    async fn reprice_candidates(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    // MCP tool executions (metered ones are appended with their event).

    /// The tenant's MCP tool `tool_id`, with its server's name and its own prices.
    async fn tool_target(
        &self,
        tenant_id: &str,
        tool_id: Uuid,
    ) -> Result<Option<ToolTarget>, StoreError>;

    /// The tenant's tool `tool` of its server named `server`.
    async fn tool_by_name(
        &self,
        tenant_id: &str,
        server: &str,
        tool: &str,
    ) -> Result<Option<ToolTarget>, StoreError>;

    /// Records a tool execution that no usage event meters, once per request id: a repeat
    /// returns the first, with `true`. NotFound when the tool is not the tenant's.
    async fn record_execution(
        &self,
        tenant_id: &str,
        execution: &NewExecution,
    ) -> Result<(Execution, bool), StoreError>;

    /// The execution recorded with `request_id`, metered or not.
    async fn find_execution(
        &self,
        tenant_id: &str,
        request_id: &str,
    ) -> Result<Option<Execution>, StoreError>;

    /// A tool's newest `limit` executions, newest first; None when the tool is not the
    /// tenant's.
    async fn tool_executions(
        &self,
        tenant_id: &str,
        tool_id: Uuid,
        limit: i64,
    ) -> Result<Option<Vec<Execution>>, StoreError>;

    // Conversations.

    /// Conversations, most recently updated first.
    async fn list_conversations(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Conversation>, StoreError>;
    /// One conversation.
    async fn get_conversation(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<Conversation>, StoreError>;
    /// A conversation's messages in order; None when the conversation is not the tenant's.
    async fn list_messages(
        &self,
        tenant_id: &str,
        id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<Message>>, StoreError>;
    /// Opens a conversation with no messages yet (llmring's `POST /api/v1/conversations/`).
    async fn create_conversation(
        &self,
        tenant_id: &str,
        settings: &ConversationSettings,
    ) -> Result<Conversation, StoreError>;
    /// Changes a conversation's settings, under its lock; an empty change returns it as it
    /// is. None when the conversation is not the tenant's.
    async fn update_conversation(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &ConversationChange,
    ) -> Result<Option<Conversation>, StoreError>;
    /// Appends messages after the conversation's last, in order, adding them to its message
    /// count and their tokens to its totals; the messages as stored. None when the
    /// conversation is not the tenant's.
    async fn add_messages(
        &self,
        tenant_id: &str,
        id: Uuid,
        messages: &[NewMessage],
    ) -> Result<Option<Vec<Message>>, StoreError>;
    /// Deletes the tenant's messages older than `before_us` (by message time), keeping their
    /// conversations: each one's message count and last message time are recounted from the
    /// messages left, its token and cost totals (its calls') stay. How many were deleted.
    async fn delete_old_messages(&self, tenant_id: &str, before_us: i64)
        -> Result<u64, StoreError>;

    // The tenant log as a Merkle tree.

    /// One log entry by its id.
    async fn find_log_entry(
        &self,
        tenant_id: &str,
        log_id: Uuid,
    ) -> Result<Option<LogEntry>, StoreError>;
    /// The tile roots and leaf hashes `needs` lists, of the tenant's log at `size` (computing
    /// and storing the roots of complete tiles not stored yet).
    async fn log_nodes(
        &self,
        tenant_id: &str,
        size: i64,
        needs: &Needs,
    ) -> Result<Nodes, StoreError>;
    /// Computes and stores the roots of complete tiles below `size` not stored yet, using the
    /// leaf hashes of positions `known_start..` where given instead of reading them.
    async fn extend_log_tiles(
        &self,
        tenant_id: &str,
        size: i64,
        known_start: i64,
        known: &[Hash],
    ) -> Result<(), StoreError>;
    /// Stores a signed checkpoint unless one of that size exists; returns the stored one.
    async fn save_checkpoint(&self, cp: &StoredCheckpoint) -> Result<StoredCheckpoint, StoreError>;
    /// The checkpoint of that size, or the latest when `size` is None.
    async fn checkpoint(
        &self,
        tenant_id: &str,
        size: Option<i64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;

    // Signing keys (public halves only).

    /// Records a public key the first time it signs; returns its record.
    async fn register_signing_key(
        &self,
        key_id: &str,
        public_key: &str,
    ) -> Result<SigningKeyRecord, StoreError>;
    /// Marks a key retired (replaced by a newer one).
    async fn retire_signing_key(&self, key_id: &str) -> Result<(), StoreError>;
    /// Every key that has signed, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    // Receipts.

    /// The logs a selection matches, with their totals, at the tenant's current log size.
    async fn select_logs(
        &self,
        tenant_id: &str,
        selection: &Selection,
        opts: SelectOptions,
    ) -> Result<SelectedLogs, StoreError>;
    /// Stores a receipt and the ranges it certifies in one transaction.
    async fn insert_receipt(&self, receipt: &NewReceipt) -> Result<(), StoreError>;
    /// Receipts, newest first, optionally with a tag; and how many there are.
    async fn list_receipts(
        &self,
        tenant_id: &str,
        tag: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredReceipt>, i64), StoreError>;
    /// One receipt.
    async fn get_receipt(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, StoreError>;
    /// A page of the logs a receipt certifies, in leaf order; None when it is not the tenant's.
    async fn receipt_logs(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<ReceiptLog>>, StoreError>;
    /// The leaf index of log position `seq` in a receipt's set, if it certifies it.
    async fn receipt_index(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        seq: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// The tile roots and leaf hashes `needs` lists, of a receipt's set tree.
    async fn receipt_nodes(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        needs: &Needs,
    ) -> Result<Option<Nodes>, StoreError>;
    /// Every leaf hash of a receipt's set, in order.
    async fn receipt_leaves(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<Vec<Hash>>, StoreError>;
    /// A page of the logs no receipt certifies, newest first, and how many there are.
    async fn uncertified(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredEvent>, i64), StoreError>;

    // Plans. A tenant with no plan set, or whose plan is missing, is on the default plan, which
    // the database chooses (one answer for every instance), never unlimited.

    /// Every plan, by name, the default plan marked.
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError>;
    /// Adds a plan or changes it (its quota, whether it is the default), as an operator:
    /// what it sets, a server's settings never change.
    async fn put_plan(&self, name: &str, update: &PlanUpdate) -> Result<PlanPut, StoreError>;
    /// At a server's start: applies the settings' plans and default plan (`default`: the plan
    /// the settings name, if any) to what no operator has set, adding plans the database
    /// lacks, and says what it did to each; nothing is written when `default` is not a plan.
    async fn seed_plans(
        &self,
        seeds: &[PlanSeed],
        default: Option<&str>,
    ) -> Result<Seeding, StoreError>;
    /// Deletes a plan; false when there is none by that name. Deleting the default plan or a
    /// plan a tenant is on is a conflict.
    async fn delete_plan(&self, name: &str) -> Result<bool, StoreError>;
    /// Moves a tenant to a plan (None: back to the default plan), checking in the same
    /// transaction that the plan exists, and reads the tenant's quota in `month` (yyyymm).
    async fn set_plan(
        &self,
        tenant_id: &str,
        plan: Option<&str>,
        month: i64,
    ) -> Result<PlanChange, StoreError>;
    /// The tenant's plan and quota, the requests recorded in `month` (yyyymm) and those open
    /// holds reserve, read together; None when there is no such tenant.
    async fn quota(&self, tenant_id: &str, month: i64) -> Result<Option<QuotaState>, StoreError>;

    // Billing accounts and the ledger.
    /// An account, or None if it was never used.
    async fn account(&self, tenant_id: &str, user_id: &str) -> Result<Option<Account>, StoreError>;
    /// A page of the tenant's accounts by user id, each with its balances, spend and open
    /// holds, and how many `filter` selects in all.
    async fn accounts(
        &self,
        tenant_id: &str,
        filter: &AccountFilter,
    ) -> Result<(Vec<ListedAccount>, i64), StoreError>;
    /// Posts a top-up, refund or adjustment with its ledger entry, creating the account with
    /// `defaults` if needed. A repeated Idempotency-Key returns the first entry (and `true`);
    /// the same key with a different request is a conflict.
    async fn post_credit(
        &self,
        credit: &NewCredit,
        defaults: &AccountDefaults,
    ) -> Result<(LedgerEntry, bool), StoreError>;
    /// What the ledger entries naming `provider`'s payment `payment_id` moved, per account
    /// and currency (none: the payment was never posted).
    async fn payment_totals(
        &self,
        tenant_id: &str,
        provider: &str,
        payment_id: &str,
    ) -> Result<Vec<PaymentTotals>, StoreError>;
    /// A page of an account's ledger entries, newest first, and how many `filter` selects.
    async fn ledger(
        &self,
        tenant_id: &str,
        user_id: &str,
        filter: &LedgerFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<LedgerEntry>, i64), StoreError>;
    /// An account's ledger over `[start_us, end_us]` summed for a statement: its opening
    /// balances, its charges by provider and model and its credits one by one. None when the
    /// tenant has no such account.
    async fn statement(
        &self,
        tenant_id: &str,
        user_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Option<StatementBooks>, StoreError>;
    /// Changes an account's settings (creating it with `defaults` first).
    async fn update_account(
        &self,
        tenant_id: &str,
        user_id: &str,
        settings: &AccountSettings,
        defaults: &AccountDefaults,
    ) -> Result<Account, StoreError>;
    /// Checks every balance against the sum of its ledger and its open holds.
    async fn audit(&self) -> Result<AuditReport, StoreError>;
    /// Decides a batch of authorizations in one transaction, placing the holds asked for;
    /// each tenant's plan quota is read in that transaction.
    async fn authorize(
        &self,
        requests: &[AuthorizeRequest],
        defaults: &AccountDefaults,
        now_us: i64,
    ) -> Result<Vec<Decision>, StoreError>;
    /// Releases up to `limit` holds that expired by `now_us`, and forgets the rate-limit
    /// counts of minutes no decision weighs any more; returns how many holds.
    async fn expire_holds(&self, now_us: i64, limit: i64) -> Result<usize, StoreError>;
    /// Holds open now, across every tenant.
    async fn open_holds(&self) -> Result<i64, StoreError>;
    /// Applies an admin's overrides to an account (created if new) and records each change,
    /// with who made it, in the account's audit trail.
    async fn set_account_overrides(
        &self,
        tenant_id: &str,
        user_id: &str,
        change: &OverrideChange,
        defaults: &AccountDefaults,
    ) -> Result<AccountOverrides, StoreError>;
    /// An account's overrides; None when it has never been used.
    async fn account_overrides(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<AccountOverrides>, StoreError>;
    /// An account's audit trail, newest first.
    async fn account_audit(
        &self,
        tenant_id: &str,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<AccountAuditEntry>, StoreError>;
    /// Opens a console session, deleting the sessions that ended before `now_us`.
    async fn open_console_session(
        &self,
        session: &ConsoleSession,
        now_us: i64,
    ) -> Result<(), StoreError>;
    /// The console session whose id hashes to `id_hash`, unless it ended before `now_us`.
    async fn console_session(
        &self,
        id_hash: &str,
        now_us: i64,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a console session (nothing when there is none).
    async fn close_console_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Points a console session at another tenant (an operator's choice).
    async fn switch_console_tenant(&self, id_hash: &str, tenant_id: &str)
        -> Result<(), StoreError>;
    /// The tenant's plan's rate limits.
    async fn plan_rates(&self, tenant_id: &str) -> Result<PlanRates, StoreError>;
    /// The tenant's keys' and users' own rate limits.
    async fn rate_overrides(&self, tenant_id: &str) -> Result<Vec<RateOverride>, StoreError>;
    /// Sets a key's or a user's own rate limits; a key must be the tenant's (NotFound).
    async fn set_rate_override(
        &self,
        tenant_id: &str,
        limits: &RateOverride,
    ) -> Result<(), StoreError>;
    /// Removes a key's or a user's own rate limits; false when it had none.
    async fn delete_rate_override(
        &self,
        tenant_id: &str,
        kind: RateKind,
        subject: &str,
    ) -> Result<bool, StoreError>;
    /// Releases one open hold; false when the tenant has no open hold by that id.
    async fn release_hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
        now_us: i64,
    ) -> Result<bool, StoreError>;

    // Retention.

    /// Runs retention for every tenant, ages measured back from `now_us`: archives old
    /// events to files, deletes old archive files, drops old message content. Not one
    /// transaction: a sequence of steps, each leaving a state the next run finishes (see
    /// `ops::retention`). A tenant whose retention fails is reported; the others still run.
    async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        opts: &RetentionOptions,
        now_us: i64,
    ) -> Result<RetentionReport, StoreError>;
    /// A tenant's archive records, oldest first.
    async fn archives(&self, tenant_id: &str) -> Result<Vec<ArchiveRecord>, StoreError>;
    // Webhooks and alerts.

    /// Stores a webhook endpoint.
    async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook, StoreError>;
    /// A tenant's endpoints, oldest first.
    async fn list_webhooks(&self, tenant_id: &str) -> Result<Vec<Webhook>, StoreError>;
    /// One endpoint of the tenant.
    async fn get_webhook(&self, tenant_id: &str, id: &str) -> Result<Option<Webhook>, StoreError>;
    /// Removes an endpoint and its deliveries; false when the tenant has none by that id.
    async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError>;
    /// A page of an endpoint's delivery log, newest first, with the log's total length;
    /// None when the tenant has no such endpoint.
    async fn webhook_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<(Vec<Delivery>, i64)>, StoreError>;
    /// Raises alerts whose dedupe keys are new; returns how many were.
    async fn raise_alerts(&self, alerts: &[NewAlert]) -> Result<usize, StoreError>;
    /// Raises `quota.threshold` for every subscribed tenant whose recorded requests this month
    /// reached a threshold of its plan; returns how many alerts were new.
    async fn scan_quotas(&self, now_us: i64) -> Result<usize, StoreError>;
    /// Turns up to `limit` new alerts into pending deliveries; returns the alerts handled.
    async fn dispatch_alerts(&self, limit: i64, now_us: i64) -> Result<usize, StoreError>;
    /// Claims up to `limit` due deliveries until `lease_until_us`.
    async fn claim_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records an attempt at a claimed delivery; false (nothing written) when the claim's
    /// lease lapsed and the delivery was claimed again, or it is no longer pending.
    async fn finish_delivery(
        &self,
        claim: &DueDelivery,
        attempt: &Attempt,
        now_us: i64,
    ) -> Result<bool, StoreError>;
    /// Raises `spend.unusual` for users whose spend in the current UTC hour breaks `rule`, in
    /// tenants with an endpoint that wants it or an email recipient; returns how many alerts
    /// were new.
    async fn scan_unusual_spend(
        &self,
        rule: &UnusualSpendRule,
        now_us: i64,
    ) -> Result<usize, StoreError>;

    // Alerts by email.

    /// The addresses the tenant's alerts are emailed to.
    async fn alert_recipients(&self, tenant_id: &str) -> Result<Vec<AlertRecipient>, StoreError>;
    /// Replaces the tenant's alert recipients, recording the key that set them.
    async fn set_alert_recipients(
        &self,
        tenant_id: &str,
        emails: &[String],
        set_by: &str,
        now_us: i64,
    ) -> Result<Vec<AlertRecipient>, StoreError>;
    /// A page of the tenant's email deliveries, newest first, with the log's total length.
    async fn email_deliveries(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<EmailDelivery>, i64), StoreError>;
    /// Claims up to `limit` due email deliveries until `lease_until_us`.
    async fn claim_emails(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: i64,
    ) -> Result<Vec<DueEmail>, StoreError>;
    /// Records an attempt at a claimed email delivery; false (nothing written) when the
    /// claim's lease lapsed and it was claimed again, or it is no longer pending.
    async fn finish_email(
        &self,
        claim: &DueEmail,
        attempt: &Attempt,
        now_us: i64,
    ) -> Result<bool, StoreError>;

    // llmring's MCP registry. Every operation acts within `tenant_id`: another tenant's server,
    // tool, resource or prompt is missing.

    /// Registers an MCP server.
    async fn create_mcp_server(&self, server: &NewMcpServer) -> Result<McpServer, StoreError>;
    /// The tenant's servers, newest first, with that `is_active` (None: all).
    async fn list_mcp_servers(
        &self,
        tenant_id: &str,
        is_active: Option<bool>,
    ) -> Result<Vec<McpServer>, StoreError>;
    /// One server.
    async fn get_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpServer>, StoreError>;
    /// Changes a server (an empty change reads it unchanged); None when there is none.
    async fn update_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &McpServerChange,
        now_us: i64,
    ) -> Result<Option<McpServer>, StoreError>;
    /// Deletes a server with its tools (and their executions), resources and prompts; false
    /// when there is none.
    async fn delete_mcp_server(&self, tenant_id: &str, id: Uuid) -> Result<bool, StoreError>;
    /// Replaces what a server offers with `catalog`, in one transaction: rows are matched by
    /// name (URI for resources) and keep their ids and prices, rows no longer listed become
    /// inactive, a kind the catalog leaves out is untouched, and the server's capabilities
    /// count the active lists. None when there is no such server.
    async fn refresh_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
        catalog: &McpCatalog,
        now_us: i64,
    ) -> Result<Option<McpRefreshed>, StoreError>;
    /// Registers a tool on one of the tenant's servers; None when the server is not the
    /// tenant's; a name the server already has is a conflict.
    async fn create_mcp_tool(&self, tool: &NewMcpTool) -> Result<Option<McpTool>, StoreError>;
    /// Tools matching `filter`, by name.
    async fn list_mcp_tools(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpTool>, StoreError>;
    /// One tool.
    async fn get_mcp_tool(&self, tenant_id: &str, id: Uuid) -> Result<Option<McpTool>, StoreError>;
    /// Changes a tool (its description, schema, status, price); None when there is none.
    async fn update_mcp_tool(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &McpToolChange,
    ) -> Result<Option<McpTool>, StoreError>;
    /// Resources matching `filter`, by URI.
    async fn list_mcp_resources(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpResource>, StoreError>;
    /// One resource.
    async fn get_mcp_resource(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpResource>, StoreError>;
    /// Prompts matching `filter`, by name.
    async fn list_mcp_prompts(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpPrompt>, StoreError>;
    /// One prompt.
    async fn get_mcp_prompt(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpPrompt>, StoreError>;
}

/// Connects to `opts.url` without migrating; fails with [`StoreError::Stale`] naming the
/// migrations this build has that the database lacks. For commands that act on a running
/// deployment's data: changing its schema under servers of the previous version is for
/// `tollgate migrate` (or `serve`) to do, when the operator chooses.
pub async fn open_current(opts: &ConnectOptions) -> Result<Arc<dyn Store>, StoreError> {
    let store = SqlStore::connect(opts).await?;
    let pending = store.pending_migrations().await?;
    if !pending.is_empty() {
        store.close().await;
        return Err(StoreError::Stale(format!(
            "the database needs {} migration(s) this version of Tollgate brings ({}): stop the \
             servers of the previous version and run `tollgate migrate`, or start `tollgate \
             serve`, then run this command again",
            pending.len(),
            pending.join(", ")
        )));
    }
    Ok(Arc::new(store))
}

/// Connects to `opts.url`, applies pending migrations and returns the store.
pub async fn open(opts: &ConnectOptions) -> Result<Arc<dyn Store>, StoreError> {
    let store = SqlStore::connect(opts).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// The [`Store`] over SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    /// Accounts changed by this store's operations, and on PostgreSQL by other instances'.
    changes: Arc<changes::Changes>,
    /// Transactions run again after a contention abort (see `ops::retry`).
    retries: Arc<std::sync::atomic::AtomicU64>,
    /// On PostgreSQL, the log sizes this instance last saw (see `ops::pg_append`).
    log_sizes: Arc<ops::pg_append::LogSizes>,
    /// On PostgreSQL, billing accounts this instance knows exist, with their books as it last
    /// saw them (see `ops::pg_append`).
    known_accounts: Arc<ops::pg_append::KnownAccounts>,
}

impl SqlStore {
    /// Connects without migrating.
    pub async fn connect(opts: &ConnectOptions) -> Result<SqlStore, StoreError> {
        let db = Db::connect(opts).await?;
        Ok(SqlStore {
            changes: Arc::new(changes::Changes::new(db.postgres().cloned())),
            db,
            retries: Arc::default(),
            log_sizes: Arc::default(),
            known_accounts: Arc::default(),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        migrate::run(&self.db).await
    }

    /// The migrations this build would apply, as `version_name` (none: up to date).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        migrate::pending(&self.db).await
    }

    /// Applies pending migrations up to and including `version`.
    pub async fn migrate_up_to(&self, version: i64) -> Result<MigrationReport, StoreError> {
        migrate::run_up_to(&self.db, version).await
    }

    /// Brings the schema up or down to `version` (0: before every migration); see
    /// [`migrate::migrate_to`]. A rollback that would lose data is refused unless `force`.
    pub async fn migrate_to(
        &self,
        version: i64,
        force: bool,
    ) -> Result<MigrationReport, StoreError> {
        migrate::migrate_to(&self.db, version, force).await
    }
}

#[cfg(feature = "testing")]
pub mod testing;
