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
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::{
    AccountDefaults, AppendGuesses, AppendItem, AuthorizeRequest, Decision, PlanRates, QuotaState,
    RateKind, Recorded,
};
use crate::StoreError;
use tollgate_core::Nanos;

pub(crate) async fn append_usage(
    pool: &PgPool,
    sizes: &LogSizes,
    known: &KnownAccounts,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    if let Some(recorded) = append_unlocked(pool, sizes, known, items).await? {
        return Ok(recorded);
    }
    let (recorded, heads) = append_locked(pool, known, items).await?;
    sizes.remember(heads.iter().map(|(t, n)| (*t, *n)));
    Ok(recorded)
}

/// The log size this instance last wrote or read for each tenant: a guess at each head,
/// which lets a plain append (see [`append_unlocked`]) write without reading it first.
/// Another instance's appends make a guess stale; the append that finds so takes the
/// locked path, which corrects it. Counts how the guesses fared.
#[derive(Debug, Default)]
pub(crate) struct LogSizes {
    sizes: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    written: AtomicU64,
    stale: AtomicU64,
}

impl LogSizes {
    /// How the appends planned on guesses fared, since the store opened.
    pub(crate) fn counts(&self) -> AppendGuesses {
        AppendGuesses {
            written: self.written.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
        }
    }

    fn guesses<'a>(&self, tenants: impl Iterator<Item = &'a str>) -> Option<Vec<i64>> {
        let known = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        tenants.map(|t| known.get(t).copied()).collect()
    }

    fn remember<'a>(&self, sizes: impl Iterator<Item = (&'a str, i64)>) {
        let mut known = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut known = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in tenants {
            known.remove(tenant);
        }
    }
}

/// Billing accounts (with their balance row in a currency) this instance has created or
/// locked, with their books as this instance last wrote or read them. Accounts are never
/// deleted, so a known account needs no creating: a charge or an authorization of known
/// accounts locks them at once, without the two inserts that create missing ones. It is a
/// hint: should a known account be missing after all (a database migrated down and up
/// again), the lock finds fewer rows and the accounts are created then. The books are a
/// guess, as [`LogSizes`] are: a plain charge (see [`append_unlocked`]) is planned from them
/// and written only if the account still holds them. Kept by hash, and forgotten whole at
/// [`KnownAccounts::MOST`].
#[derive(Debug, Default)]
pub(crate) struct KnownAccounts(std::sync::Mutex<std::collections::HashMap<u64, Option<Books>>>);

/// What charging an account reads of it: a plain charge's plan depends on nothing else, so
/// an account that still holds these is charged as the plan says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Books {
    billing_enabled: bool,
    limit_currency: String,
    daily_limit: Option<i64>,
    monthly_limit: Option<i64>,
    balance: i64,
    held: i64,
    /// What the account spent in the limit currency on `day` and in `month`, with no hold
    /// counted (as `account_spend` has it, 0 with no row); read only when it has a limit.
    day: i64,
    day_spent: i64,
    month: i64,
    month_spent: i64,
}

impl Books {
    /// The books of `view` (as locked, its spend read and no hold yet added) on `now`.
    fn of(view: &charges::AccountView, now: i64) -> Books {
        Books {
            billing_enabled: view.billing_enabled,
            limit_currency: view.limit_currency.clone(),
            daily_limit: view.daily_limit,
            monthly_limit: view.monthly_limit,
            balance: view.balance,
            held: view.held,
            day: day_of(now),
            day_spent: view.daily_used,
            month: month_of(now),
            month_spent: view.monthly_used,
        }
    }

    /// These books moved to `now`'s day and month: a new period has spent nothing yet.
    fn on(&self, now: i64) -> Books {
        let (day, month) = (day_of(now), month_of(now));
        Books {
            day,
            day_spent: if self.day == day { self.day_spent } else { 0 },
            month,
            month_spent: if self.month == month {
                self.month_spent
            } else {
                0
            },
            ..self.clone()
        }
    }

