//! The ingestion transaction on PostgreSQL.
//!
//! For each tenant in the batch (in id order, so that concurrent batches from several
//! instances lock tenants in the same order), in one transaction: lock the tenant's log head
//! row (`FOR NO KEY UPDATE`: this serialises appends per tenant across instances), find repeats
//! (request ids already recorded, the llmring client's second post of a conversation call),
//! assign gap-free sequence numbers, then write events, conversations, messages and rollups
//! with one `INSERT … SELECT FROM UNNEST(arrays)` per table. A fixed statement text per table,
//! whatever the batch size, keeps every statement prepared; the native driver is used because
//! `Any` cannot bind arrays.

use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Connection as _, Postgres, Transaction};
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::rate::{minute_of, Limits};
use tollgate_core::time::{day_of, month_of, now_us};

use super::alerts;
use super::authorize;
use super::charges;
use super::charges::OpenHold;
use super::plans;
use super::rate;
use super::rows::{
    self, by_tenant, finished, AccountStateRow, AccountViewRow, Earlier, CALL_COLUMNS,
    RECORDED_COLUMNS,
};
use crate::db::{row, Arg, FromRow, Row};
use crate::model::{
    AccountDefaults, AppendItem, AuthorizeRequest, Decision, PlanRates, QuotaState, RateKind,
    Recorded,
};
use crate::StoreError;
use tollgate_core::Nanos;

pub(crate) async fn append_usage(
    pool: &PgPool,
    sizes: &LogSizes,
    known: &KnownAccounts,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    if let Some(recorded) = append_unlocked(pool, sizes, items).await? {
        return Ok(recorded);
    }
    let (recorded, heads) = append_locked(pool, known, items).await?;
    sizes.remember(heads.iter().map(|(t, n)| (*t, *n)));
    Ok(recorded)
}

/// The log size this instance last wrote or read for each tenant: a guess at each head,
/// which lets a plain append (see [`append_unlocked`]) write without reading it first.
/// Another instance's appends make a guess stale; the append that finds so takes the
/// locked path, which corrects it.
#[derive(Debug, Default)]
pub(crate) struct LogSizes(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl LogSizes {
    fn guesses<'a>(&self, tenants: impl Iterator<Item = &'a str>) -> Option<Vec<i64>> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tenants.map(|t| known.get(t).copied()).collect()
    }

    fn remember<'a>(&self, sizes: impl Iterator<Item = (&'a str, i64)>) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (tenant, size) in sizes {
            match known.get_mut(tenant) {
                Some(n) => *n = size,
                None => {
                    known.insert(tenant.to_string(), size);
                }
            }
        }
    }

    fn forget<'a>(&self, tenants: impl Iterator<Item = &'a str>) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in tenants {
            known.remove(tenant);
        }
    }
}

/// Billing accounts (with their balance row in a currency) this instance has created or
/// locked. Accounts are never deleted, so a known account needs no creating: a charge or an
/// authorization of known accounts locks them at once, without the two inserts that create
/// missing ones. It is a hint: should a known account be missing after all (a database
/// migrated down and up again), the lock finds fewer rows and the accounts are created then.
/// Kept as hashes, and forgotten whole at [`KnownAccounts::MOST`].
#[derive(Debug, Default)]
pub(crate) struct KnownAccounts(std::sync::Mutex<std::collections::HashSet<u64>>);

impl KnownAccounts {
    /// The most accounts remembered (about 2 MB).
    const MOST: usize = 65_536;

    fn hash(key: &charges::AccountKey) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    fn all<'a>(&self, mut keys: impl Iterator<Item = &'a charges::AccountKey>) -> bool {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        keys.all(|k| known.contains(&Self::hash(k)))
    }

    fn remember<'a>(&self, keys: impl Iterator<Item = &'a charges::AccountKey>) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            if known.len() >= Self::MOST {
                known.clear();
            }
            known.insert(Self::hash(k));
        }
    }
}

/// Appends a batch of plain calls (see [`AppendItem::is_plain`]) in one statement and one round trip, with
/// no transaction around it: the calls are numbered from each tenant's guessed log size,
/// and the statement moves each head from its guess to its new size, writing the events
/// and rollups only when every head was where it was guessed to be. A head that moved (or a
/// tenant with no guess) writes nothing and answers None: the caller takes the locked path.
///
/// The heads are locked first, in the order `lock_heads` locks them (the statement's
/// `locked`, evaluated whole before any head is moved), so appends of one tenant are still
/// serialised across instances and never deadlock. A statement that waited for a lock
/// compares its guess with the head as the append it waited for left it (what `locked`
/// read), not as it was when the statement began.
async fn append_unlocked(
    pool: &PgPool,
    sizes: &LogSizes,
    items: &[AppendItem],
) -> Result<Option<Vec<Recorded>>, StoreError> {
    if items.is_empty() || !items.iter().all(AppendItem::is_plain) {
        return Ok(None);
    }
    let groups = by_tenant(items);
    let Some(guesses) = sizes.guesses(groups.keys().copied()) else {
        return Ok(None);
    };
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut batch = BatchRows::new(now_us());
    let mut heads = Vec::with_capacity(groups.len());
    for ((tenant, indexes), guess) in groups.into_iter().zip(guesses) {
        let rows::Assigned { fresh, size, .. } = rows::assign(
            items,
            &indexes,
            guess,
            &mut Earlier::default(),
            &mut outcomes,
        );
        batch.add(tenant, items, &fresh);
        heads.push((tenant, guess, size));
    }
    let mut all = Combined::guarded();
    batch.insert_into(&mut all)?;
    let mut conn = pool.acquire().await?;
    let written = all.execute_guarded(&mut conn, &heads).await;
    give_back_buffers(&mut conn, items.len());
    if !written? {
        sizes.forget(heads.iter().map(|(t, _, _)| *t));
        return Ok(None);
    }
    sizes.remember(heads.iter().map(|(t, _, size)| (*t, *size)));
    finished(outcomes).map(Some)
}

