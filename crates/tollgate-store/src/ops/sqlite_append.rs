//! The ingestion and authorization transactions on SQLite, run on the writer thread with
//! cached prepared statements, writing exactly the rows `rows` describes.
//!
//! The group commit hands a batch to the writer thread as one job; the whole transaction
//! runs there without a hand-off per statement.

use std::sync::LazyLock;

use rusqlite::{
    params_from_iter, Connection, OptionalExtension, Params, Statement, TransactionBehavior,
};
use tollgate_core::rate::{minute_of, Limits};
use tollgate_core::time::{day_of, month_of, now_us};

use super::authorize;
use super::charges;
use super::charges::OpenHold;
use super::plans;
use super::rate;
use super::rows::{
    self, by_tenant, finished, insert_one, AccountStateRow, AccountViewRow, Earlier, CALL_COLUMNS,
    RECORDED_COLUMNS,
};
use crate::db::{FromRow as _, Row};
use crate::model::{
    AccountDefaults, AccountState, AppendItem, AuthorizeRequest, Decision, QuotaState, RateKind,
    Recorded,
};
use crate::StoreError;
use tollgate_core::Nanos;

/// Appends `items` in one immediate transaction.
pub(crate) fn append(
    conn: &mut Connection,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let recorded_us = now_us();
    for (tenant, indexes) in by_tenant(items) {
        let size: i64 = tx
            .prepare_cached("SELECT log_size FROM tenants WHERE id = ?1")?
            .query_row([tenant], |r| r.get("log_size"))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
        let mut earlier = earlier(&tx, tenant, items, &indexes)?;
        let rows::Assigned {
            fresh,
            size,
            claims,
        } = rows::assign(items, &indexes, size, &mut earlier, &mut outcomes);
        for c in claims {
            tx.prepare_cached(
                "UPDATE conversations SET companion_claimed = 1 WHERE tenant_id = ?1 AND id = ?2",
            )?
            .execute(rusqlite::params![tenant, c.to_string()])?;
        }
        if fresh.is_empty() {
            continue;
        }
        {
            let mut insert = tx.prepare_cached(&INSERT_EVENT)?;
            for &(i, seq) in &fresh {
                insert.execute(params_from_iter(rows::event_row(
                    &items[i],
                    seq,
                    recorded_us,
                )))?;
            }
        }
        for &(i, _) in &fresh {
            if let Some(conv) = &items[i].conversation {
                tx.prepare_cached(&INSERT_CONVERSATION)?
                    .execute(params_from_iter(rows::conversation_row(&items[i], conv)))?;
                let mut insert = tx.prepare_cached(&INSERT_MESSAGE)?;
                for (p, m) in (0..).zip(&conv.messages) {
                    insert.execute(params_from_iter(rows::message_row(tenant, conv.id, p, m)))?;
                }
            }
        }
        for &(i, _) in &fresh {
            if let Some(exec) = &items[i].execution {
                let log_id = Some(items[i].event.log_id);
                tx.prepare_cached(super::executions::INSERT)?
                    .execute(params_from_iter(super::executions::args(
                        tenant, exec, log_id,
                    )))?;
            }
        }
        for rollup in rows::rollups(tenant, items, &fresh) {
            let mut upsert = tx.prepare_cached(&rollup.table.insert_one)?;
            for row in rollup.rows {
                upsert.execute(params_from_iter(row))?;
            }
        }
        charge(&tx, items, &fresh, recorded_us)?;
        tx.prepare_cached("UPDATE tenants SET log_size = ?1 WHERE id = ?2")?
            .execute(rusqlite::params![size, tenant])?;
    }
    tx.commit()?;
    finished(outcomes)
}

/// Decides a batch of authorizations in one immediate transaction (see `authorize`).
pub(crate) fn authorize(
    conn: &mut Connection,
    requests: &[AuthorizeRequest],
    defaults: &AccountDefaults,
    now: i64,
) -> Result<Vec<Decision>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let month = month_of(now);
    let mut quotas = std::collections::BTreeMap::new();
    for tenant in authorize::batch_tenants(requests) {
        tx.prepare_cached(authorize::QUOTA_ROW)?
            .execute(rusqlite::params![tenant, month])?;
        let (plan, limit): (Option<String>, Option<i64>) = tx
            .prepare_cached(&format!(
                "SELECT {} FROM tenants t {} WHERE t.id = ?1",
                plans::PLAN_COLUMNS,
                plans::PLAN_JOINS
            ))?
            .query_row(rusqlite::params![tenant], |r| {
                Ok((r.get("plan_name")?, r.get("plan_requests")?))
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound("tenant".into()))?;
        let (used, reserved): (i64, i64) = tx
            .prepare_cached(authorize::QUOTA_USAGE)?
            .query_row(rusqlite::params![tenant, month], |r| {
                Ok((r.get("used_requests")?, r.get("reserved_requests")?))
            })?;
        quotas.insert(
            tenant,
            QuotaState {
                plan: plans::found(plan)?,
                limit,
                used,
                reserved,
                month,
            },
        );
    }
    let mut accounts = std::collections::BTreeMap::new();
    for key in authorize::batch_accounts(requests) {
        let state = account_state(&tx, &key, defaults, now)?;
        accounts.insert(key, state);
    }
    let mut windows = rate_windows(&tx, requests, now)?;
    let (decisions, writes) =
        authorize::decide_batch(requests, &mut quotas, &mut accounts, &mut windows, now)?;
    for w in &writes.statements() {
        run(&tx, w)?;
    }
    let mut add = tx.prepare_cached(rate::ADD)?;
    for ((tenant, kind, subject), minute, requests, tokens) in windows.writes() {
        add.execute(rusqlite::params![
            tenant,
            kind.as_str(),
            subject,
            minute,
            requests,
            tokens
        ])?;
    }
    drop(add);
    tx.commit()?;
    Ok(decisions)
}