    /// The account `key` with these books, in [`BOOKS_GUARD`]'s column order.
    fn args(&self, (tenant, user, currency): &charges::AccountKey) -> Vec<Arg> {
        vec![
            tenant.clone().into(),
            user.clone().into(),
            currency.clone().into(),
            self.billing_enabled.into(),
            self.limit_currency.clone().into(),
            self.daily_limit.into(),
            self.monthly_limit.into(),
            self.balance.into(),
            self.held.into(),
            self.day.into(),
            self.day_spent.into(),
            self.month.into(),
            self.month_spent.into(),
        ]
    }

    /// The view a charge of the account in `currency` is planned on, as the locked path
    /// builds it (see [`plan_charges`]): open holds count against both limits.
    fn view(&self, currency: &str) -> charges::AccountView {
        let held = if self.limit_currency == currency {
            self.held
        } else {
            0
        };
        charges::AccountView {
            billing_enabled: self.billing_enabled,
            limit_currency: self.limit_currency.clone(),
            daily_limit: self.daily_limit,
            monthly_limit: self.monthly_limit,
            balance: self.balance,
            held: self.held,
            daily_used: self.day_spent + held,
            monthly_used: self.month_spent + held,
        }
    }
}

impl KnownAccounts {
    /// The most accounts remembered (a few MB).
    const MOST: usize = 65_536;

    fn hash(key: &charges::AccountKey) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    fn known(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Option<Books>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn all<'a>(&self, mut keys: impl Iterator<Item = &'a charges::AccountKey>) -> bool {
        let known = self.known();
        keys.all(|k| known.contains_key(&Self::hash(k)))
    }

    fn remember<'a>(&self, keys: impl Iterator<Item = &'a charges::AccountKey>) {
        let mut known = self.known();
        for k in keys {
            if known.len() >= Self::MOST {
                known.clear();
            }
            known.entry(Self::hash(k)).or_insert(None);
        }
    }

    /// The books last seen of every key, moved to `now`; None unless all are known.
    fn books<'a>(
        &self,
        keys: impl Iterator<Item = &'a charges::AccountKey>,
        now: i64,
    ) -> Option<Vec<(&'a charges::AccountKey, Books)>> {
        let known = self.known();
        keys.map(|k| Some((k, known.get(&Self::hash(k))?.as_ref()?.on(now))))
            .collect()
    }

    /// Remembers the books charges `w` leave, of accounts whose books before them were
    /// `before` (as read under lock, or as guessed and found to hold).
    fn charged(
        &self,
        before: &std::collections::BTreeMap<charges::AccountKey, Books>,
        w: &charges::Writes,
    ) {
        let mut after: Vec<(&charges::AccountKey, Books)> = Vec::with_capacity(w.balances.len());
        for (key, balance, held, _, _) in &w.balances {
            let Some(b) = before.get(key) else { continue };
            let mut b = Books {
                balance: *balance,
                held: *held,
                ..b.clone()
            };
            // Spend counts against the limits in their currency only.
            let limited = (key.0.as_str(), key.1.as_str(), b.limit_currency.as_str());
            for ((t, u, c), kind, period, spent, _) in &w.spend {
                if (t.as_str(), u.as_str(), c.as_str()) != limited {
                    continue;
                }
                match *kind {
                    "day" if *period == b.day => b.day_spent += spent,
                    "month" if *period == b.month => b.month_spent += spent,
                    _ => {}
                }
            }
            after.push((key, b));
        }
        let mut known = self.known();
        for (key, b) in after {
            if known.len() >= Self::MOST {
                known.clear();
            }
            known.insert(Self::hash(key), Some(b));
        }
    }

    /// Forgets the books of `keys` (they were not what an account held), keeping that the
    /// accounts exist.
    fn stale<'a>(&self, keys: impl Iterator<Item = &'a charges::AccountKey>) {
        let mut known = self.known();
        for k in keys {
            if let Some(books) = known.get_mut(&Self::hash(k)) {
                *books = None;
            }
        }
    }
}