/// Appends under the log heads' locks, in one transaction: the path for every batch, and
/// the only one for calls that are not plain. Answers the outcomes and each tenant's log
/// size after the append.
async fn append_locked<'a>(
    pool: &PgPool,
    known: &KnownAccounts,
    items: &'a [AppendItem],
) -> Result<(Vec<Recorded>, Vec<(&'a str, i64)>), StoreError> {
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut tx = pool.begin().await?;
    let groups = by_tenant(items);
    // Lock order (see `ops`): every tenant's log head first, in id order; then each tenant's
    // own rows; then the billing rows of the whole batch, level by level.
    let sizes = lock_heads(&mut tx, groups.keys().copied()).await?;
    let recorded_us = now_us();
    let mut batch = BatchRows::new(recorded_us);
    let mut heads = Vec::new();
    let mut unchanged = Vec::new();
    let mut billed = Vec::new();
    for ((tenant, indexes), size) in groups.into_iter().zip(sizes) {
        let (fresh, size) =
            prepare_tenant(&mut tx, tenant, size, items, &indexes, &mut outcomes).await?;
        if fresh.is_empty() {
            unchanged.push((tenant, size));
            continue;
        }
        batch.add(tenant, items, &fresh);
        heads.push((tenant, size));
        billed.extend(fresh);
    }
    // The charges are decided before anything is written, so that they are written with
    // the events: every tenant's events, their rollups, the charges' rows and the new log
    // heads in one round trip.
    let charges = plan_charges(&mut tx, known, items, &billed, recorded_us).await?;
    if !heads.is_empty() {
        let mut all = Combined::default();
        batch.insert_into(&mut all)?;
        if let Some(w) = &charges {
            charge_parts(&mut all, w)?;
        }
        all.execute(&mut tx, &heads).await?;
        give_back_buffers(&mut tx, items.len());
    }
    // Tool executions after their events (rare: one statement each).
    for &(i, _) in &billed {
        if let Some(exec) = &items[i].execution {
            let tenant = items[i].event.tenant_id.as_str();
            let mut insert = crate::db::query(numbered(super::executions::INSERT));
            for a in super::executions::args(tenant, exec, Some(items[i].event.log_id)) {
                insert = insert.bind(a);
            }
            crate::db::bound(&insert).execute(&mut *tx).await?;
        }
    }
    if let Some(w) = &charges {
        settle_and_alert(&mut tx, w, recorded_us).await?;
    }
    tx.commit().await?;
    heads.extend(unchanged);
    Ok((finished(outcomes)?, heads))
}

/// Appends of at least this many calls give back the connection's buffers after their
/// combined statement (see [`give_back_buffers`]).
const LARGE_APPEND: usize = 256;

/// The driver keeps each connection's write buffer at the largest message it has sent: after
/// a combined statement of thousands of calls (megabytes of arrays), every pooled connection
/// would hold that much for good. An append of `calls` from [`LARGE_APPEND`] up shrinks them
/// back; smaller ones keep them, as reallocating would cost more than it saves.
fn give_back_buffers(conn: &mut PgConnection, calls: usize) {
    if calls >= LARGE_APPEND {
        conn.shrink_buffers();
    }
}

/// Locks the log heads of `tenants` (given in byte order, the order every multi-tenant
/// append locks them in) in one statement and reads their sizes, in the same order.
/// `NO KEY UPDATE`, not `UPDATE`: rows that reference a tenant take `KEY SHARE` on it in
/// their foreign-key checks (a hold being placed, a ledger entry), and must not wait for an
/// append, nor an append for them.
async fn lock_heads<'a>(
    tx: &mut Transaction<'static, Postgres>,
    tenants: impl Iterator<Item = &'a str>,
) -> Result<Vec<i64>, StoreError> {
    let tenants: Vec<&str> = tenants.collect();
    let rows = sqlx::query(
        "SELECT id, log_size FROM tenants WHERE id = ANY($1::text[]) \
         ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE",
    )
    .bind(&tenants)
    .fetch_all(&mut **tx)
    .await?;
    let mut found = rows.into_iter().map(Row::from);
    let mut sizes = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        match found.next() {
            Some(row) if row.get::<String>("id")? == tenant => sizes.push(row.get("log_size")?),
            _ => return Err(StoreError::NotFound(format!("tenant {tenant}"))),
        }
    }
    Ok(sizes)
}

/// The events of a batch and their rollups, every tenant's, for one statement: each rollup
/// table's rows of all tenants together.
struct BatchRows {
    recorded_us: i64,
    events: Vec<Vec<Arg>>,
    rollups: Vec<rows::Rollup>,
}

impl BatchRows {
    fn new(recorded_us: i64) -> BatchRows {
        BatchRows {
            recorded_us,
            events: Vec::new(),
            rollups: Vec::new(),
        }
    }

    /// Adds one tenant's fresh calls, as (item, seq).
    fn add(&mut self, tenant: &str, items: &[AppendItem], fresh: &[(usize, i64)]) {
        self.events.extend(
            fresh
                .iter()
                .map(|&(i, seq)| rows::event_row(&items[i], seq, self.recorded_us)),
        );
        for rollup in rows::rollups(tenant, items, fresh) {
            match self.rollups.iter_mut().find(|r| {
                r.table == rollup.table
                    && r.columns == rollup.columns
                    && r.on_conflict == rollup.on_conflict
            }) {
                Some(r) => r.rows.extend(rollup.rows),
                None => self.rollups.push(rollup),
            }
        }
    }

