//! The ingestion and authorization transactions on SQLite, run on the writer thread with
//! cached prepared statements, writing exactly the rows `rows` describes.
//!
//! The group commit hands a batch to the writer thread as one job; the whole transaction
//! runs there without a hand-off per statement.

use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use tollgate_core::time::{day_of, month_of, now_us};

use super::authorize;
use super::charges;
use super::charges::OpenHold;
use super::plans;
use super::rows::{
    self, by_tenant, finished, ConversationCall, Earlier, RecordedRow, CALL_COLUMNS,
    RECORDED_COLUMNS,
};
use crate::model::{
    AccountDefaults, AccountState, AppendItem, AuthorizeRequest, Decision, QuotaState, Recorded,
};
use crate::StoreError;
use tollgate_core::{Currency, Nanos};

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
            .query_row([tenant], |r| r.get(0))
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
            let mut insert =
                tx.prepare_cached(&insert_one("usage_events", rows::EVENT_TABLE_COLUMNS, ""))?;
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
                tx.prepare_cached(&insert_one(
                    "conversations",
                    rows::CONVERSATION_TABLE_COLUMNS,
                    "",
                ))?
                .execute(params_from_iter(rows::conversation_row(&items[i], conv)))?;
                let mut insert =
                    tx.prepare_cached(&insert_one("messages", rows::MESSAGE_TABLE_COLUMNS, ""))?;
                for (p, m) in conv.messages.iter().enumerate() {
                    insert.execute(params_from_iter(rows::message_row(tenant, conv, p, m)))?;
                }
            }
        }
        for rollup in rows::rollups(tenant, items, &fresh) {
            let mut upsert = tx.prepare_cached(&insert_one(
                rollup.table,
                &rollup.columns,
                &rollup.on_conflict,
            ))?;
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
    {
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
                    Ok((r.get(0)?, r.get(1)?))
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
        let (decisions, writes) =
            authorize::decide_batch(requests, &mut quotas, &mut accounts, now)?;
        for w in &writes.statements() {
            run(&tx, w)?;
        }
        tx.commit()?;
        Ok(decisions)
    }
}

/// An account's state for a decision, created with `defaults` if it does not exist.
fn account_state(
    tx: &rusqlite::Transaction<'_>,
    key: &authorize::AccountKey,
    defaults: &AccountDefaults,
    now: i64,
) -> Result<AccountState, StoreError> {
    let (tenant, user, currency) = key;
    let read = |tx: &rusqlite::Transaction<'_>| {
        tx.prepare_cached(authorize::ACCOUNT_STATE)?
            .query_row(rusqlite::params![tenant, user, currency], |r| {
                Ok((
                    r.get::<_, i64>(0)? != 0,
                    r.get::<_, i64>(1)? != 0,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .optional()
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
    let (is_active, billing_enabled, limit_currency, daily, monthly, balance, held) = row;
    let mut state = AccountState {
        user_id: user.clone(),
        is_active,
        billing_enabled,
        currency: Currency::try_from(currency.clone()).map_err(StoreError::Invariant)?,
        balance: Nanos(balance),
        held: Nanos(held),
        limit_currency: Currency::try_from(limit_currency.clone())
            .map_err(StoreError::Invariant)?,
        daily_limit: daily.map(Nanos),
        daily_used: Nanos::ZERO,
        monthly_limit: monthly.map(Nanos),
        monthly_used: Nanos::ZERO,
    };
    let mut periods = tx.prepare_cached(charges::PERIODS_USED)?;
    let mut rows = periods.query(rusqlite::params![
        tenant,
        user,
        limit_currency,
        day_of(now),
        month_of(now)
    ])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let spent = Nanos(r.get(1)?);
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
        let hold = tx
            .prepare_cached(charges::OPEN_HOLD)?
            .query_row(rusqlite::params![tenant, id], |r| {
                Ok(OpenHold {
                    tenant_id: r.get(0)?,
                    id: r.get(1)?,
                    user_id: r.get(2)?,
                    currency: r.get(3)?,
                    amount: r.get(4)?,
                })
            })
            .optional()?;
        holds.extend(hold);
    }
    let mut views = std::collections::BTreeMap::new();
    for (key, defaults) in charges::accounts(&lines, &holds) {
        let (tenant, user, currency) = &key;
        let read = |tx: &rusqlite::Transaction<'_>| {
            tx.prepare_cached(charges::ACCOUNT_VIEW)?
                .query_row(rusqlite::params![tenant, user, currency], |r| {
                    Ok(charges::AccountView {
                        billing_enabled: r.get::<_, i64>(0)? != 0,
                        limit_currency: r.get(1)?,
                        daily_limit: r.get(2)?,
                        monthly_limit: r.get(3)?,
                        balance: r.get(4)?,
                        held: r.get(5)?,
                        daily_used: 0,
                        monthly_used: 0,
                    })
                })
                .optional()
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
        let mut periods = tx.prepare_cached(charges::PERIODS_USED)?;
        let mut rows = periods.query(rusqlite::params![
            tenant,
            user,
            view.limit_currency,
            day_of(now),
            month_of(now)
        ])?;
        while let Some(r) = rows.next()? {
            let kind: String = r.get(0)?;
            let spent: i64 = r.get(1)?;
            match kind.as_str() {
                "day" => view.daily_used = spent,
                _ => view.monthly_used = spent,
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

fn placeholders(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

fn insert_one(table: &str, columns: &str, tail: &str) -> String {
    let n = columns.split(',').count();
    format!(
        "INSERT INTO {table} ({columns}) VALUES {}{tail}",
        placeholders(n)
    )
}

fn recorded(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedRow> {
    Ok(RecordedRow {
        log_id: r.get(0)?,
        seq: r.get(1)?,
        ts_us: r.get(2)?,
        cost_nanos: r.get(3)?,
        currency: r.get(4)?,
        flags: r.get(5)?,
        price_version: r.get(6)?,
        conversation_id: r.get(7)?,
        message_id: r.get(8)?,
    })
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
            if let Some(row) = by_request
                .query_row(rusqlite::params![tenant, r], recorded)
                .optional()?
            {
                found.by_request.insert(r, row.into_recorded()?);
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
            let found_call = by_call
                .query_row(rusqlite::params![tenant, c], |r| {
                    Ok((
                        recorded(r)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, String>(10)?,
                        r.get::<_, i64>(11)?,
                        r.get::<_, i64>(12)?,
                    ))
                })
                .optional()?;
            if let Some((row, provider, model, output_tokens, claimed)) = found_call {
                let recorded = row.into_recorded()?;
                if let Some(id) = recorded.conversation_id {
                    found.by_call.insert(
                        id,
                        ConversationCall {
                            recorded,
                            provider,
                            model,
                            output_tokens,
                            claimed: claimed != 0,
                        },
                    );
                }
            }
        }
    }
    Ok(found)
}