/// Appends a batch of plain calls (see [`AppendItem::is_plain`]) in one statement and one
/// round trip, with no transaction around it: the calls are numbered from each tenant's
/// guessed log size, and the statement moves each head from its guess to its new size,
/// writing the events and rollups only when every head was where it was guessed to be. A
/// head that moved (or a tenant with no guess) writes nothing and answers None: the caller
/// takes the locked path.
///
/// Plain charges (see [`AppendItem::is_plain_charge`]) go the same way when `known` has the
/// books of every account they charge: they are planned on those books, and the statement
/// locks the accounts' balance rows and writes only if every one still holds them, as it
/// does for the heads. The plan is then what the locked path would have made: it reads
/// nothing else. A plan that would settle a hold or raise an alert takes the locked path.
///
/// The heads are locked first, in the order `lock_heads` locks them (the statement's
/// `locked`, evaluated whole before any head is moved), then the accounts in key order, as
/// `lock_accounts` does, so appends of one tenant are still serialised across instances and
/// never deadlock. A statement that waited for a lock compares its guess with the head (and
/// the books) as the append it waited for left them, not as they were when it began.
async fn append_unlocked(
    pool: &PgPool,
    sizes: &LogSizes,
    known: &KnownAccounts,
    items: &[AppendItem],
) -> Result<Option<Vec<Recorded>>, StoreError> {
    if items.is_empty() || !items.iter().all(|i| i.is_plain() || i.is_plain_charge()) {
        return Ok(None);
    }
    let groups = by_tenant(items);
    let Some(guesses) = sizes.guesses(groups.keys().copied()) else {
        return Ok(None);
    };
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let recorded_us = now_us();
    let mut heads = Vec::with_capacity(groups.len());
    let mut fresh_by_tenant = Vec::with_capacity(groups.len());
    for ((tenant, indexes), guess) in groups.into_iter().zip(guesses) {
        let rows::Assigned { fresh, size, .. } = rows::assign(
            items,
            &indexes,
            guess,
            &mut Earlier::default(),
            &mut outcomes,
        );
        heads.push((tenant, guess, size));
        fresh_by_tenant.push((tenant, fresh));
    }
    let billed: Vec<(usize, i64)> = fresh_by_tenant
        .iter()
        .flat_map(|(_, fresh)| fresh.iter().copied())
        .collect();
    let charged = match plan_plain_charges(known, items, &billed, recorded_us)? {
        PlainCharges::Locked => return Ok(None),
        PlainCharges::None => None,
        PlainCharges::Planned(planned) => Some(planned),
    };
    let books: Vec<_> = charged
        .iter()
        .flat_map(|(_, before)| before.iter())
        .collect();
    let mut all = Combined::guarded(&books)?;
    let mut batch = BatchRows::new(recorded_us);
    for (tenant, fresh) in &fresh_by_tenant {
        batch.add(tenant, items, fresh);
    }
    batch.insert_into(&mut all)?;
    if let Some((w, _)) = &charged {
        charge_parts(&mut all, w, recorded_us)?;
    }
    let mut conn = pool.acquire().await?;
    let written = all.execute_guarded(&mut conn, &heads).await;
    give_back_buffers(&mut conn, items.len());
    if !written? {
        sizes.stale.fetch_add(1, Ordering::Relaxed);
        sizes.forget(heads.iter().map(|(t, _, _)| *t));
        known.stale(books.iter().map(|(k, _)| *k));
        return Ok(None);
    }
    sizes.written.fetch_add(1, Ordering::Relaxed);
    sizes.remember(heads.iter().map(|(t, _, size)| (*t, *size)));
    if let Some((w, before)) = &charged {
        known.charged(before, w);
    }
    finished(outcomes).map(Some)
}