    fn insert_into(self, all: &mut Combined) -> Result<(), StoreError> {
        all.insert("usage_events", rows::EVENT_TABLE_COLUMNS, "", self.events)?;
        for rollup in self.rollups {
            all.insert(
                rollup.table,
                &rollup.columns,
                &rollup.on_conflict,
                rollup.rows,
            )?;
        }
        Ok(())
    }
}

/// Under one tenant's locked log head: finds its repeats, assigns sequence numbers and
/// writes what must precede its events (claimed conversation calls, new conversations and
/// their messages). Returns its fresh calls as (item, seq) and its new log size.
async fn prepare_tenant(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    size: i64,
    items: &[AppendItem],
    indexes: &[usize],
    outcomes: &mut [Option<Recorded>],
) -> Result<(Vec<(usize, i64)>, i64), StoreError> {
    let earlier = &mut earlier(tx, tenant, items, indexes).await?;
    let rows::Assigned {
        fresh,
        size,
        claims,
    } = rows::assign(items, indexes, size, earlier, outcomes);
    for c in claims {
        sqlx::query(
            "UPDATE conversations SET companion_claimed = 1 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(c.to_string())
        .execute(&mut **tx)
        .await?;
    }
    // Conversations and their messages, each in a statement of its own (messages reference
    // their conversation, and sub-statements of one statement cannot see each other's rows).
    for &(i, _) in &fresh {
        if let Some(conv) = &items[i].conversation {
            let mut c = Combined::default();
            c.insert(
                "conversations",
                rows::CONVERSATION_TABLE_COLUMNS,
                "",
                vec![rows::conversation_row(&items[i], conv)],
            )?;
            c.execute(tx, &[]).await?;
            let mut m = Combined::default();
            let messages = (0..)
                .zip(&conv.messages)
                .map(|(p, msg)| rows::message_row(tenant, conv.id, p, msg))
                .collect();
            m.insert("messages", rows::MESSAGE_TABLE_COLUMNS, "", messages)?;
            m.execute(tx, &[]).await?;
        }
    }
    Ok((fresh, size))
}

/// `?N` placeholders as PostgreSQL's `$N`.
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

/// Decides the charges of the fresh calls (see `charges`) from their accounts and holds,
/// locked; None when no call is billed. Accounts [`KnownAccounts`] knows are locked at once,
/// others created first.
async fn plan_charges(
    tx: &mut Transaction<'static, Postgres>,
    known: &KnownAccounts,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
    now: i64,
) -> Result<Option<charges::Writes>, StoreError> {
    let lines = charges::lines(items, fresh);
    if lines.is_empty() {
        return Ok(None);
    }
    let hold_sql = numbered(&format!("{} FOR UPDATE", charges::OPEN_HOLD));
    let mut holds = Vec::new();
    for (tenant, id) in charges::hold_ids(&lines) {
        if let Some(r) = sqlx::query(&hold_sql)
            .bind(&tenant)
            .bind(&id)
            .fetch_optional(&mut **tx)
            .await?
        {
            holds.push(OpenHold::from(decode::<charges::HoldRow>(r)?));
        }
    }
    let accounts = charges::accounts(&lines, &holds);
    let rows = lock_accounts_made(tx, known, &accounts, now).await?;
    let mut views = std::collections::BTreeMap::new();
    for r in &rows {
        views.insert(
            AccountKeyRow::from_row(r)?.into_key(),
            charges::AccountView::from(AccountViewRow::from_row(r)?),
        );
    }
    if views.len() != accounts.len() {
        return Err(StoreError::Invariant("a billed account is missing".into()));
    }
    let limited: Vec<(String, String, String)> = views
        .iter()
        .filter(|(_, v)| v.has_limit())
        .map(|((t, u, _), v)| (t.clone(), u.clone(), v.limit_currency.clone()))
        .collect();
    let spent = periods_used(tx, &limited, now).await?;
    for ((t, u, currency), v) in views.iter_mut() {
        let key = (t.clone(), u.clone(), v.limit_currency.clone());
        if let Some(&(day, month)) = spent.get(&key) {
            (v.daily_used, v.monthly_used) = (day, month);
        }
        // Open holds count against both limits until they are settled.
        if v.limit_currency == *currency {
            v.daily_used += v.held;
            v.monthly_used += v.held;
        }
    }
    charges::plan(&lines, holds, views, now).map(Some)
}

/// Locks and reads `accounts` (see [`lock_accounts`]), creating those that are missing
/// first, unless `known` knows them all: then they are only locked, and only a hint proved
/// wrong creates them after all.
async fn lock_accounts_made(
    tx: &mut Transaction<'static, Postgres>,
    known: &KnownAccounts,
    accounts: &std::collections::BTreeMap<charges::AccountKey, &AccountDefaults>,
    now: i64,
) -> Result<Vec<Row>, StoreError> {
    if known.all(accounts.keys()) {
        let rows = lock_accounts(tx, accounts.keys()).await?;
        if rows.len() == accounts.len() {
            return Ok(rows);
        }
    }
    ensure_accounts(tx, accounts.iter().map(|(k, d)| (k, *d)), now).await?;
    let rows = lock_accounts(tx, accounts.keys()).await?;
    known.remember(accounts.keys());
    Ok(rows)
}

/// Creates the accounts and balance rows that are missing, in two array statements.
async fn ensure_accounts<'a>(
    tx: &mut Transaction<'static, Postgres>,
    accounts: impl Iterator<Item = (&'a charges::AccountKey, &'a AccountDefaults)>,
    now: i64,
) -> Result<(), StoreError> {
    let (mut new_accounts, mut new_balances) = (Vec::new(), Vec::new());
    for (key, defaults) in accounts {
        let [account, balance] = charges::ensure_statements(key, defaults, now);
        new_accounts.push(account.args);
        new_balances.push(balance.args);
    }
    let (columns, arrays) = array_columns(new_accounts)?;
    run_arrays(
        tx,
        &format!(
            "INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
             limit_currency, daily_limit_nanos, monthly_limit_nanos, created_us, updated_us) \
             SELECT k.*, k.created FROM UNNEST({arrays}) AS k(t, u, a, b, c, d, m, created) \
             ON CONFLICT (tenant_id, user_id) DO NOTHING"
        ),
        columns,
    )
    .await?;
    let (columns, arrays) = array_columns(new_balances)?;
    run_arrays(
        tx,
        &format!(
            "INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, \
             held_nanos, spent_nanos) SELECT k.*, 0, 0, 0 FROM UNNEST({arrays}) AS k \
             ON CONFLICT (tenant_id, user_id, currency) DO NOTHING"
        ),
        columns,
    )
    .await
}