/// The rate windows of a batch's subjects that have a limit (see `rate`), read after the
/// tenants' quota rows are locked.
fn rate_windows(
    tx: &rusqlite::Transaction<'_>,
    requests: &[AuthorizeRequest],
    now: i64,
) -> Result<rate::Windows, StoreError> {
    let subjects = rate::batch_subjects(requests);
    let mut plans = std::collections::BTreeMap::new();
    let mut overrides = std::collections::BTreeMap::new();
    let mut plan_stmt = tx.prepare_cached(&rate::plan_rates_sql())?;
    let mut override_stmt = tx.prepare_cached(rate::OVERRIDE)?;
    for key in &subjects {
        if !plans.contains_key(&key.0) {
            let v = plan_stmt.query_row(rusqlite::params![key.0], |r| {
                let mut v = [None; 6];
                for (i, slot) in v.iter_mut().enumerate() {
                    *slot = r.get(i)?;
                }
                Ok(v)
            })?;
            plans.insert(key.0.clone(), rate::plan_rates(v));
        }
        if key.1 != RateKind::Ip {
            let own = override_stmt
                .query_row(rusqlite::params![key.0, key.1.as_str(), key.2], |r| {
                    Ok(Limits {
                        rpm: r.get(0)?,
                        tpm: r.get(1)?,
                    })
                })
                .optional()?;
            if let Some(own) = own {
                overrides.insert(key.clone(), own);
            }
        }
    }
    let mut windows = rate::Windows::default();
    let mut counts = tx.prepare_cached(rate::COUNTS)?;
    for (key, limits) in rate::Windows::limits(&subjects, &plans, &overrides) {
        let rows = counts
            .query_map(
                rusqlite::params![key.0, key.1.as_str(), key.2, minute_of(now) - 1],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
            .collect::<Result<Vec<(i64, i64, i64)>, _>>()?;
        windows.insert(key, limits, &rows, now);
    }
    Ok(windows)
}

/// An account's state for a decision, created with `defaults` if it does not exist.
fn account_state(
    tx: &rusqlite::Transaction<'_>,
    key: &authorize::AccountKey,
    defaults: &AccountDefaults,
    now: i64,
) -> Result<AccountState, StoreError> {
    let (tenant, user, currency) = key;
    let read = |tx: &rusqlite::Transaction<'_>| -> Result<Option<AccountStateRow>, StoreError> {
        let mut stmt = tx.prepare_cached(authorize::ACCOUNT_STATE)?;
        first_row(&mut stmt, rusqlite::params![tenant, user, currency])?
            .map(|r| AccountStateRow::from_row(&r))
            .transpose()
    };
    let row = match read(tx)? {
        Some(row) => row,
        None => {
            for stmt in charges::ensure_statements(key, defaults, now) {
                run(tx, &stmt)?;
            }
            read(tx)?.ok_or_else(|| StoreError::Invariant("a new account is missing".into()))?
        }
    };
    let limit_currency = row.limit_currency.clone();
    let mut state = row.into_state(user.clone(), currency)?;
    let mut periods = tx.prepare_cached(charges::PERIODS_USED)?;
    let mut rows = periods.query(rusqlite::params![
        tenant,
        user,
        limit_currency,
        day_of(now),
        month_of(now)
    ])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get("kind")?;
        let spent = Nanos(r.get("spent_nanos")?);
        match kind.as_str() {
            "day" => state.daily_used = spent,
            _ => state.monthly_used = spent,
        }
    }
    // Open holds count against both limits until they are settled.
    if state.limit_currency == state.currency {
        state.daily_used = Nanos(state.daily_used.0 + state.held.0);
        state.monthly_used = Nanos(state.monthly_used.0 + state.held.0);
    }
    Ok(state)
}

