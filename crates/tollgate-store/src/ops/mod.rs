//! The operations of [`SqlStore`], one module per family; this file wires them to the trait,
//! retrying the transactions contention aborted and opening a tracing span per operation
//! (`store.NAME`, with the tenant and the ids it concerns, never a secret).
//!
//! The operations that change a billing account (an append that charges, a credit, a
//! settings change, a hold placed, released or expired) announce the accounts here, once
//! each operation has committed (`self.changes`, see [`crate::changes`]): an operation added
//! later that changes an account announces it the same way, or live balances miss it until
//! their periodic read.
//!
//! # Lock order
//!
//! Every write transaction takes its row locks in one order, the same on both engines. It
//! matters on PostgreSQL, where the transactions of several instances lock rows of one
//! database; SQLite's `BEGIN IMMEDIATE` takes the whole database at once. A transaction may
//! skip a level but never goes back to an earlier one, and within a level it locks rows
//! sorted by key:
//!
//! 1. **tenant log heads** (`tenants`, `FOR NO KEY UPDATE`), by tenant id: appends only.
//!    Not `FOR UPDATE`, which would conflict with the `KEY SHARE` lock every foreign-key
//!    check of a row referencing the tenant takes (a hold, a ledger entry), and so deadlock
//!    an append against an authorization;
//! 2. **what the head guards**: events, rollups, conversations and messages of that tenant;
//!    the conversation routes (`conversation_writes`) start here, locking the conversation
//!    rows they change by id before writing their messages. Events are only inserted and
//!    rollups written only by appends, under the head: so an append on PostgreSQL writes
//!    them in its one statement with its charges, after locking the levels below, and still
//!    waits for no lock but the head's. The head is the tenant's own row, and a tenant is
//!    never removed, so on PostgreSQL the events carry no foreign key to `tenants`: its
//!    check of every event repeated what the head already holds;
//! 3. **holds** being settled, released or expired, by (tenant, id);
//! 4. **quota rows** (`quota_reservations`), by (tenant, month): authorizations only, which
//!    then count the tenant's open holds; closing a hold never touches them. The tenant's
//!    rate windows (`rate_windows`, see `rate`) are written only by authorizations, under
//!    this lock, so they need none of their own;
//! 5. **accounts**: `billing_accounts` created if missing and `account_balances` locked, by
//!    (tenant, user, currency); an account's own row is updated after its balances;
//! 6. rows that are only inserted or are covered by a lock above, written last: ledger
//!    entries, spend, new holds, alerts.
//!
//! Receipts (`receipt_state`), webhook deliveries (`SKIP LOCKED`), checkpoints and keys take
//! locks no billing transaction takes, nor does the MCP registry (`mcp`), which locks a
//! server's row before its tools, resources or prompts. Plans (see `plans`): plan rows by name, then the one
//! `deployment_settings` row; moving a tenant holds its plan's row (`FOR SHARE`) before the
//! tenant row, and nothing locks a tenant row and then a plan row. An account's
//! `billing_accounts` row is updated by an append (after its balances, under the tenant's
//! head), by a settings change (alone) and by an admin's overrides (after the one balance an
//! overdraft changes): no cycle.
//!
//! A transaction PostgreSQL still aborts as a deadlock or serialization failure wrote
//! nothing and is run again whole ([`retry`]): every write operation below that is one
//! transaction goes through [`retry::retrying`]. Retention (a sequence of steps, each
//! leaving a state the next run finishes) and the webhook leases are not retried; a failed
//! step is picked up by the next run or lease. On SQLite every write runs on the one writer
//! thread, so no transaction of this process waits for another's lock; only another process
//! (a `tollgate migrate`, a backup) can hold it, and the busy timeout already waits for that,
//! so a database still locked after it is unavailable, not retried.

mod account_list;
mod alerts;
mod analytics;
mod authorize;
mod billing;
mod charges;
mod console;
mod conversation_writes;
mod conversations;
mod decode;
mod email;
mod executions;
mod export;
mod leases;
mod mcp;
mod mcp_refresh;
mod mcp_rows;
mod mcp_tools;
mod overrides;
pub(crate) mod pg_append;
mod plan_seed;
mod plans;
mod prices;
mod rate;
mod read;
mod receipts;
mod retention;
mod retention_sql;
pub(crate) mod retry;
mod rows;
mod sqlite_append;
mod sqlite_read;
mod statements;
mod tally;
mod tenants;
mod transparency;
mod unusual;
mod webhooks;

use async_trait::async_trait;
use tollgate_core::PriceEntry;
use tollgate_receipts::merkle::{Needs, Nodes};
use tollgate_receipts::Hash;
use uuid::Uuid;

use crate::db::Dialect;
use crate::exports::{DimensionMatch, ExportPage, ExportSpan, ExportedEvent};
use crate::model::*;
use crate::plans::{Plan, PlanChange, PlanPut, PlanSeed, PlanUpdate, Seeding};
use crate::retention::{ArchiveRecord, RetentionOptions, RetentionPolicy, RetentionReport};
use crate::webhooks::*;
use crate::{SqlStore, Store, StoreError};
use retry::retrying;
use std::sync::Arc;