row! {
    /// The key of an account row [`lock_accounts`] read.
    struct AccountKeyRow {
        tenant_id: String,
        user_id: String,
        currency: String,
    }
}

impl AccountKeyRow {
    fn into_key(self) -> charges::AccountKey {
        (self.tenant_id, self.user_id, self.currency)
    }
}

/// Locks the balance rows of `keys` (in the keys' order, which callers sort) and reads them
/// with their accounts, one primary-key lookup per key (a join would let the planner scan the
/// table): the columns of [`AccountKeyRow`], [`AccountStateRow`] and [`AccountViewRow`].
async fn lock_accounts<'a>(
    tx: &mut Transaction<'static, Postgres>,
    keys: impl Iterator<Item = &'a charges::AccountKey>,
) -> Result<Vec<Row>, StoreError> {
    let keys: Vec<Vec<Arg>> = keys
        .map(|(t, u, c)| vec![t.clone().into(), u.clone().into(), c.clone().into()])
        .collect();
    let (columns, arrays) = array_columns(keys)?;
    fetch_arrays(
        tx,
        &format!(
            "SELECT x.* FROM UNNEST({arrays}) AS k(t, u, c) \
             CROSS JOIN LATERAL (SELECT b.tenant_id, b.user_id, b.currency, a.is_active, \
               a.billing_enabled, a.limit_currency, a.daily_limit_nanos, a.monthly_limit_nanos, \
               b.balance_nanos, b.held_nanos, b.overdraft_nanos, a.exempt_until_us \
               FROM account_balances b \
               JOIN billing_accounts a ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id \
               WHERE b.tenant_id = k.t AND b.user_id = k.u AND b.currency = k.c \
               FOR UPDATE OF b) x"
        ),
        columns,
    )
    .await
    .map(|rows| rows.into_iter().map(Row::from).collect())
}

row! {
    /// What an account spent in a period (`kind` is `day` or `month`).
    struct SpendRow {
        tenant_id: String,
        user_id: String,
        currency: String,
        kind: String,
        spent_nanos: i64,
    }
}

/// What accounts spent today and this month, by (tenant, user, currency), in the given
/// (limit) currencies; an account with no charge in a period spent 0 in it.
async fn periods_used(
    tx: &mut Transaction<'static, Postgres>,
    keys: &[(String, String, String)],
    now: i64,
) -> Result<std::collections::BTreeMap<(String, String, String), (i64, i64)>, StoreError> {
    let mut spent = std::collections::BTreeMap::new();
    let rows: Vec<Vec<Arg>> = keys
        .iter()
        .map(|(t, u, c)| vec![t.clone().into(), u.clone().into(), c.clone().into()])
        .collect();
    let (columns, arrays) = array_columns(rows)?;
    if columns.is_empty() {
        return Ok(spent);
    }
    let n = columns.len();
    let sql = format!(
        "SELECT s.tenant_id, s.user_id, s.currency, s.kind, s.spent_nanos \
         FROM UNNEST({arrays}) AS k(t, u, c) \
         CROSS JOIN LATERAL (SELECT * FROM account_spend s \
           WHERE s.tenant_id = k.t AND s.user_id = k.u AND s.currency = k.c \
             AND ((s.kind = 'day' AND s.period = ${}) OR (s.kind = 'month' AND s.period = ${}))) s",
        n + 1,
        n + 2
    );
    let mut q = sqlx::query(&sql);
    for c in columns {
        q = c.bind(q);
    }
    let found = q
        .bind(day_of(now))
        .bind(month_of(now))
        .fetch_all(&mut **tx)
        .await?;
    for r in found {
        let SpendRow {
            tenant_id,
            user_id,
            currency,
            kind,
            spent_nanos,
        } = decode(r)?;
        let periods = spent
            .entry((tenant_id, user_id, currency))
            .or_insert((0, 0));
        match kind.as_str() {
            "day" => periods.0 = spent_nanos,
            _ => periods.1 = spent_nanos,
        }
    }
    Ok(spent)
}