/// Charges' rows, and the books of the accounts they charge as they were planned on.
type Planned = (
    charges::Writes,
    std::collections::BTreeMap<charges::AccountKey, Books>,
);

/// What a batch's plain charges come to on the books [`KnownAccounts`] has.
enum PlainCharges {
    /// No call is charged.
    None,
    /// The charges, planned.
    Planned(Planned),
    /// Not planned so: an account's books are unknown, or the plan settles a hold or raises
    /// an alert. The locked path plans them.
    Locked,
}

/// Plans a batch's plain charges (see [`append_unlocked`]) on the books `known` has.
fn plan_plain_charges(
    known: &KnownAccounts,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
    now: i64,
) -> Result<PlainCharges, StoreError> {
    let lines = charges::lines(items, fresh);
    let accounts = charges::accounts(&lines, &[]);
    // A call billed to no user, with no hold, charges nothing.
    if accounts.is_empty() {
        return Ok(PlainCharges::None);
    }
    let Some(books) = known.books(accounts.keys(), now) else {
        return Ok(PlainCharges::Locked);
    };
    let views = books
        .iter()
        .map(|(key, b)| ((*key).clone(), b.view(&key.2)))
        .collect();
    let w = charges::plan(&lines, Vec::new(), views, now)?;
    if !w.alerts.is_empty() || !w.settled.is_empty() {
        return Ok(PlainCharges::Locked);
    }
    let before = books.into_iter().map(|(k, b)| (k.clone(), b)).collect();
    Ok(PlainCharges::Planned((w, before)))
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
        if let Some((w, _)) = &charges {
            charge_parts(&mut all, w, recorded_us)?;
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
    if let Some((w, _)) = &charges {
        settle_and_alert(&mut tx, w, recorded_us).await?;
    }
    tx.commit().await?;
    if let Some((w, before)) = &charges {
        known.charged(before, w);
    }
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
            match self
                .rollups
                .iter_mut()
                .find(|r| std::ptr::eq(r.table, rollup.table))
            {
                Some(r) => r.rows.extend(rollup.rows),
                None => self.rollups.push(rollup),
            }
        }
    }

    fn insert_into(self, all: &mut Combined) -> Result<(), StoreError> {
        all.insert("usage_events", rows::EVENT_TABLE_COLUMNS, "", self.events)?;
        for rollup in self.rollups {
            let t = rollup.table;
            all.insert(t.table, &t.columns, &t.on_conflict, rollup.rows)?;
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
/// locked, with the books read of each account (see [`Books`]); None when no call is
/// billed. Accounts [`KnownAccounts`] knows are locked at once, others created first.
async fn plan_charges(
    tx: &mut Transaction<'static, Postgres>,
    known: &KnownAccounts,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
    now: i64,
) -> Result<Option<Planned>, StoreError> {
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
    let mut books = std::collections::BTreeMap::new();
    for ((t, u, currency), v) in views.iter_mut() {
        let key = (t.clone(), u.clone(), v.limit_currency.clone());
        if let Some(&(day, month)) = spent.get(&key) {
            (v.daily_used, v.monthly_used) = (day, month);
        }
        books.insert((t.clone(), u.clone(), currency.clone()), Books::of(v, now));
        // Open holds count against both limits until they are settled.
        if v.limit_currency == *currency {
            v.daily_used += v.held;
            v.monthly_used += v.held;
        }
    }
    Ok(Some((charges::plan(&lines, holds, views, now)?, books)))
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
/// spend inserted, balances and their call counts updated (each account once); `now` is the
/// time of the calls.
fn charge_parts(all: &mut Combined, w: &charges::Writes, now: i64) -> Result<(), StoreError> {
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
         spent_nanos = b.spent_nanos + v.spent, requests = b.requests + v.n, \
         last_request_us = COALESCE(v.last, b.last_request_us) \
         FROM UNNEST({arrays}) AS v(t, u, c, balance, held, spent, n, last) \
         WHERE b.tenant_id = v.t AND b.user_id = v.u AND b.currency = v.c{and_guard}",
        w.balances
            .iter()
            .map(|b| charges::balance_args(b, now))
            .collect(),
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
    /// The accounts' guessed books a guarded statement checks (see [`BOOKS_GUARD`]).
    books: Option<BooksGuard>,
}

/// [`BOOKS_GUARD`] with its arrays named, its columns, and how many accounts there are (the
/// parameter after them).
struct BooksGuard {
    sql: String,
    columns: Vec<Column>,
    accounts: i64,
}

/// The parameters and the condition of [`Combined::guarded`]: the heads' tenants, guessed
/// sizes and new sizes as arrays, then how many heads there are; with books, the charged
/// accounts' keys and guessed books as arrays, then how many accounts there are. `moved`
/// holds how many heads were where they were guessed to be, and moves none unless every
/// account holds its guessed books.
const HEAD_PARAMETERS: usize = 4;
const GUARD: &str = "(SELECT matched FROM moved) = $4";

/// The part of a guarded statement that locks the charged accounts' balance rows, in the
/// order given, and selects those that hold their guessed books (see [`Books`]): `{arrays}`
/// in [`Books::args`] order.
const BOOKS_GUARD: &str = "accounts AS (SELECT x.* FROM UNNEST({arrays}) \
       AS g(t, u, c, enabled, lc, dl, ml, balance, held, day, day_spent, month, month_spent) \
     CROSS JOIN LATERAL (SELECT b.user_id FROM account_balances b \
       JOIN billing_accounts a ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id \
       WHERE b.tenant_id = g.t AND b.user_id = g.u AND b.currency = g.c \
         AND b.balance_nanos = g.balance AND b.held_nanos = g.held \
         AND a.billing_enabled = g.enabled AND a.limit_currency = g.lc \
         AND a.daily_limit_nanos IS NOT DISTINCT FROM g.dl \
         AND a.monthly_limit_nanos IS NOT DISTINCT FROM g.ml \
         AND (g.dl IS NULL AND g.ml IS NULL OR \
           (SELECT COALESCE(sum(s.spent_nanos) FILTER (WHERE s.kind = 'day'), 0) = g.day_spent \
              AND COALESCE(sum(s.spent_nanos) FILTER (WHERE s.kind = 'month'), 0) \
                = g.month_spent \
            FROM account_spend s WHERE s.tenant_id = g.t AND s.user_id = g.u \
              AND s.currency = g.lc AND ((s.kind = 'day' AND s.period = g.day) \
                OR (s.kind = 'month' AND s.period = g.month)))) \
         AND (SELECT count(*) FROM locked) = $4 \
       FOR UPDATE OF b) x), ";

impl Combined {
    /// Writes made only if every log head named to [`Combined::execute_guarded`] moves,
    /// and every account of `books` (locked in the order given) holds its books.
    fn guarded(books: &[(&charges::AccountKey, &Books)]) -> Result<Combined, StoreError> {
        let rows = books.iter().map(|(key, b)| b.args(key)).collect();
        let (columns, arrays) = array_columns_after(rows, HEAD_PARAMETERS)?;
        let (offset, books) = if columns.is_empty() {
            (HEAD_PARAMETERS, None)
        } else {
            let offset = HEAD_PARAMETERS + columns.len() + 1;
            let guard = BooksGuard {
                sql: BOOKS_GUARD.replace("{arrays}", &arrays),
                columns,
                accounts: books.len() as i64,
            };
            (offset, Some(guard))
        };
        Ok(Combined {
            offset,
            guard: Some(GUARD),
            books,
            ..Combined::default()
        })
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
    /// `{arrays}`, and ends an update's conditions with `{and_guard}`. Nothing when there
    /// are no rows.
    fn part(&mut self, sql: &str, rows: Vec<Vec<Arg>>) -> Result<(), StoreError> {
        let (cols, arrays) = array_columns_after(rows, self.offset + self.columns.len())?;
        if cols.is_empty() {
            return Ok(());
        }
        let and_guard = self.guard.map(|g| format!(" AND {g}")).unwrap_or_default();
        self.parts.push(
            sql.replace("{arrays}", &arrays)
                .replace("{and_guard}", &and_guard),
        );
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
    /// Runs guarded writes (see [`Combined::guarded`]) in one statement outside any
    /// transaction, moving each head (tenant, guessed size, new size) that is at its guess
    /// once every account of the books holds them. True: every head moved and the rows are
    /// written. False: none was at its guess, or an account's books were not, and nothing
    /// is written. Some but not all heads at their guess fails the statement (writing
    /// nothing), and answers false too.
    async fn execute_guarded(
        self,
        conn: &mut PgConnection,
        heads: &[(&str, i64, i64)],
    ) -> Result<bool, StoreError> {
        let (accounts, held) = match &self.books {
            Some(b) => (
                b.sql.as_str(),
                format!(" AND (SELECT count(*) FROM accounts) = ${}", self.offset),
            ),
            None => ("", String::new()),
        };
        let sql = format!(
            "WITH locked AS (SELECT id, log_size FROM tenants WHERE id = ANY($1::text[]) \
               ORDER BY id COLLATE \"C\" FOR NO KEY UPDATE), {accounts}\
             heads AS (UPDATE tenants t SET log_size = h.size \
               FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS h(id, guess, size), locked l \
               WHERE t.id = h.id AND l.id = h.id AND l.log_size = h.guess \
                 AND (SELECT count(*) FROM locked) = $4{held} RETURNING t.id), \
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
        if let Some(b) = self.books {
            for c in b.columns {
                q = c.bind(q);
            }
            q = q.bind(b.accounts);
        }
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

    #[test]
    fn known_books_follow_the_charges_written_and_start_each_period_at_nothing_spent() {
        let known = KnownAccounts::default();
        let (u, v) = (key("u"), key("v"));
        let now = 1_800_000_000_000_000;
        let read = Books {
            billing_enabled: true,
            limit_currency: "USD".into(),
            daily_limit: Some(10),
            monthly_limit: None,
            balance: 100,
            held: 5,
            day: day_of(now),
            day_spent: 3,
            month: month_of(now),
            month_spent: 30,
        };
        known.remember([&u].into_iter());
        assert!(
            known.books([&u].into_iter(), now).is_none(),
            "known, books unread"
        );
        let w = charges::Writes {
            balances: vec![(u.clone(), 93, 5, 7, 1)],
            spend: vec![
                (u.clone(), "day", day_of(now), 7, 1),
                (u.clone(), "month", month_of(now), 7, 1),
                (v.clone(), "day", day_of(now), 1, 1),
            ],
            ..Default::default()
        };
        known.charged(&[(u.clone(), read.clone())].into(), &w);
        let (_, after) = known.books([&u].into_iter(), now).expect("u").remove(0);
        assert_eq!((after.balance, after.held), (93, 5));
        assert_eq!((after.day_spent, after.month_spent), (10, 37));
        let view = after.view("USD");
        assert_eq!(
            (view.daily_used, view.monthly_used),
            (15, 42),
            "holds count"
        );
        assert_eq!(
            after.view("EUR").daily_used,
            10,
            "another currency's holds do not"
        );
        let tomorrow = now + tollgate_core::time::DAY_US;
        let (_, next) = known
            .books([&u].into_iter(), tomorrow)
            .expect("u")
            .remove(0);
        assert_eq!(next.day, day_of(tomorrow));
        assert_eq!(next.day_spent, 0, "a new day has spent nothing");
        assert!(
            known.books([&u, &v].into_iter(), now).is_none(),
            "v unknown"
        );
        known.stale([&u].into_iter());
        assert!(
            known.books([&u].into_iter(), now).is_none(),
            "stale books are dropped"
        );
        assert!(
            known.all([&u].into_iter()),
            "but the account is still known"
        );
    }
}
