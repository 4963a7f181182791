//! The operations of [`SqlStore`], one module per family; this file wires them to the trait.

mod alerts;
mod authorize;
mod billing;
mod charges;
mod conversations;
mod export;
mod pg_append;
mod plans;
mod prices;
mod read;
mod receipts;
mod retention;
mod retention_sql;
mod rows;
mod sql;
mod sqlite_append;
mod sqlite_read;
mod tenants;
mod transparency;
mod webhooks;

pub(crate) use sqlite_append::SqliteWriter;
pub(crate) use sqlite_read::SqliteReader;

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use tollgate_core::PriceEntry;
use tollgate_receipts::merkle::{Needs, Nodes};
use tollgate_receipts::Hash;
use uuid::Uuid;

use crate::db::{Db, Dialect};
use crate::exports::{ExportPage, ExportSpan, ExportedEvent};
use crate::model::*;
use crate::plans::{Plan, PlanChange, PlanSeed};
use crate::retention::{ArchiveRecord, RetentionOptions, RetentionPolicy, RetentionReport};
use crate::webhooks::*;
use crate::{SqlStore, Store, StoreError};

/// Starts a write transaction. SQLite's is `IMMEDIATE`, taking the write lock up front, so a
/// transaction that reads before it writes can never fail to upgrade its lock.
pub(crate) async fn begin_write(db: &Db) -> Result<Transaction<'static, Any>, StoreError> {
    Ok(match db.dialect {
        Dialect::Sqlite => db.writer.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => db.writer.begin().await?,
    })
}

/// SQL written with `?N` placeholders, as the engine takes them (sqlx's `Any` driver passes
/// SQL through): PostgreSQL's `$N`.
pub(crate) fn numbered(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Postgres => text.replace('?', "$"),
        Dialect::Sqlite => text.to_string(),
    }
}

/// Parses a UUID read from a TEXT column.
pub(crate) fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invariant(format!("'{text}' is not a UUID")))
}