/// Decides a batch of authorizations in one transaction (see `authorize`), with one array
/// statement per table whatever the number of accounts.
pub(crate) async fn authorize(
    pool: &PgPool,
    known: &KnownAccounts,
    requests: &[AuthorizeRequest],
    defaults: &AccountDefaults,
    now: i64,
) -> Result<Vec<Decision>, StoreError> {
    let month = month_of(now);
    let mut tx = pool.begin().await?;
    let mut quotas = std::collections::BTreeMap::new();
    let mut plan_rates = std::collections::BTreeMap::new();
    for tenant in authorize::batch_tenants(requests) {
        // Lock the tenant's month first, then read what it decides on in a statement of its
        // own: one that waited for the lock must see what the previous holder committed
        // (under READ COMMITTED a statement's snapshot is taken when it starts).
        sqlx::query(&numbered(authorize::QUOTA_ROW))
            .bind(&tenant)
            .bind(month)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "SELECT month FROM quota_reservations WHERE tenant_id = $1 AND month = $2 \
             FOR UPDATE",
        )
        .bind(&tenant)
        .bind(month)
        .execute(&mut *tx)
        .await?;
        // The plan's rate limits come with its quota: no statement of their own.
        let row = Row::from(
            sqlx::query(&format!(
                "SELECT {}, u.*, {} FROM tenants t {} CROSS JOIN ({}) AS u(used, reserved) \
                 WHERE t.id = $1",
                plans::PLAN_COLUMNS,
                rate::plan_rate_columns(),
                plans::PLAN_JOINS,
                numbered(authorize::QUOTA_USAGE),
            ))
            .bind(&tenant)
            .bind(month)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound("tenant".into()))?,
        );
        plan_rates.insert(tenant.clone(), rate::plan_rates_of(&row)?);
        quotas.insert(tenant, QuotaRow::from_row(&row)?.into_state(month)?);
    }
    let keys: std::collections::BTreeMap<_, _> = authorize::batch_accounts(requests)
        .into_iter()
        .map(|k| (k, defaults))
        .collect();
    let rows = lock_accounts_made(&mut tx, known, &keys, now).await?;
    let mut accounts = std::collections::BTreeMap::new();
    for r in &rows {
        let key = AccountKeyRow::from_row(r)?.into_key();
        let state = AccountStateRow::from_row(r)?.into_state(key.1.clone(), &key.2)?;
        accounts.insert(key, state);
    }
    if accounts.len() != keys.len() {
        return Err(StoreError::Invariant(
            "an authorized account is missing".into(),
        ));
    }
    let limit_keys: Vec<(String, String, String)> = accounts
        .iter()
        .map(|((t, u, _), a)| (t.clone(), u.clone(), a.limit_currency.as_str().to_string()))
        .collect();
    let spent = periods_used(&mut tx, &limit_keys, now).await?;
    for ((t, u, _), a) in accounts.iter_mut() {
        let key = (t.clone(), u.clone(), a.limit_currency.as_str().to_string());
        if let Some(&(day, month)) = spent.get(&key) {
            (a.daily_used, a.monthly_used) = (Nanos(day), Nanos(month));
        }
    }
    // Open holds count against both limits until they are settled.
    for a in accounts.values_mut() {
        if a.limit_currency == a.currency {
            a.daily_used = Nanos(a.daily_used.0 + a.held.0);
            a.monthly_used = Nanos(a.monthly_used.0 + a.held.0);
        }
    }
    let mut windows = rate_windows(&mut tx, requests, plan_rates, now).await?;
    let (decisions, w) =
        authorize::decide_batch(requests, &mut quotas, &mut accounts, &mut windows, now)?;

    let mut all = Combined::default();
    all.insert(
        "holds",
        &format!("{}, status", authorize::HOLD_COLUMNS_NEW),
        "",
        w.holds
            .iter()
            .map(|h| {
                let mut row = h.clone();
                row.push("open".into());
                row
            })
            .collect(),
    )?;
    all.insert(
        "ledger_entries",
        charges::LEDGER_COLUMNS,
        "",
        w.entries.iter().map(charges::entry_args).collect(),
    )?;
    all.execute(&mut tx, &[]).await?;
    let balances: Vec<Vec<Arg>> = w
        .balances
        .iter()
        .map(|((t, u, c), held)| {
            vec![
                t.clone().into(),
                u.clone().into(),
                c.clone().into(),
                (*held).into(),
            ]
        })
        .collect();
    let (columns, arrays) = array_columns(balances)?;
    run_arrays(
        &mut tx,
        &format!(
            "UPDATE account_balances b SET held_nanos = v.held \
             FROM UNNEST({arrays}) AS v(t, u, c, held) \
             WHERE b.tenant_id = v.t AND b.user_id = v.u AND b.currency = v.c"
        ),
        columns,
    )
    .await?;
    let counted: Vec<Vec<Arg>> = windows
        .writes()
        .into_iter()
        .map(|((t, kind, subject), minute, requests, tokens)| {
            vec![
                t.into(),
                kind.as_str().into(),
                subject.into(),
                minute.into(),
                requests.into(),
                tokens.into(),
            ]
        })
        .collect();
    let (columns, arrays) = array_columns(counted)?;
    run_arrays(
        &mut tx,
        &format!(
            "INSERT INTO rate_windows (tenant_id, kind, subject, minute, requests, tokens) \
             SELECT * FROM UNNEST({arrays}) \
             ON CONFLICT (tenant_id, kind, subject, minute) DO UPDATE SET \
             requests = rate_windows.requests + excluded.requests, \
             tokens = rate_windows.tokens + excluded.tokens"
        ),
        columns,
    )
    .await?;
    tx.commit().await?;
    Ok(decisions)
}