/// Bills the fresh calls of one tenant (see `charges`), in the append's transaction.
fn charge(
    tx: &rusqlite::Transaction<'_>,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
    now: i64,
) -> Result<(), StoreError> {
    let lines = charges::lines(items, fresh);
    if lines.is_empty() {
        return Ok(());
    }
    let mut holds = Vec::new();
    for (tenant, id) in charges::hold_ids(&lines) {
        let mut stmt = tx.prepare_cached(charges::OPEN_HOLD)?;
        if let Some(r) = first_row(&mut stmt, rusqlite::params![tenant, id])? {
            holds.push(OpenHold::from(charges::HoldRow::from_row(&r)?));
        }
    }
    let mut views = std::collections::BTreeMap::new();
    for (key, defaults) in charges::accounts(&lines, &holds) {
        let (tenant, user, currency) = &key;
        let read =
            |tx: &rusqlite::Transaction<'_>| -> Result<Option<charges::AccountView>, StoreError> {
                let mut stmt = tx.prepare_cached(charges::ACCOUNT_VIEW)?;
                first_row(&mut stmt, rusqlite::params![tenant, user, currency])?
                    .map(|r| AccountViewRow::from_row(&r).map(charges::AccountView::from))
                    .transpose()
            };
        // Most calls charge an account that exists: create it only when the read finds none.
        let mut view = match read(tx)? {
            Some(v) => v,
            None => {
                for stmt in charges::ensure_statements(&key, defaults, now) {
                    run(tx, &stmt)?;
                }
                read(tx)?.ok_or_else(|| StoreError::Invariant("a new account is missing".into()))?
            }
        };
        if view.has_limit() {
            let mut periods = tx.prepare_cached(charges::PERIODS_USED)?;
            let mut rows = periods.query(rusqlite::params![
                tenant,
                user,
                view.limit_currency,
                day_of(now),
                month_of(now)
            ])?;
            while let Some(r) = rows.next()? {
                let kind: String = r.get("kind")?;
                let spent: i64 = r.get("spent_nanos")?;
                match kind.as_str() {
                    "day" => view.daily_used = spent,
                    _ => view.monthly_used = spent,
                }
            }
        }
        // Open holds count against both limits until they are settled.
        if view.limit_currency == *currency {
            view.daily_used += view.held;
            view.monthly_used += view.held;
        }
        views.insert(key, view);
    }
    let writes = charges::plan(&lines, holds, views, now)?;
    for stmt in charges::statements(&writes, now) {
        run(tx, &stmt)?;
    }
    Ok(())
}

fn run(tx: &rusqlite::Transaction<'_>, stmt: &charges::Stmt) -> Result<(), StoreError> {
    tx.prepare_cached(stmt.sql)?
        .execute(params_from_iter(&stmt.args))?;
    Ok(())
}

/// The statements that insert one event, conversation and message: built once, as every
/// commit looks them up in the statement cache.
static INSERT_EVENT: LazyLock<String> =
    LazyLock::new(|| insert_one("usage_events", rows::EVENT_TABLE_COLUMNS, ""));
static INSERT_CONVERSATION: LazyLock<String> =
    LazyLock::new(|| insert_one("conversations", rows::CONVERSATION_TABLE_COLUMNS, ""));
static INSERT_MESSAGE: LazyLock<String> =
    LazyLock::new(|| insert_one("messages", rows::MESSAGE_TABLE_COLUMNS, ""));

/// The first row `stmt` answers for `params`, if any, copied so that it decodes by name.
fn first_row(stmt: &mut Statement<'_>, params: impl Params) -> Result<Option<Row>, StoreError> {
    let mut rows = stmt.query(params)?;
    rows.next()?.map(Row::copy_of).transpose()
}

fn earlier(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<Earlier, StoreError> {
    let (requests, calls) = rows::dedupe_keys(items, indexes);
    let mut found = Earlier::default();
    if !requests.is_empty() {
        let mut by_request = tx.prepare_cached(&format!(
            "SELECT {RECORDED_COLUMNS} FROM usage_events e
             LEFT JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                                      AND e.source = 'conversation'
             WHERE e.tenant_id = ?1 AND e.request_id = ?2"
        ))?;
        for r in requests {
            if let Some(row) = first_row(&mut by_request, rusqlite::params![tenant, r])? {
                found.by_request.insert(r, rows::recorded(&row)?);
            }
        }
    }
    if !calls.is_empty() {
        let mut by_call = tx.prepare_cached(&format!(
            "SELECT {RECORDED_COLUMNS}, {CALL_COLUMNS} FROM usage_events e
             JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
             WHERE e.source = 'conversation' AND e.tenant_id = ?1 AND e.conversation_id = ?2"
        ))?;
        for c in calls {
            if let Some(row) = first_row(&mut by_call, rusqlite::params![tenant, c])? {
                if let Some((id, call)) = rows::conversation_call(&row)? {
                    found.by_call.insert(id, call);
                }
            }
        }
    }
    Ok(found)
}