impl SqlStore {
    /// Appends `items` (see [`Store::append_usage`]); `shared` is the same items when the
    /// caller handed them over, which the SQLite writer thread then takes without a copy.
    async fn append(
        &self,
        items: &[AppendItem],
        shared: Option<&Arc<Vec<AppendItem>>>,
    ) -> Result<Vec<Recorded>, StoreError> {
        let recorded = retrying(&self.retries, "append_usage", || async {
            match (self.db.sqlite(), self.db.postgres()) {
                (Some(sqlite), _) => {
                    let items = match shared {
                        Some(shared) => shared.clone(),
                        None => Arc::new(items.to_vec()),
                    };
                    sqlite
                        .write(move |conn| sqlite_append::append(conn, &items))
                        .await
                }
                (None, Some(pool)) => {
                    pg_append::append_usage(pool, &self.log_sizes, &self.known_accounts, items)
                        .await
                }
                (None, None) => Err(StoreError::Invariant("no writer for this engine".into())),
            }
        })
        .await?;
        // The accounts the new calls were charged to (a repeat charged nothing).
        self.changes
            .announce(items.iter().zip(&recorded).filter_map(|(item, r)| {
                let user = item.event.user_id.as_ref()?;
                (item.charge.is_some() && !r.duplicate)
                    .then(|| (item.event.tenant_id.clone(), user.clone()))
            }));
        Ok(recorded)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn dialect(&self) -> Dialect {
        self.db.dialect
    }

    fn contention_retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn append_guesses(&self) -> AppendGuesses {
        self.log_sizes.counts()
    }

    #[tracing::instrument(name = "store.health", skip_all)]
    async fn health(&self) -> Result<(), StoreError> {
        crate::db::query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }

    async fn close(&self) {
        self.changes.close().await;
        self.db.close().await;
    }

    fn account_changes(&self) -> tokio::sync::broadcast::Receiver<crate::AccountChange> {
        self.changes.subscribe()
    }

    #[tracing::instrument(name = "store.create_tenant", skip_all, fields(name = %name))]
    async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        retrying(&self.retries, "create_tenant", || {
            tenants::create_tenant(&self.db, name)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_tenants", skip_all)]
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        tenants::list_tenants(&self.db).await
    }

    #[tracing::instrument(name = "store.find_tenant", skip_all, fields(tenant = %id_or_name))]
    async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
        tenants::find_tenant(&self.db, id_or_name).await
    }

    #[tracing::instrument(name = "store.create_key", skip_all, fields(tenant = %key.tenant_id))]
    async fn create_key(&self, key: NewApiKey) -> Result<ApiKeyInfo, StoreError> {
        retrying(&self.retries, "create_key", || {
            tenants::create_key(&self.db, key.clone())
        })
        .await
    }

    #[tracing::instrument(name = "store.list_keys", skip_all, fields(tenant = ?tenant_id))]
    async fn list_keys(&self, tenant_id: Option<&str>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        tenants::list_keys(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.revoke_key", skip_all, fields(key_id = %key_id, tenant = ?tenant_id))]
    async fn revoke_key(
        &self,
        key_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<ApiKeyInfo, StoreError> {
        retrying(&self.retries, "revoke_key", || {
            tenants::revoke_key(&self.db, key_id, tenant_id)
        })
        .await
    }

    #[tracing::instrument(name = "store.grant_operator", skip_all, fields(key_id = %key_id))]
    async fn grant_operator(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
        retrying(&self.retries, "grant_operator", || {
            tenants::grant_operator(&self.db, key_id)
        })
        .await
    }

    #[tracing::instrument(name = "store.authenticate", skip_all)]
    async fn authenticate(&self, key_hash: &str) -> Result<Option<ApiKeyInfo>, StoreError> {
        tenants::authenticate(&self.db, key_hash).await
    }

    #[tracing::instrument(name = "store.bootstrap", skip_all)]
    async fn bootstrap(
        &self,
        tenant_name: &str,
        key: NewApiKey,
    ) -> Result<Option<(Tenant, ApiKeyInfo)>, StoreError> {
        retrying(&self.retries, "bootstrap", || {
            tenants::bootstrap(&self.db, tenant_name, key.clone())
        })
        .await
    }

    #[tracing::instrument(name = "store.import_prices", skip_all, fields(entries = entries.len()))]
    async fn import_prices(&self, entries: &[PriceEntry]) -> Result<usize, StoreError> {
        retrying(&self.retries, "import_prices", || {
            prices::import_prices(&self.db, entries)
        })
        .await
    }

    #[tracing::instrument(name = "store.load_prices", skip_all)]
    async fn load_prices(&self) -> Result<Vec<PriceEntry>, StoreError> {
        prices::load_prices(&self.db).await
    }

    #[tracing::instrument(name = "store.append_usage", skip_all, fields(items = items.len()))]
    async fn append_usage(&self, items: &[AppendItem]) -> Result<Vec<Recorded>, StoreError> {
        match self.db.sqlite() {
            // The SQLite writer thread needs items of its own.
            Some(_) => self.append_shared(Arc::new(items.to_vec())).await,
            None => self.append(items, None).await,
        }
    }

    #[tracing::instrument(name = "store.append_usage", skip_all, fields(items = items.len()))]
    async fn append_shared(
        &self,
        items: Arc<Vec<AppendItem>>,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.append(&items, Some(&items)).await
    }

    #[tracing::instrument(name = "store.dimension_rows", skip_all, fields(tenant = %tenant_id))]
    async fn dimension_rows(
        &self,
        tenant_id: &str,
        name: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<(String, UsageRow)>, StoreError> {
        read::dimension_rows(&self.db, tenant_id, name, start_us, end_us).await
    }

    #[tracing::instrument(name = "store.usage_rows", skip_all, fields(tenant = %tenant_id))]
    async fn usage_rows(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        read::usage_rows(&self.db, tenant_id, start_us, end_us).await
    }

    #[tracing::instrument(name = "store.monthly_rows", skip_all, fields(tenant = %tenant_id))]
    async fn monthly_rows(&self, tenant_id: &str, month: i64) -> Result<Vec<UsageRow>, StoreError> {
        export::monthly_rows(&self.db, tenant_id, month).await
    }

    #[tracing::instrument(name = "store.export_span", skip_all, fields(tenant = %tenant_id))]
    async fn export_span(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
        dimension: Option<&DimensionMatch>,
    ) -> Result<ExportSpan, StoreError> {
        export::export_span(&self.db, tenant_id, start_us, end_us, dimension).await
    }

    #[tracing::instrument(name = "store.export_page", skip_all, fields(tenant = %tenant_id))]
    async fn export_page(
        &self,
        tenant_id: &str,
        page: &ExportPage,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        export::export_page(&self.db, tenant_id, page).await
    }

    #[tracing::instrument(name = "store.log_entries", skip_all, fields(tenant = %tenant_id))]
    async fn log_entries(
        &self,
        tenant_id: &str,
        start_seq: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        read::log_entries(&self.db, tenant_id, start_seq, limit).await
    }

    #[tracing::instrument(name = "store.list_events", skip_all, fields(tenant = %tenant_id))]
    async fn list_events(
        &self,
        tenant_id: &str,
        filter: &LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::list_events(&self.db, tenant_id, filter, limit, offset).await
    }

    #[tracing::instrument(name = "store.list_conversations", skip_all, fields(tenant = %tenant_id))]
    async fn list_conversations(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        conversations::list_conversations(&self.db, tenant_id, limit, offset).await
    }

    #[tracing::instrument(name = "store.get_conversation", skip_all, fields(tenant = %tenant_id))]
    async fn get_conversation(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<Conversation>, StoreError> {
        conversations::get_conversation(&self.db, tenant_id, id).await
    }

    #[tracing::instrument(name = "store.unpriced_models", skip_all, fields(tenant = %tenant_id))]
    async fn unpriced_models(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UnpricedGroup>, StoreError> {
        read::model_usage(&self.db, tenant_id, start_us, end_us, true).await
    }

    #[tracing::instrument(name = "store.priced_models", skip_all, fields(tenant = %tenant_id))]
    async fn priced_models(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UnpricedGroup>, StoreError> {
        read::model_usage(&self.db, tenant_id, start_us, end_us, false).await
    }

    #[tracing::instrument(name = "store.reprice_candidates", skip_all, fields(tenant = %tenant_id, after_seq))]
    async fn reprice_candidates(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::reprice_candidates(&self.db, tenant_id, start_us, end_us, after_seq, limit).await
    }

    #[tracing::instrument(name = "store.tool_target", skip_all, fields(tenant = %tenant_id))]
    async fn tool_target(
        &self,
        tenant_id: &str,
        tool_id: Uuid,
    ) -> Result<Option<ToolTarget>, StoreError> {
        executions::tool_target(&self.db, tenant_id, tool_id).await
    }

    #[tracing::instrument(name = "store.tool_by_name", skip_all, fields(tenant = %tenant_id))]
    async fn tool_by_name(
        &self,
        tenant_id: &str,
        server: &str,
        tool: &str,
    ) -> Result<Option<ToolTarget>, StoreError> {
        executions::tool_by_name(&self.db, tenant_id, server, tool).await
    }

    #[tracing::instrument(name = "store.record_execution", skip_all, fields(tenant = %tenant_id))]
    async fn record_execution(
        &self,
        tenant_id: &str,
        execution: &NewExecution,
    ) -> Result<(Execution, bool), StoreError> {
        executions::record_execution(&self.db, tenant_id, execution).await
    }

    #[tracing::instrument(name = "store.find_execution", skip_all, fields(tenant = %tenant_id))]
    async fn find_execution(
        &self,
        tenant_id: &str,
        request_id: &str,
    ) -> Result<Option<Execution>, StoreError> {
        executions::find_execution(&self.db, tenant_id, request_id).await
    }

    #[tracing::instrument(name = "store.tool_executions", skip_all, fields(tenant = %tenant_id))]
    async fn tool_executions(
        &self,
        tenant_id: &str,
        tool_id: Uuid,
        limit: i64,
    ) -> Result<Option<Vec<Execution>>, StoreError> {
        executions::tool_executions(&self.db, tenant_id, tool_id, limit).await
    }

    #[tracing::instrument(name = "store.list_messages", skip_all, fields(tenant = %tenant_id))]
    async fn list_messages(
        &self,
        tenant_id: &str,
        id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        conversations::list_messages(&self.db, tenant_id, id, limit, offset).await
    }

    #[tracing::instrument(name = "store.create_conversation", skip_all, fields(tenant = %tenant_id, conversation = %settings.id))]
    async fn create_conversation(
        &self,
        tenant_id: &str,
        settings: &ConversationSettings,
    ) -> Result<Conversation, StoreError> {
        retrying(&self.retries, "create_conversation", || {
            conversation_writes::create(&self.db, tenant_id, settings)
        })
        .await
    }

    #[tracing::instrument(name = "store.update_conversation", skip_all, fields(tenant = %tenant_id, conversation = %id))]
    async fn update_conversation(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &ConversationChange,
    ) -> Result<Option<Conversation>, StoreError> {
        retrying(&self.retries, "update_conversation", || {
            conversation_writes::update(&self.db, tenant_id, id, change)
        })
        .await
    }

    #[tracing::instrument(name = "store.add_messages", skip_all, fields(tenant = %tenant_id, conversation = %id, messages = messages.len()))]
    async fn add_messages(
        &self,
        tenant_id: &str,
        id: Uuid,
        messages: &[NewMessage],
    ) -> Result<Option<Vec<Message>>, StoreError> {
        retrying(&self.retries, "add_messages", || {
            conversation_writes::add_messages(&self.db, tenant_id, id, messages)
        })
        .await
    }

    #[tracing::instrument(name = "store.delete_old_messages", skip_all, fields(tenant = %tenant_id, before_us))]
    async fn delete_old_messages(
        &self,
        tenant_id: &str,
        before_us: i64,
    ) -> Result<u64, StoreError> {
        retrying(&self.retries, "delete_old_messages", || {
            conversation_writes::delete_old_messages(&self.db, tenant_id, before_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.find_log_entry", skip_all, fields(tenant = %tenant_id))]
    async fn find_log_entry(
        &self,
        tenant_id: &str,
        log_id: Uuid,
    ) -> Result<Option<LogEntry>, StoreError> {
        transparency::find_log_entry(&self.db, tenant_id, &log_id.to_string()).await
    }

    #[tracing::instrument(name = "store.log_nodes", skip_all, fields(tenant = %tenant_id))]
    async fn log_nodes(
        &self,
        tenant_id: &str,
        size: i64,
        needs: &Needs,
    ) -> Result<Nodes, StoreError> {
        transparency::log_nodes(&self.db, tenant_id, size, needs).await
    }

    #[tracing::instrument(name = "store.extend_log_tiles", skip_all, fields(tenant = %tenant_id, known = known.len()))]
    async fn extend_log_tiles(
        &self,
        tenant_id: &str,
        size: i64,
        known_start: i64,
        known: &[Hash],
    ) -> Result<(), StoreError> {
        retrying(&self.retries, "extend_log_tiles", || {
            transparency::extend_tiles(&self.db, tenant_id, size, known_start, known)
        })
        .await
    }

    #[tracing::instrument(name = "store.save_checkpoint", skip_all, fields(tenant = %cp.tenant_id, size = cp.size))]
    async fn save_checkpoint(&self, cp: &StoredCheckpoint) -> Result<StoredCheckpoint, StoreError> {
        retrying(&self.retries, "save_checkpoint", || {
            transparency::save_checkpoint(&self.db, cp)
        })
        .await
    }

    #[tracing::instrument(name = "store.checkpoint", skip_all, fields(tenant = %tenant_id))]
    async fn checkpoint(
        &self,
        tenant_id: &str,
        size: Option<i64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        transparency::checkpoint_at(&self.db, tenant_id, size).await
    }

    #[tracing::instrument(name = "store.register_signing_key", skip_all, fields(key_id = %key_id))]
    async fn register_signing_key(
        &self,
        key_id: &str,
        public_key: &str,
    ) -> Result<SigningKeyRecord, StoreError> {
        retrying(&self.retries, "register_signing_key", || {
            transparency::register_signing_key(&self.db, key_id, public_key)
        })
        .await
    }

    #[tracing::instrument(name = "store.retire_signing_key", skip_all, fields(key_id = %key_id))]
    async fn retire_signing_key(&self, key_id: &str) -> Result<(), StoreError> {
        retrying(&self.retries, "retire_signing_key", || {
            transparency::retire_signing_key(&self.db, key_id)
        })
        .await
    }

    #[tracing::instrument(name = "store.signing_keys", skip_all)]
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        transparency::signing_keys(&self.db).await
    }

    #[tracing::instrument(name = "store.select_logs", skip_all, fields(tenant = %tenant_id))]
    async fn select_logs(
        &self,
        tenant_id: &str,
        selection: &Selection,
        opts: SelectOptions,
    ) -> Result<SelectedLogs, StoreError> {
        receipts::select_logs(&self.db, tenant_id, selection, opts).await
    }

    #[tracing::instrument(name = "store.insert_receipt", skip_all, fields(tenant = %receipt.tenant_id, receipt = %receipt.id))]
    async fn insert_receipt(&self, receipt: &NewReceipt) -> Result<(), StoreError> {
        retrying(&self.retries, "insert_receipt", || {
            receipts::insert_receipt(&self.db, receipt)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_receipts", skip_all, fields(tenant = %tenant_id))]
    async fn list_receipts(
        &self,
        tenant_id: &str,
        tag: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredReceipt>, i64), StoreError> {
        receipts::list_receipts(&self.db, tenant_id, tag, limit, offset).await
    }

    #[tracing::instrument(name = "store.get_receipt", skip_all, fields(tenant = %tenant_id, receipt = %receipt_id))]
    async fn get_receipt(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        receipts::get_receipt(&self.db, tenant_id, receipt_id).await
    }

    #[tracing::instrument(name = "store.receipt_logs", skip_all, fields(tenant = %tenant_id, receipt = %receipt_id))]
    async fn receipt_logs(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<ReceiptLog>>, StoreError> {
        receipts::receipt_logs(&self.db, tenant_id, receipt_id, limit, offset).await
    }

    #[tracing::instrument(name = "store.receipt_index", skip_all, fields(tenant = %tenant_id, receipt = %receipt_id))]
    async fn receipt_index(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        receipts::receipt_index(&self.db, tenant_id, receipt_id, seq).await
    }

    #[tracing::instrument(name = "store.receipt_nodes", skip_all, fields(tenant = %tenant_id, receipt = %receipt_id))]
    async fn receipt_nodes(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        needs: &Needs,
    ) -> Result<Option<Nodes>, StoreError> {
        receipts::receipt_nodes(&self.db, tenant_id, receipt_id, needs).await
    }

    #[tracing::instrument(name = "store.receipt_leaves", skip_all, fields(tenant = %tenant_id, receipt = %receipt_id))]
    async fn receipt_leaves(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<Vec<Hash>>, StoreError> {
        receipts::receipt_leaves(&self.db, tenant_id, receipt_id).await
    }

    #[tracing::instrument(name = "store.uncertified", skip_all, fields(tenant = %tenant_id))]
    async fn uncertified(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        receipts::uncertified(&self.db, tenant_id, limit, offset).await
    }

    #[tracing::instrument(name = "store.list_plans", skip_all)]
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        plans::list(&self.db).await
    }

    #[tracing::instrument(name = "store.put_plan", skip_all, fields(name = %name))]
    async fn put_plan(&self, name: &str, update: &PlanUpdate) -> Result<PlanPut, StoreError> {
        retrying(&self.retries, "put_plan", || {
            plans::put(&self.db, name, update)
        })
        .await
    }

    #[tracing::instrument(name = "store.seed_plans", skip_all, fields(seeds = seeds.len()))]
    async fn seed_plans(
        &self,
        seeds: &[PlanSeed],
        default: Option<&str>,
    ) -> Result<Seeding, StoreError> {
        retrying(&self.retries, "seed_plans", || {
            plan_seed::seed(&self.db, seeds, default)
        })
        .await
    }

    #[tracing::instrument(name = "store.delete_plan", skip_all, fields(name = %name))]
    async fn delete_plan(&self, name: &str) -> Result<bool, StoreError> {
        retrying(&self.retries, "delete_plan", || {
            plans::delete(&self.db, name)
        })
        .await
    }

    #[tracing::instrument(name = "store.set_plan", skip_all, fields(tenant = %tenant_id))]
    async fn set_plan(
        &self,
        tenant_id: &str,
        plan: Option<&str>,
        month: i64,
    ) -> Result<PlanChange, StoreError> {
        retrying(&self.retries, "set_plan", || {
            plans::set_tenant_plan(&self.db, tenant_id, plan, month)
        })
        .await
    }

    #[tracing::instrument(name = "store.quota", skip_all, fields(tenant = %tenant_id))]
    async fn quota(&self, tenant_id: &str, month: i64) -> Result<Option<QuotaState>, StoreError> {
        plans::quota(&self.db, tenant_id, month).await
    }

    #[tracing::instrument(name = "store.account", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn account(&self, tenant_id: &str, user_id: &str) -> Result<Option<Account>, StoreError> {
        billing::account(&self.db, tenant_id, user_id).await
    }

    #[tracing::instrument(name = "store.accounts", skip_all, fields(tenant = %tenant_id))]
    async fn accounts(
        &self,
        tenant_id: &str,
        filter: &AccountFilter,
    ) -> Result<(Vec<ListedAccount>, i64), StoreError> {
        account_list::accounts(&self.db, tenant_id, filter).await
    }

    #[tracing::instrument(name = "store.post_credit", skip_all, fields(tenant = %credit.tenant_id, user = %credit.user_id))]
    async fn post_credit(
        &self,
        credit: &NewCredit,
        defaults: &AccountDefaults,
    ) -> Result<(LedgerEntry, bool), StoreError> {
        let (entry, replayed) = retrying(&self.retries, "post_credit", || {
            billing::post_credit(&self.db, credit, defaults)
        })
        .await?;
        if !replayed {
            self.changes
                .announce([(credit.tenant_id.clone(), credit.user_id.clone())]);
        }
        Ok((entry, replayed))
    }

    #[tracing::instrument(name = "store.ledger", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn ledger(
        &self,
        tenant_id: &str,
        user_id: &str,
        filter: &LedgerFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<LedgerEntry>, i64), StoreError> {
        billing::ledger(&self.db, tenant_id, user_id, filter, limit, offset).await
    }

    #[tracing::instrument(name = "store.usage_by_hour", skip_all, fields(tenant = %tenant_id))]
    async fn usage_by_hour(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<HourUse>, StoreError> {
        analytics::hours(&self.db, tenant_id, start_us, end_us).await
    }

    #[tracing::instrument(name = "store.statement", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn statement(
        &self,
        tenant_id: &str,
        user_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Option<StatementBooks>, StoreError> {
        statements::statement(&self.db, tenant_id, user_id, start_us, end_us).await
    }

    #[tracing::instrument(name = "store.payment_totals", skip_all, fields(tenant = %tenant_id))]
    async fn payment_totals(
        &self,
        tenant_id: &str,
        provider: &str,
        payment_id: &str,
    ) -> Result<Vec<PaymentTotals>, StoreError> {
        billing::payment_totals(&self.db, tenant_id, provider, payment_id).await
    }

    #[tracing::instrument(name = "store.update_account", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn update_account(
        &self,
        tenant_id: &str,
        user_id: &str,
        settings: &AccountSettings,
        defaults: &AccountDefaults,
    ) -> Result<Account, StoreError> {
        let account = retrying(&self.retries, "update_account", || {
            billing::update_settings(&self.db, tenant_id, user_id, settings, defaults)
        })
        .await?;
        self.changes
            .announce([(tenant_id.to_string(), user_id.to_string())]);
        Ok(account)
    }

    #[tracing::instrument(name = "store.audit", skip_all)]
    async fn audit(&self) -> Result<AuditReport, StoreError> {
        billing::audit(&self.db).await
    }

    #[tracing::instrument(name = "store.authorize", skip_all, fields(requests = requests.len()))]
    async fn authorize(
        &self,
        requests: &[AuthorizeRequest],
        defaults: &AccountDefaults,
        now_us: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        let decisions = retrying(&self.retries, "authorize", || async {
            match (self.db.sqlite(), self.db.postgres()) {
                (Some(sqlite), _) => {
                    let (requests, defaults) = (requests.to_vec(), defaults.clone());
                    sqlite
                        .write(move |conn| {
                            sqlite_append::authorize(conn, &requests, &defaults, now_us)
                        })
                        .await
                }
                (None, Some(pool)) => {
                    let known = &self.known_accounts;
                    pg_append::authorize(pool, known, requests, defaults, now_us).await
                }
                (None, None) => Err(StoreError::Invariant("no writer for this engine".into())),
            }
        })
        .await?;
        // A decision without a hold changes no account.
        self.changes
            .announce(requests.iter().zip(&decisions).filter_map(|(r, d)| {
                d.hold_id.as_ref()?;
                Some((r.tenant_id.clone(), r.user_id.clone()?))
            }));
        Ok(decisions)
    }

    #[tracing::instrument(name = "store.expire_holds", skip_all)]
    async fn expire_holds(&self, now_us: i64, limit: i64) -> Result<usize, StoreError> {
        let (expired, accounts) = retrying(&self.retries, "expire_holds", || {
            authorize::expire_holds(&self.db, now_us, limit)
        })
        .await?;
        self.changes.announce(accounts);
        Ok(expired)
    }

    #[tracing::instrument(name = "store.open_holds", skip_all)]
    async fn open_holds(&self) -> Result<i64, StoreError> {
        authorize::open_holds(&self.db).await
    }

    #[tracing::instrument(name = "store.set_account_overrides", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn set_account_overrides(
        &self,
        tenant_id: &str,
        user_id: &str,
        change: &OverrideChange,
        defaults: &AccountDefaults,
    ) -> Result<AccountOverrides, StoreError> {
        let overrides = retrying(&self.retries, "set_account_overrides", || {
            overrides::set(&self.db, tenant_id, user_id, change, defaults)
        })
        .await?;
        self.changes
            .announce([(tenant_id.to_string(), user_id.to_string())]);
        Ok(overrides)
    }

    #[tracing::instrument(name = "store.account_overrides", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn account_overrides(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<AccountOverrides>, StoreError> {
        overrides::get(&self.db, tenant_id, user_id).await
    }

    #[tracing::instrument(name = "store.account_audit", skip_all, fields(tenant = %tenant_id, user = %user_id))]
    async fn account_audit(
        &self,
        tenant_id: &str,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<AccountAuditEntry>, StoreError> {
        overrides::audit(&self.db, tenant_id, user_id, limit).await
    }

    #[tracing::instrument(name = "store.open_console_session", skip_all, fields(tenant = %session.tenant_id))]
    async fn open_console_session(
        &self,
        session: &ConsoleSession,
        now_us: i64,
    ) -> Result<(), StoreError> {
        retrying(&self.retries, "open_console_session", || {
            console::open(&self.db, session, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.console_session", skip_all)]
    async fn console_session(
        &self,
        id_hash: &str,
        now_us: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        console::get(&self.db, id_hash, now_us).await
    }

    #[tracing::instrument(name = "store.close_console_session", skip_all)]
    async fn close_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        retrying(&self.retries, "close_console_session", || {
            console::close(&self.db, id_hash)
        })
        .await
    }

    #[tracing::instrument(name = "store.switch_console_tenant", skip_all, fields(tenant = %tenant_id))]
    async fn switch_console_tenant(
        &self,
        id_hash: &str,
        tenant_id: &str,
    ) -> Result<(), StoreError> {
        retrying(&self.retries, "switch_console_tenant", || {
            console::switch_tenant(&self.db, id_hash, tenant_id)
        })
        .await
    }

    #[tracing::instrument(name = "store.plan_rates", skip_all, fields(tenant = %tenant_id))]
    async fn plan_rates(&self, tenant_id: &str) -> Result<PlanRates, StoreError> {
        rate::tenant_plan_rates(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.rate_overrides", skip_all, fields(tenant = %tenant_id))]
    async fn rate_overrides(&self, tenant_id: &str) -> Result<Vec<RateOverride>, StoreError> {
        rate::overrides(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.set_rate_override", skip_all, fields(tenant = %tenant_id))]
    async fn set_rate_override(
        &self,
        tenant_id: &str,
        limits: &RateOverride,
    ) -> Result<(), StoreError> {
        retrying(&self.retries, "set_rate_override", || {
            rate::set_override(&self.db, tenant_id, limits)
        })
        .await
    }

    #[tracing::instrument(name = "store.delete_rate_override", skip_all, fields(tenant = %tenant_id))]
    async fn delete_rate_override(
        &self,
        tenant_id: &str,
        kind: RateKind,
        subject: &str,
    ) -> Result<bool, StoreError> {
        retrying(&self.retries, "delete_rate_override", || {
            rate::delete_override(&self.db, tenant_id, kind, subject)
        })
        .await
    }

    #[tracing::instrument(name = "store.release_hold", skip_all, fields(tenant = %tenant_id, hold = %hold_id))]
    async fn release_hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        let released = retrying(&self.retries, "release_hold", || {
            authorize::release_hold(&self.db, tenant_id, hold_id, now_us)
        })
        .await?;
        self.changes.announce(released.clone().flatten());
        Ok(released.is_some())
    }

    #[tracing::instrument(name = "store.run_retention", skip_all)]
    async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        opts: &RetentionOptions,
        now_us: i64,
    ) -> Result<RetentionReport, StoreError> {
        retention::run(&self.db, policy, opts, now_us).await
    }

    #[tracing::instrument(name = "store.archives", skip_all, fields(tenant = %tenant_id))]
    async fn archives(&self, tenant_id: &str) -> Result<Vec<ArchiveRecord>, StoreError> {
        retention::archives(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.create_webhook", skip_all, fields(tenant = %webhook.tenant_id))]
    async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook, StoreError> {
        retrying(&self.retries, "create_webhook", || {
            webhooks::create(&self.db, webhook)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_webhooks", skip_all, fields(tenant = %tenant_id))]
    async fn list_webhooks(&self, tenant_id: &str) -> Result<Vec<Webhook>, StoreError> {
        webhooks::list(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.get_webhook", skip_all, fields(tenant = %tenant_id, id = %id))]
    async fn get_webhook(&self, tenant_id: &str, id: &str) -> Result<Option<Webhook>, StoreError> {
        webhooks::get(&self.db, tenant_id, id).await
    }

    #[tracing::instrument(name = "store.delete_webhook", skip_all, fields(tenant = %tenant_id, id = %id))]
    async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        retrying(&self.retries, "delete_webhook", || {
            webhooks::delete(&self.db, tenant_id, id)
        })
        .await
    }

    #[tracing::instrument(name = "store.webhook_deliveries", skip_all, fields(tenant = %tenant_id))]
    async fn webhook_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<(Vec<Delivery>, i64)>, StoreError> {
        webhooks::deliveries(&self.db, tenant_id, endpoint_id, limit, offset).await
    }

    #[tracing::instrument(name = "store.raise_alerts", skip_all, fields(alerts = alerts.len()))]
    async fn raise_alerts(&self, alerts: &[NewAlert]) -> Result<usize, StoreError> {
        retrying(&self.retries, "raise_alerts", || async {
            let mut tx = self.db.begin_write().await?;
            let n = webhooks::raise_in(&mut tx, self.db.dialect, alerts).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }

    #[tracing::instrument(name = "store.scan_quotas", skip_all)]
    async fn scan_quotas(&self, now_us: i64) -> Result<usize, StoreError> {
        retrying(&self.retries, "scan_quotas", || {
            webhooks::scan_quotas(&self.db, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.dispatch_alerts", skip_all)]
    async fn dispatch_alerts(&self, limit: i64, now_us: i64) -> Result<usize, StoreError> {
        retrying(&self.retries, "dispatch_alerts", || {
            webhooks::dispatch(&self.db, limit, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.claim_deliveries", skip_all)]
    async fn claim_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        retrying(&self.retries, "claim_deliveries", || {
            leases::claim(&self.db, now_us, lease_until_us, limit)
        })
        .await
    }

    #[tracing::instrument(name = "store.finish_delivery", skip_all)]
    async fn finish_delivery(
        &self,
        claim: &DueDelivery,
        attempt: &Attempt,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        retrying(&self.retries, "finish_delivery", || {
            leases::finish(&self.db, claim, attempt, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.scan_unusual_spend", skip_all)]
    async fn scan_unusual_spend(
        &self,
        rule: &UnusualSpendRule,
        now_us: i64,
    ) -> Result<usize, StoreError> {
        retrying(&self.retries, "scan_unusual_spend", || {
            unusual::scan(&self.db, rule, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.alert_recipients", skip_all, fields(tenant = %tenant_id))]
    async fn alert_recipients(&self, tenant_id: &str) -> Result<Vec<AlertRecipient>, StoreError> {
        email::recipients(&self.db, tenant_id).await
    }

    #[tracing::instrument(name = "store.set_alert_recipients", skip_all, fields(tenant = %tenant_id, set_by = %set_by))]
    async fn set_alert_recipients(
        &self,
        tenant_id: &str,
        emails: &[String],
        set_by: &str,
        now_us: i64,
    ) -> Result<Vec<AlertRecipient>, StoreError> {
        retrying(&self.retries, "set_alert_recipients", || {
            email::set_recipients(&self.db, tenant_id, emails, set_by, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.email_deliveries", skip_all, fields(tenant = %tenant_id))]
    async fn email_deliveries(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<EmailDelivery>, i64), StoreError> {
        email::deliveries(&self.db, tenant_id, limit, offset).await
    }

    #[tracing::instrument(name = "store.claim_emails", skip_all)]
    async fn claim_emails(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: i64,
    ) -> Result<Vec<DueEmail>, StoreError> {
        retrying(&self.retries, "claim_emails", || {
            leases::claim(&self.db, now_us, lease_until_us, limit)
        })
        .await
    }

    #[tracing::instrument(name = "store.finish_email", skip_all)]
    async fn finish_email(
        &self,
        claim: &DueEmail,
        attempt: &Attempt,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        retrying(&self.retries, "finish_email", || {
            leases::finish(&self.db, claim, attempt, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.create_mcp_server", skip_all, fields(tenant = %server.tenant_id, server = %server.id))]
    async fn create_mcp_server(&self, server: &NewMcpServer) -> Result<McpServer, StoreError> {
        retrying(&self.retries, "create_mcp_server", || {
            mcp::create_server(&self.db, server)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_mcp_servers", skip_all, fields(tenant = %tenant_id))]
    async fn list_mcp_servers(
        &self,
        tenant_id: &str,
        is_active: Option<bool>,
    ) -> Result<Vec<McpServer>, StoreError> {
        mcp::list_servers(&self.db, tenant_id, is_active).await
    }

    #[tracing::instrument(name = "store.get_mcp_server", skip_all, fields(tenant = %tenant_id, server = %id))]
    async fn get_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpServer>, StoreError> {
        mcp::get_server(&self.db, tenant_id, id).await
    }

    #[tracing::instrument(name = "store.update_mcp_server", skip_all, fields(tenant = %tenant_id, server = %id))]
    async fn update_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &McpServerChange,
        now_us: i64,
    ) -> Result<Option<McpServer>, StoreError> {
        retrying(&self.retries, "update_mcp_server", || {
            mcp::update_server(&self.db, tenant_id, id, change, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.delete_mcp_server", skip_all, fields(tenant = %tenant_id, server = %id))]
    async fn delete_mcp_server(&self, tenant_id: &str, id: Uuid) -> Result<bool, StoreError> {
        retrying(&self.retries, "delete_mcp_server", || {
            mcp::delete_server(&self.db, tenant_id, id)
        })
        .await
    }

    #[tracing::instrument(name = "store.refresh_mcp_server", skip_all, fields(tenant = %tenant_id, server = %id))]
    async fn refresh_mcp_server(
        &self,
        tenant_id: &str,
        id: Uuid,
        catalog: &McpCatalog,
        now_us: i64,
    ) -> Result<Option<McpRefreshed>, StoreError> {
        retrying(&self.retries, "refresh_mcp_server", || {
            mcp_refresh::refresh(&self.db, tenant_id, id, catalog, now_us)
        })
        .await
    }

    #[tracing::instrument(name = "store.create_mcp_tool", skip_all, fields(tenant = %tool.tenant_id, server = %tool.server_id))]
    async fn create_mcp_tool(&self, tool: &NewMcpTool) -> Result<Option<McpTool>, StoreError> {
        retrying(&self.retries, "create_mcp_tool", || {
            mcp_tools::create_tool(&self.db, tool)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_mcp_tools", skip_all, fields(tenant = %tenant_id))]
    async fn list_mcp_tools(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpTool>, StoreError> {
        mcp_tools::list_tools(&self.db, tenant_id, filter).await
    }

    #[tracing::instrument(name = "store.get_mcp_tool", skip_all, fields(tenant = %tenant_id, tool = %id))]
    async fn get_mcp_tool(&self, tenant_id: &str, id: Uuid) -> Result<Option<McpTool>, StoreError> {
        mcp_tools::get_tool(&self.db, tenant_id, id).await
    }

    #[tracing::instrument(name = "store.update_mcp_tool", skip_all, fields(tenant = %tenant_id, tool = %id))]
    async fn update_mcp_tool(
        &self,
        tenant_id: &str,
        id: Uuid,
        change: &McpToolChange,
    ) -> Result<Option<McpTool>, StoreError> {
        retrying(&self.retries, "update_mcp_tool", || {
            mcp_tools::update_tool(&self.db, tenant_id, id, change)
        })
        .await
    }

    #[tracing::instrument(name = "store.list_mcp_resources", skip_all, fields(tenant = %tenant_id))]
    async fn list_mcp_resources(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpResource>, StoreError> {
        mcp::list_resources(&self.db, tenant_id, filter).await
    }

    #[tracing::instrument(name = "store.get_mcp_resource", skip_all, fields(tenant = %tenant_id, resource = %id))]
    async fn get_mcp_resource(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpResource>, StoreError> {
        mcp::get_resource(&self.db, tenant_id, id).await
    }

    #[tracing::instrument(name = "store.list_mcp_prompts", skip_all, fields(tenant = %tenant_id))]
    async fn list_mcp_prompts(
        &self,
        tenant_id: &str,
        filter: &McpFilter,
    ) -> Result<Vec<McpPrompt>, StoreError> {
        mcp::list_prompts(&self.db, tenant_id, filter).await
    }

    #[tracing::instrument(name = "store.get_mcp_prompt", skip_all, fields(tenant = %tenant_id, prompt = %id))]
    async fn get_mcp_prompt(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<McpPrompt>, StoreError> {
        mcp::get_prompt(&self.db, tenant_id, id).await
    }
}