/// The rate windows of a batch's subjects that have a limit (see `rate`), read after the
/// tenants' quota rows are locked (their plans' limits were read with the quota): per tenant,
/// one statement for the overrides of the batch's keys and users, and one for the counts of
/// those limited.
async fn rate_windows(
    tx: &mut Transaction<'static, Postgres>,
    requests: &[AuthorizeRequest],
    plans: std::collections::BTreeMap<String, PlanRates>,
    now: i64,
) -> Result<rate::Windows, StoreError> {
    let subjects = rate::batch_subjects(requests);
    let tenants: std::collections::BTreeSet<&String> = subjects.iter().map(|k| &k.0).collect();
    let mut overrides = std::collections::BTreeMap::new();
    for tenant in tenants {
        let (kinds, names): (Vec<&str>, Vec<&str>) = subjects
            .iter()
            .filter(|k| &k.0 == tenant && k.1 != RateKind::Ip)
            .map(|k| (k.1.as_str(), k.2.as_str()))
            .unzip();
        for row in sqlx::query(
            "SELECT kind, subject, rpm, tpm FROM rate_limit_overrides \
             WHERE tenant_id = $1 AND (kind, subject) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))",
        )
        .bind(tenant)
        .bind(&kinds)
        .bind(&names)
        .fetch_all(&mut **tx)
        .await?
        {
            let row = Row::from(row);
            let kind: String = row.get("kind")?;
            let kind = RateKind::parse(&kind)
                .ok_or_else(|| StoreError::Invariant(format!("a rate limit of kind {kind}")))?;
            overrides.insert(
                (tenant.clone(), kind, row.get("subject")?),
                Limits {
                    rpm: row.get("rpm")?,
                    tpm: row.get("tpm")?,
                },
            );
        }
    }
    let limited = rate::Windows::limits(&subjects, &plans, &overrides);
    let mut found: std::collections::BTreeMap<rate::RateKey, Vec<(i64, i64, i64)>> =
        std::collections::BTreeMap::new();
    if !limited.is_empty() {
        let (tenants, (kinds, names)): (Vec<&str>, (Vec<&str>, Vec<&str>)) = limited
            .keys()
            .map(|k| (k.0.as_str(), (k.1.as_str(), k.2.as_str())))
            .unzip();
        for row in sqlx::query(
            "SELECT w.tenant_id, w.kind, w.subject, w.minute, w.requests, w.tokens \
             FROM rate_windows w \
             JOIN UNNEST($1::text[], $2::text[], $3::text[]) AS s(t, k, n) \
             ON w.tenant_id = s.t AND w.kind = s.k AND w.subject = s.n \
             WHERE w.minute >= $4",
        )
        .bind(&tenants)
        .bind(&kinds)
        .bind(&names)
        .bind(minute_of(now) - 1)
        .fetch_all(&mut **tx)
        .await?
        {
            let row = Row::from(row);
            let kind: String = row.get("kind")?;
            let kind = RateKind::parse(&kind)
                .ok_or_else(|| StoreError::Invariant(format!("a rate window of kind {kind}")))?;
            found
                .entry((row.get("tenant_id")?, kind, row.get("subject")?))
                .or_default()
                .push((row.get("minute")?, row.get("requests")?, row.get("tokens")?));
        }
    }
    let mut windows = rate::Windows::default();
    for (key, limits) in limited {
        let rows = found.remove(&key).unwrap_or_default();
        windows.insert(key, limits, &rows, now);
    }
    Ok(windows)
}

/// The rows of charges `w` as parts of the append's one statement: ledger entries and
/// spend inserted, balances and request counts updated (each account once).
fn charge_parts(all: &mut Combined, w: &charges::Writes) -> Result<(), StoreError> {
    all.insert(
        "ledger_entries",
        charges::LEDGER_COLUMNS,
        "",
        w.entries.iter().map(charges::entry_args).collect(),
    )?;
    all.insert(
        "account_spend",
        "tenant_id, user_id, currency, kind, period, spent_nanos, requests",
        " ON CONFLICT (tenant_id, user_id, currency, kind, period) DO UPDATE SET \
          spent_nanos = account_spend.spent_nanos + EXCLUDED.spent_nanos, \
          requests = account_spend.requests + EXCLUDED.requests",
        w.spend.iter().map(charges::spend_args).collect(),
    )?;
    all.part(
        "UPDATE account_balances b SET balance_nanos = v.balance, held_nanos = v.held, \
         spent_nanos = b.spent_nanos + v.spent \
         FROM UNNEST({arrays}) AS v(t, u, c, balance, held, spent) \
         WHERE b.tenant_id = v.t AND b.user_id = v.u AND b.currency = v.c",
        w.balances.iter().map(charges::balance_args).collect(),
    )?;
    all.part(
        "UPDATE billing_accounts a SET total_requests = a.total_requests + v.n, \
         last_request_us = v.last, updated_us = v.last \
         FROM UNNEST({arrays}) AS v(t, u, n, last) \
         WHERE a.tenant_id = v.t AND a.user_id = v.u",
        w.requests.iter().map(charges::request_args).collect(),
    )
}