/// Parses a JSON object read from a TEXT column (NULL is the empty object).
pub(crate) fn json_object(text: Option<String>) -> serde_json::Map<String, serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Parses any JSON value read from a TEXT column.
pub(crate) fn json_value(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

#[async_trait]
impl Store for SqlStore {
    fn dialect(&self) -> Dialect {
        self.db.dialect
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.db.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.db.close().await;
    }

    async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        tenants::create_tenant(&self.db, name).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        tenants::list_tenants(&self.db).await
    }

    async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
        tenants::find_tenant(&self.db, id_or_name).await
    }

    async fn create_key(&self, key: NewApiKey) -> Result<ApiKeyInfo, StoreError> {
        tenants::create_key(&self.db, key).await
    }

    async fn list_keys(&self, tenant_id: Option<&str>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        tenants::list_keys(&self.db, tenant_id).await
    }

    async fn revoke_key(
        &self,
        key_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<ApiKeyInfo, StoreError> {
        tenants::revoke_key(&self.db, key_id, tenant_id).await
    }

    async fn grant_operator(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
        tenants::grant_operator(&self.db, key_id).await
    }

    async fn authenticate(&self, key_hash: &str) -> Result<Option<ApiKeyInfo>, StoreError> {
        tenants::authenticate(&self.db, key_hash).await
    }

    async fn bootstrap(
        &self,
        tenant_name: &str,
        key: NewApiKey,
    ) -> Result<Option<(Tenant, ApiKeyInfo)>, StoreError> {
        tenants::bootstrap(&self.db, tenant_name, key).await
    }

    async fn import_prices(&self, entries: &[PriceEntry]) -> Result<usize, StoreError> {
        prices::import_prices(&self.db, entries).await
    }

    async fn load_prices(&self) -> Result<Vec<PriceEntry>, StoreError> {
        prices::load_prices(&self.db).await
    }

    async fn append_usage(&self, items: &[AppendItem]) -> Result<Vec<Recorded>, StoreError> {
        match &self.sqlite_writer {
            Some(writer) => writer.append(items),
            None => match &self.db.pg {
                Some(pool) => pg_append::append_usage(pool, items).await,
                None => Err(StoreError::Invariant("no writer for this engine".into())),
            },
        }
    }

    async fn usage_rows(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        read::usage_rows(
            &self.db,
            self.sqlite_reader.as_deref(),
            tenant_id,
            start_us,
            end_us,
        )
        .await
    }

    async fn monthly_rows(&self, tenant_id: &str, month: i64) -> Result<Vec<UsageRow>, StoreError> {
        export::monthly_rows(&self.db, self.sqlite_reader.as_deref(), tenant_id, month).await
    }

    async fn export_span(
        &self,
        tenant_id: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<ExportSpan, StoreError> {
        export::export_span(&self.db, tenant_id, start_us, end_us).await
    }

    async fn export_page(
        &self,
        tenant_id: &str,
        page: &ExportPage,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        export::export_page(&self.db, tenant_id, page).await
    }

    async fn log_entries(
        &self,
        tenant_id: &str,
        start_seq: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        read::log_entries(&self.db, tenant_id, start_seq, limit).await
    }

    async fn list_events(
        &self,
        tenant_id: &str,
        filter: &LogFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::list_events(&self.db, tenant_id, filter, limit, offset).await
    }

    async fn list_conversations(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Conversation>, StoreError> {
        conversations::list_conversations(&self.db, tenant_id, limit, offset).await
    }

    async fn get_conversation(
        &self,
        tenant_id: &str,
        id: Uuid,
    ) -> Result<Option<Conversation>, StoreError> {
        conversations::get_conversation(&self.db, tenant_id, id).await
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<Message>>, StoreError> {
        conversations::list_messages(&self.db, tenant_id, id, limit, offset).await
    }

    async fn find_log_entry(
        &self,
        tenant_id: &str,
        log_id: Uuid,
    ) -> Result<Option<LogEntry>, StoreError> {
        transparency::find_log_entry(&self.db, tenant_id, &log_id.to_string()).await
    }

    async fn log_nodes(
        &self,
        tenant_id: &str,
        size: i64,
        needs: &Needs,
    ) -> Result<Nodes, StoreError> {
        transparency::log_nodes(&self.db, tenant_id, size, needs).await
    }

    async fn extend_log_tiles(
        &self,
        tenant_id: &str,
        size: i64,
        known_start: i64,
        known: &[Hash],
    ) -> Result<(), StoreError> {
        transparency::extend_tiles(&self.db, tenant_id, size, known_start, known).await
    }

    async fn save_checkpoint(&self, cp: &StoredCheckpoint) -> Result<StoredCheckpoint, StoreError> {
        transparency::save_checkpoint(&self.db, cp).await
    }

    async fn checkpoint(
        &self,
        tenant_id: &str,
        size: Option<i64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        transparency::checkpoint_at(&self.db, tenant_id, size).await
    }

    async fn register_signing_key(
        &self,
        key_id: &str,
        public_key: &str,
    ) -> Result<SigningKeyRecord, StoreError> {
        transparency::register_signing_key(&self.db, key_id, public_key).await
    }

    async fn retire_signing_key(&self, key_id: &str) -> Result<(), StoreError> {
        transparency::retire_signing_key(&self.db, key_id).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        transparency::signing_keys(&self.db).await
    }

    async fn select_logs(
        &self,
        tenant_id: &str,
        selection: &Selection,
        opts: SelectOptions,
    ) -> Result<SelectedLogs, StoreError> {
        receipts::select_logs(
            &self.db,
            self.sqlite_reader.as_deref(),
            tenant_id,
            selection,
            opts,
        )
        .await
    }

    async fn insert_receipt(&self, receipt: &NewReceipt) -> Result<(), StoreError> {
        receipts::insert_receipt(&self.db, receipt).await
    }

    async fn list_receipts(
        &self,
        tenant_id: &str,
        tag: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredReceipt>, i64), StoreError> {
        receipts::list_receipts(&self.db, tenant_id, tag, limit, offset).await
    }

    async fn get_receipt(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        receipts::get_receipt(&self.db, tenant_id, receipt_id).await
    }

    async fn receipt_logs(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<Vec<ReceiptLog>>, StoreError> {
        receipts::receipt_logs(&self.db, tenant_id, receipt_id, limit, offset).await
    }

    async fn receipt_index(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        receipts::receipt_index(&self.db, tenant_id, receipt_id, seq).await
    }

    async fn receipt_nodes(
        &self,
        tenant_id: &str,
        receipt_id: &str,
        needs: &Needs,
    ) -> Result<Option<Nodes>, StoreError> {
        receipts::receipt_nodes(&self.db, tenant_id, receipt_id, needs).await
    }

    async fn receipt_leaves(
        &self,
        tenant_id: &str,
        receipt_id: &str,
    ) -> Result<Option<Vec<Hash>>, StoreError> {
        receipts::receipt_leaves(&self.db, tenant_id, receipt_id).await
    }

    async fn uncertified(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        receipts::uncertified(&self.db, tenant_id, limit, offset).await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        plans::list(&self.db).await
    }

    async fn put_plan(
        &self,
        name: &str,
        monthly_requests: Option<i64>,
    ) -> Result<(Plan, bool), StoreError> {
        plans::put(&self.db, name, monthly_requests).await
    }

    async fn seed_plans(&self, seeds: &[PlanSeed]) -> Result<Vec<Plan>, StoreError> {
        plans::seed(&self.db, seeds).await
    }

    async fn delete_plan(&self, name: &str, default_plan: &str) -> Result<bool, StoreError> {
        plans::delete(&self.db, name, default_plan).await
    }

    async fn set_plan(
        &self,
        tenant_id: &str,
        plan: Option<&str>,
        default_plan: &str,
        month: i64,
    ) -> Result<PlanChange, StoreError> {
        plans::set_tenant_plan(&self.db, tenant_id, plan, default_plan, month).await
    }

    async fn quota(
        &self,
        tenant_id: &str,
        default_plan: &str,
        month: i64,
    ) -> Result<Option<QuotaState>, StoreError> {
        plans::quota(&self.db, tenant_id, default_plan, month).await
    }

    async fn account(&self, tenant_id: &str, user_id: &str) -> Result<Option<Account>, StoreError> {
        billing::account(&self.db, tenant_id, user_id).await
    }

    async fn post_credit(
        &self,
        credit: &NewCredit,
        defaults: &AccountDefaults,
    ) -> Result<(LedgerEntry, bool), StoreError> {
        billing::post_credit(&self.db, credit, defaults).await
    }

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

    async fn update_account(
        &self,
        tenant_id: &str,
        user_id: &str,
        settings: &AccountSettings,
        defaults: &AccountDefaults,
    ) -> Result<Account, StoreError> {
        billing::update_settings(&self.db, tenant_id, user_id, settings, defaults).await
    }

    async fn audit(&self) -> Result<AuditReport, StoreError> {
        billing::audit(&self.db).await
    }

    async fn authorize(
        &self,
        requests: &[AuthorizeRequest],
        default_plan: &str,
        defaults: &AccountDefaults,
        now_us: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        match (&self.sqlite_writer, &self.db.pg) {
            (Some(writer), _) => writer.authorize(requests, default_plan, defaults, now_us),
            (None, Some(pool)) => {
                pg_append::authorize(pool, requests, default_plan, defaults, now_us).await
            }
            (None, None) => Err(StoreError::Invariant("no writer for this engine".into())),
        }
    }

    async fn expire_holds(&self, now_us: i64, limit: i64) -> Result<usize, StoreError> {
        authorize::expire_holds(&self.db, now_us, limit).await
    }

    async fn open_holds(&self) -> Result<i64, StoreError> {
        authorize::open_holds(&self.db).await
    }

    async fn release_hold(
        &self,
        tenant_id: &str,
        hold_id: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        authorize::release_hold(&self.db, tenant_id, hold_id, now_us).await
    }

    async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        opts: &RetentionOptions,
        now_us: i64,
    ) -> Result<RetentionReport, StoreError> {
        retention::run(&self.db, policy, opts, now_us).await
    }

    async fn archives(&self, tenant_id: &str) -> Result<Vec<ArchiveRecord>, StoreError> {
        retention::archives(&self.db, tenant_id).await
    }

    async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook, StoreError> {
        webhooks::create(&self.db, webhook).await
    }

    async fn list_webhooks(&self, tenant_id: &str) -> Result<Vec<Webhook>, StoreError> {
        webhooks::list(&self.db, tenant_id).await
    }

    async fn get_webhook(&self, tenant_id: &str, id: &str) -> Result<Option<Webhook>, StoreError> {
        webhooks::get(&self.db, tenant_id, id).await
    }

    async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        webhooks::delete(&self.db, tenant_id, id).await
    }

    async fn webhook_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Option<(Vec<Delivery>, i64)>, StoreError> {
        webhooks::deliveries(&self.db, tenant_id, endpoint_id, limit, offset).await
    }

    async fn raise_alerts(&self, alerts: &[NewAlert]) -> Result<usize, StoreError> {
        let mut tx = begin_write(&self.db).await?;
        let n = webhooks::raise_in(&mut tx, self.db.dialect, alerts).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn scan_quotas(&self, default_plan: &str, now_us: i64) -> Result<usize, StoreError> {
        webhooks::scan_quotas(&self.db, default_plan, now_us).await
    }

    async fn dispatch_alerts(&self, limit: i64, now_us: i64) -> Result<usize, StoreError> {
        webhooks::dispatch(&self.db, limit, now_us).await
    }

    async fn claim_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        webhooks::claim(&self.db, now_us, lease_until_us, limit).await
    }

    async fn finish_delivery(
        &self,
        claim: &DueDelivery,
        attempt: &Attempt,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        webhooks::finish(&self.db, claim, attempt, now_us).await
    }
}