/// The rare rows of charges `w`, one statement each, after the append's statement: the
/// holds they settle and the thresholds they crossed.
async fn settle_and_alert(
    tx: &mut Transaction<'static, Postgres>,
    w: &charges::Writes,
    now: i64,
) -> Result<(), StoreError> {
    for (h, log_id) in &w.settled {
        sqlx::query(
            "UPDATE holds SET status = 'settled', closed_us = $1, log_id = $2 \
             WHERE tenant_id = $3 AND id = $4 AND status = 'open'",
        )
        .bind(now)
        .bind(log_id)
        .bind(&h.tenant_id)
        .bind(&h.id)
        .execute(&mut **tx)
        .await?;
    }
    for a in &w.alerts {
        sqlx::query(&numbered(alerts::ALERT_INSERT))
            .bind(&a.tenant_id)
            .bind(new_id(IdKind::Event))
            .bind(a.event_type.as_str())
            .bind(&a.dedupe_key)
            .bind(a.data.to_string())
            .bind(a.created_us)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Rows as typed array columns, and the `$1::type[], …` list that names them.
fn array_columns(rows: Vec<Vec<Arg>>) -> Result<(Vec<Column>, String), StoreError> {
    array_columns_after(rows, 0)
}

/// [`array_columns`] for a statement with `before` parameters ahead of the arrays: the list
/// starts at `$before+1`. No columns and an empty list when there are no rows.
fn array_columns_after(
    rows: Vec<Vec<Arg>>,
    before: usize,
) -> Result<(Vec<Column>, String), StoreError> {
    let Some(first) = rows.first() else {
        return Ok((Vec::new(), String::new()));
    };
    let mut cols: Vec<Column> = first
        .iter()
        .map(|a| Column::for_arg(a, rows.len()))
        .collect();
    for row in rows {
        for (c, a) in cols.iter_mut().zip(row) {
            c.push(a)?;
        }
    }
    let names = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", before + i + 1, c.cast()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((cols, names))
}

/// Runs an array statement; nothing to do when there are no rows.
async fn run_arrays(
    tx: &mut Transaction<'static, Postgres>,
    sql: &str,
    columns: Vec<Column>,
) -> Result<(), StoreError> {
    if columns.is_empty() {
        return Ok(());
    }
    let mut q = sqlx::query(sql);
    for c in columns {
        q = c.bind(q);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn fetch_arrays(
    tx: &mut Transaction<'static, Postgres>,
    sql: &str,
    columns: Vec<Column>,
) -> Result<Vec<PgRow>, StoreError> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = sqlx::query(sql);
    for c in columns {
        q = c.bind(q);
    }
    Ok(q.fetch_all(&mut **tx).await?)
}

/// One column of rows, as a typed array.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Vec<u8>>),
    Float(Vec<f64>),
}

impl Column {
    fn for_arg(a: &Arg, n: usize) -> Column {
        match a {
            Arg::Int(_) => Column::Int(Vec::with_capacity(n)),
            Arg::Text(_) => Column::Text(Vec::with_capacity(n)),
            Arg::Bytes(_) => Column::Bytes(Vec::with_capacity(n)),
            Arg::Float(_) => Column::Float(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, a: Arg) -> Result<(), StoreError> {
        match (self, a) {
            (Column::Int(v), Arg::Int(x)) => v.push(x),
            (Column::Text(v), Arg::Text(x)) => v.push(x),
            (Column::Bytes(v), Arg::Bytes(x)) => v.push(x),
            (Column::Float(v), Arg::Float(x)) => v.push(x),
            _ => {
                return Err(StoreError::Invariant(
                    "a column's values differ in type".into(),
                ))
            }
        }
        Ok(())
    }

    fn cast(&self) -> &'static str {
        match self {
            Column::Int(_) => "int8[]",
            Column::Text(_) => "text[]",
            Column::Bytes(_) => "bytea[]",
            Column::Float(_) => "float8[]",
        }
    }

    fn bind(self, q: Query<'_, Postgres, PgArguments>) -> Query<'_, Postgres, PgArguments> {
        match self {
            Column::Int(v) => q.bind(v),
            Column::Text(v) => q.bind(v),
            Column::Bytes(v) => q.bind(v),
            Column::Float(v) => q.bind(v),
        }
    }
}

/// `INSERT INTO table (columns) SELECT * FROM UNNEST(…) tail` statements (and updates from
/// such arrays, see [`Combined::part`]), one array per column, run as the data-modifying
/// parts of a single statement: a batch costs one round trip, not one per table.
#[derive(Default)]
struct Combined {
    parts: Vec<String>,
    columns: Vec<Column>,
    /// Parameters before the columns' arrays (see [`Combined::guarded`]).
    offset: usize,
    /// A condition every insert's rows are selected under.
    guard: Option<&'static str>,
}

/// The parameters and the condition of [`Combined::guarded`]: the heads' tenants, guessed
/// sizes and new sizes as arrays, then how many heads there are; `moved` holds how many
/// heads were where they were guessed to be.
const GUARD_PARAMETERS: usize = 4;
const GUARD: &str = "(SELECT matched FROM moved) = $4";

impl Combined {
    /// Inserts made only if every log head named to [`Combined::execute_guarded`] moves.
    fn guarded() -> Combined {
        Combined {
            offset: GUARD_PARAMETERS,
            guard: Some(GUARD),
            ..Combined::default()
        }
    }

    fn insert(
        &mut self,
        table: &str,
        columns: &str,
        tail: &str,
        rows: Vec<Vec<Arg>>,
    ) -> Result<(), StoreError> {
        let guard = self
            .guard
            .map(|g| format!(" WHERE {g}"))
            .unwrap_or_default();
        self.part(
            &format!(
                "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({{arrays}}){guard}{tail}"
            ),
            rows,
        )
    }

    /// A part of the statement over `rows`, given one array per column: `sql` names them
    /// `{arrays}`. Nothing when there are no rows.
    fn part(&mut self, sql: &str, rows: Vec<Vec<Arg>>) -> Result<(), StoreError> {
        let (cols, arrays) = array_columns_after(rows, self.offset + self.columns.len())?;
        if cols.is_empty() {
            return Ok(());
        }
        self.parts.push(sql.replace("{arrays}", &arrays));
        self.columns.extend(cols);
        Ok(())
    }

    /// Runs the inserts; with `heads` (tenant, new log size), the statement ends by setting
    /// those tenants' log sizes.
    async fn execute(
        self,
        tx: &mut Transaction<'static, Postgres>,
        heads: &[(&str, i64)],
    ) -> Result<(), StoreError> {
        let n = self.columns.len();
        let set_heads = format!(
            "UPDATE tenants SET log_size = h.size \
             FROM UNNEST(${}::text[], ${}::int8[]) AS h(id, size) WHERE tenants.id = h.id",
            n + 1,
            n + 2
        );
        let sql = match (heads.is_empty(), self.parts.len()) {
            (true, 0) => return Ok(()),
            (true, 1) => self.parts[0].clone(),
            (true, _) => {
                let (last, ctes) = self.parts.split_last().expect("two or more parts");
                format!("WITH {} {last}", with_names(ctes))
            }
            (false, 0) => set_heads,
            (false, _) => format!("WITH {} {set_heads}", with_names(&self.parts)),
        };
        let mut q = sqlx::query(&sql);
        for c in self.columns {
            q = c.bind(q);
        }
        if !heads.is_empty() {
            let (ids, sizes): (Vec<&str>, Vec<i64>) = heads.iter().copied().unzip();
            q = q.bind(ids).bind(sizes);
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }
}

impl Combined {
    /// Runs guarded inserts (see [`Combined::guarded`]) in one statement outside any
    /// transaction, moving each head (tenant, guessed size, new size) that is at its guess.
    /// True: every head moved and the rows are written. False: none was at its guess and
    /// nothing is written. Some but not all at their guess fails the statement (writing
    /// nothing), and answers false too.
    async fn execute_guarded(
        self,
        conn: &mut PgConnection,
        heads: &[(&str, i64, i64)],
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "WITH locked AS (SELECT id, log_size FROM tenants WHERE id = ANY($1::text[]) \
               ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE), \
             heads AS (UPDATE tenants t SET log_size = h.size \
               FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS h(id, guess, size), locked l \
               WHERE t.id = h.id AND l.id = h.id AND l.log_size = h.guess \
                 AND (SELECT count(*) FROM locked) = $4 RETURNING t.id), \
             moved AS (SELECT count(*) AS matched FROM heads), {} \
             SELECT CASE WHEN matched = $4 THEN 1 WHEN matched = 0 THEN 0 \
               ELSE ('{PARTLY_MOVED}' || matched)::int8 END AS written FROM moved",
            with_names(&self.parts)
        );
        let mut ids = Vec::with_capacity(heads.len());
        let mut guesses = Vec::with_capacity(heads.len());
        let mut sizes = Vec::with_capacity(heads.len());
        for &(id, guess, size) in heads {
            ids.push(id);
            guesses.push(guess);
            sizes.push(size);
        }
        let mut q = sqlx::query(&sql)
            .bind(ids)
            .bind(guesses)
            .bind(sizes)
            .bind(heads.len() as i64);
        for c in self.columns {
            q = c.bind(q);
        }
        match q.fetch_one(conn).await {
            Ok(row) => Ok(Row::from(row).get::<i64>("written")? == 1),
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some(INVALID_TEXT_REPRESENTATION)
                    && e.message().contains(PARTLY_MOVED) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The text of the error a guarded statement fails with when only some heads were at their
/// guess (a cast of it to a number fails, naming it).
const PARTLY_MOVED: &str = "log heads moved by another append: ";

/// The SQLSTATE of that failed cast (`invalid_text_representation`), checked with the text
/// so that no other error is taken for it.
const INVALID_TEXT_REPRESENTATION: &str = "22P02";

fn with_names(parts: &[String]) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("w{i} AS ({p})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row sqlx answered, decoded by column name.
fn decode<T: FromRow>(row: PgRow) -> Result<T, StoreError> {
    T::from_row(&Row::from(row))
}

row! {
    /// A tenant's plan and its month's use, as [`authorize`] reads them.
    struct QuotaRow {
        plan_name: Option<String>,
        plan_requests: Option<i64>,
        used: i64,
        reserved: i64,
    }
}

impl QuotaRow {
    fn into_state(self, month: i64) -> Result<QuotaState, StoreError> {
        Ok(QuotaState {
            plan: plans::found(self.plan_name)?,
            limit: self.plan_requests,
            used: self.used,
            reserved: self.reserved,
            month,
        })
    }
}

/// Calls of this batch already recorded: by request id, and the conversation calls that
/// llmring usage posts name.
async fn earlier(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<Earlier, StoreError> {
    let (requests, calls) = rows::dedupe_keys(items, indexes);
    let mut found = Earlier::default();
    if !requests.is_empty() {
        let q = format!(
            "SELECT {RECORDED_COLUMNS}, e.request_id FROM usage_events e
             LEFT JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                                      AND e.source = 'conversation'
             WHERE e.tenant_id = $1 AND e.request_id = ANY($2)"
        );
        for row in sqlx::query(&q)
            .bind(tenant)
            .bind(&requests)
            .fetch_all(&mut **tx)
            .await?
        {
            let row = Row::from(row);
            found
                .by_request
                .insert(row.get("request_id")?, rows::recorded(&row)?);
        }
    }
    if !calls.is_empty() {
        let q = format!(
            "SELECT {RECORDED_COLUMNS}, {CALL_COLUMNS} FROM usage_events e
             JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
             WHERE e.source = 'conversation' AND e.tenant_id = $1 AND e.conversation_id = ANY($2)"
        );
        for row in sqlx::query(&q)
            .bind(tenant)
            .bind(&calls)
            .fetch_all(&mut **tx)
            .await?
        {
            if let Some((id, call)) = rows::conversation_call(&Row::from(row))? {
                found.by_call.insert(id, call);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str) -> charges::AccountKey {
        ("t".into(), user.into(), "USD".into())
    }

    #[test]
    fn known_accounts_know_only_what_they_were_told_and_forget_all_when_full() {
        let known = KnownAccounts::default();
        let (a, b) = (key("a"), key("b"));
        assert!(known.all([].iter()), "nothing to know is known");
        assert!(!known.all([&a].into_iter()));
        known.remember([&a].into_iter());
        assert!(known.all([&a].into_iter()));
        assert!(
            !known.all([&a, &b].into_iter()),
            "one unknown makes the set unknown"
        );
        assert!(
            !known.all([&("t".into(), "a".into(), "EUR".into())].into_iter()),
            "another currency is another balance row"
        );
        let many: Vec<_> = (0..KnownAccounts::MOST)
            .map(|i| key(&format!("u{i}")))
            .collect();
        known.remember(many.iter());
        assert!(!known.all([&a].into_iter()), "full, it started over");
        assert!(known.all(many.last().into_iter()));
    }
}
