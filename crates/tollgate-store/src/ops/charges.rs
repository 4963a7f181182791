//! Charging recorded calls to their users' accounts, inside the append transaction.
//!
//! The decisions are made here, once, from what the engine's executor read under lock (the
//! open holds the calls name, the accounts they charge); each engine then writes the rows
//! this module plans. A charge is never refused: the call already happened. When it takes the
//! balance below zero or spend past a limit, the entry is flagged instead.
//!
//! Locks are taken tenant log head → holds → balances, the store's order (see `ops`). A
//! settled hold stops counting against the quota by being closed: no quota row is touched.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::billing::AccountBooks;
use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::{day_of, month_of};
use tollgate_core::{Currency, EventSource, Nanos};

use super::alerts::{self, LimitSpend, Period};
use super::decode::json_object;
use crate::db::{row, Arg};
use crate::model::{AccountDefaults, AppendItem, LedgerEntry, LedgerKind};
use crate::webhooks::NewAlert;
use crate::StoreError;

/// An open hold, as closing it needs it.
pub(crate) struct OpenHold {
    pub(crate) tenant_id: String,
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) currency: String,
    pub(crate) amount: i64,
}

row! {
    /// An open hold as [`OPEN_HOLD`] (and every other read of those columns) reads it.
    pub(crate) struct HoldRow {
        tenant_id: String,
        id: String,
        user_id: String,
        currency: String,
        amount_nanos: i64,
    }
}

impl From<HoldRow> for OpenHold {
    fn from(r: HoldRow) -> OpenHold {
        OpenHold {
            tenant_id: r.tenant_id,
            id: r.id,
            user_id: r.user_id,
            currency: r.currency,
            amount: r.amount_nanos,
        }
    }
}

/// (tenant, user, currency)
pub(crate) type AccountKey = (String, String, String);

/// One recorded call to bill.
pub(crate) struct Line<'a> {
    pub(crate) item: &'a AppendItem,
    pub(crate) log_id: String,
}

/// The calls of `fresh` (item index, seq) that are billed.
pub(crate) fn lines<'a>(items: &'a [AppendItem], fresh: &[(usize, i64)]) -> Vec<Line<'a>> {
    fresh
        .iter()
        .filter(|(i, _)| items[*i].charge.is_some())
        .map(|(i, _)| Line {
            item: &items[*i],
            log_id: items[*i].event.log_id.to_string(),
        })
        .collect()
}

/// The holds the lines settle, as (tenant, hold id).
pub(crate) fn hold_ids(lines: &[Line<'_>]) -> BTreeSet<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let hold = l.item.charge.as_ref()?.hold_id.clone()?;
            Some((l.item.event.tenant_id.clone(), hold))
        })
        .collect()
}

/// The accounts the lines charge, with the defaults to create them with, in lock order.
pub(crate) fn accounts<'a>(
    lines: &[Line<'a>],
    holds: &[OpenHold],
) -> BTreeMap<AccountKey, &'a AccountDefaults> {
    // Many lines charge the same account: the keys are copied once per account.
    let mut out: BTreeMap<(&str, &str, &str), &'a AccountDefaults> = BTreeMap::new();
    for l in lines {
        let e = &l.item.event;
        let (Some(user), Some(charge)) = (&e.user_id, &l.item.charge) else {
            continue;
        };
        out.insert(
            (e.tenant_id.as_str(), user.as_str(), e.currency.as_str()),
            &*charge.defaults,
        );
    }
    // A settled hold gives back money held on its own account, which must be locked too.
    if let Some(defaults) = lines.iter().find_map(|l| l.item.charge.as_ref()) {
        for h in holds.iter().filter(|h| !h.user_id.is_empty()) {
            out.entry((&h.tenant_id, &h.user_id, &h.currency))
                .or_insert(&*defaults.defaults);
        }
    }
    out.into_iter()
        .map(|((tenant, user, currency), d)| {
            (
                (tenant.to_string(), user.to_string(), currency.to_string()),
                d,
            )
        })
        .collect()
}

/// An account as read under lock: core's books, which the charge rules work on.
pub(crate) type AccountView = AccountBooks;

/// The rows to write.
#[derive(Default)]
pub(crate) struct Writes {
    /// Holds to close as settled: (hold, the call's log id).
    pub(crate) settled: Vec<(OpenHold, String)>,
    /// Ledger entries, in order.
    pub(crate) entries: Vec<LedgerEntry>,
    /// Final balance, held, added spend and added calls of each account touched.
    pub(crate) balances: Vec<(AccountKey, i64, i64, i64, i64)>,
    /// Spend rows: (account, kind, period, spent delta, requests delta).
    pub(crate) spend: Vec<(AccountKey, &'static str, i64, i64, i64)>,
    /// Thresholds the charges crossed (rare; usually empty).
    pub(crate) alerts: Vec<NewAlert>,
}

fn overflow() -> StoreError {
    StoreError::Invariant("an account total overflows".into())
}

/// One account the lines charge, as read under lock, and what they add to it.
struct AccountCharges {
    key: AccountKey,
    view: AccountView,
    /// Before any line: spent today, spent this month (both without open holds: limit
    /// thresholds count money spent, not money reserved) and the balance.
    before: (i64, i64, i64),
    /// Whether a line charges it (then it gets its day's and month's spend rows).
    billed: bool,
    /// Its lines' cost and calls, for the spend rows and the balance row's call count.
    cost: i64,
    calls: i64,
    /// What came off the balance.
    spent: i64,
    /// What counts against the limits, when anything does.
    against_limits: Option<i64>,
    /// The `balance.low` threshold of its last line, when set.
    balance_low: Option<i64>,
}

/// The account of `(tenant, user, currency)` among `accounts` (in key order).
fn account<'a>(
    accounts: &'a mut [AccountCharges],
    tenant: &str,
    user: &str,
    currency: &str,
) -> Result<&'a mut AccountCharges, StoreError> {
    let at = accounts
        .binary_search_by(|a| {
            (a.key.0.as_str(), a.key.1.as_str(), a.key.2.as_str()).cmp(&(tenant, user, currency))
        })
        .map_err(|_| StoreError::Invariant("an unlocked account".into()))?;
    Ok(&mut accounts[at])
}

/// Decides every row to write. Each line costs a binary search among the accounts and its
/// ledger entry; the rows per account are built once, at the end.
pub(crate) fn plan(
    lines: &[Line<'_>],
    holds: Vec<OpenHold>,
    views: BTreeMap<AccountKey, AccountView>,
    now: i64,
) -> Result<Writes, StoreError> {
    let mut w = Writes::default();
    let mut holds: BTreeMap<(String, String), OpenHold> = holds
        .into_iter()
        .map(|h| ((h.tenant_id.clone(), h.id.clone()), h))
        .collect();
    let mut accounts: Vec<AccountCharges> = views
        .into_iter()
        .map(|(key, view)| {
            let held = if view.limit_currency == key.2 {
                view.held
            } else {
                0
            };
            AccountCharges {
                before: (
                    view.daily_used - held,
                    view.monthly_used - held,
                    view.balance,
                ),
                key,
                view,
                billed: false,
                cost: 0,
                calls: 0,
                spent: 0,
                against_limits: None,
                balance_low: None,
            }
        })
        .collect();
    for l in lines {
        let e = &l.item.event;
        let Some(charge) = &l.item.charge else {
            continue;
        };
        // Settle the hold first, so that its reservation no longer counts against the call.
        if let Some(hold_id) = &charge.hold_id {
            if let Some(h) = holds.remove(&(e.tenant_id.clone(), hold_id.clone())) {
                if !h.user_id.is_empty() {
                    let a = account(&mut accounts, &h.tenant_id, &h.user_id, &h.currency)?;
                    a.view.release(h.amount, &h.currency);
                    w.entries.push(entry(
                        &h.tenant_id,
                        &h.user_id,
                        LedgerKind::Release,
                        Nanos(h.amount),
                        Nanos::ZERO,
                        &h.currency,
                        a.view.balance,
                        Some(&l.log_id),
                        Some(&h.id),
                        e.request_id.as_deref(),
                        Some("hold settled".into()),
                        0,
                        now,
                    )?);
                }
                w.settled.push((h, l.log_id.clone()));
            }
        }
        let Some(user) = &e.user_id else { continue };
        let currency = e.currency.as_str();
        let a = account(&mut accounts, &e.tenant_id, user, currency)?;
        let cost = e.cost.0;
        // A repricing charges what the call it prices turned out to cost; it is no new call.
        a.calls += i64::from(e.source != EventSource::Adjustment);
        a.cost = a.cost.checked_add(cost).ok_or_else(overflow)?;
        a.billed = true;
        if let Some(low) = charge.balance_low {
            a.balance_low = Some(low.0);
        }
        let done = a.view.charge(cost, currency).map_err(|_| overflow())?;
        if done.against_limits {
            *a.against_limits.get_or_insert(0) += cost;
        }
        let (Some(before), flags) = (done.balance_before, done.flags) else {
            continue;
        };
        a.spent += cost;
        w.entries.push(entry(
            &e.tenant_id,
            user,
            LedgerKind::Charge,
            e.cost,
            Nanos(-cost),
            currency,
            before,
            Some(&l.log_id),
            charge.hold_id.as_deref(),
            e.request_id.as_deref(),
            None,
            flags,
            now,
        )?);
    }
    let (day, month) = (day_of(now), month_of(now));
    for a in &accounts {
        w.alerts.extend(crossings(a, now));
    }
    for a in accounts {
        if a.billed {
            for (kind, period) in [("day", day), ("month", month)] {
                w.spend.push((a.key.clone(), kind, period, a.cost, a.calls));
            }
        }
        w.balances
            .push((a.key, a.view.balance, a.view.held, a.spent, a.calls));
    }
    Ok(w)
}

/// The alerts one account's charges raise: a few comparisons when none is crossed.
fn crossings(a: &AccountCharges, now: i64) -> Vec<NewAlert> {
    let mut out = Vec::new();
    let (day_before, month_before, balance_before) = a.before;
    let (tenant, user, currency) = &a.key;
    if let Some(added) = a.against_limits {
        for (period, limit, spent) in [
            (Period::Day(day_of(now)), a.view.daily_limit, day_before),
            (
                Period::Month(month_of(now)),
                a.view.monthly_limit,
                month_before,
            ),
        ] {
            if let Some(limit) = limit {
                let spend = LimitSpend {
                    tenant_id: tenant,
                    user_id: user,
                    currency,
                    period,
                    limit,
                    before: spent,
                    after: spent.saturating_add(added),
                };
                alerts::limit_alerts(&spend, now, &mut out);
            }
        }
    }
    if let Some(low) = a.balance_low {
        out.extend(alerts::balance_alert(
            tenant,
            user,
            currency,
            day_of(now),
            low,
            balance_before,
            a.view.balance,
            now,
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn entry(
    tenant: &str,
    user: &str,
    kind: LedgerKind,
    amount: Nanos,
    delta: Nanos,
    currency: &str,
    before: i64,
    log_id: Option<&str>,
    hold_id: Option<&str>,
    request_id: Option<&str>,
    description: Option<String>,
    flags: i64,
    now: i64,
) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        id: new_id(IdKind::Transaction),
        tenant_id: tenant.to_string(),
        user_id: user.to_string(),
        kind,
        amount: Nanos(amount.0.abs()),
        delta,
        currency: Currency::try_from(currency.to_string()).map_err(StoreError::Invariant)?,
        balance_before: Nanos(before),
        balance_after: Nanos(before + delta.0),
        log_id: log_id.map(str::to_string),
        hold_id: hold_id.map(str::to_string),
        request_id: request_id.map(str::to_string),
        payment_provider: None,
        payment_id: None,
        description,
        metadata: Default::default(),
        flags,
        created_us: now,
    })
}

/// One write, with `?N` placeholders (PostgreSQL's executor turns them into `$N`).
pub(crate) struct Stmt {
    pub(crate) sql: &'static str,
    pub(crate) args: Vec<Arg>,
}

/// The columns of a ledger entry, in [`entry_args`] order.
pub(crate) const LEDGER_COLUMNS: &str = "id, tenant_id, user_id, kind, amount_nanos, delta_nanos, \
     currency, balance_before_nanos, balance_after_nanos, log_id, hold_id, request_id, \
     payment_provider, payment_id, description, metadata, flags, created_us";

row! {
    /// A ledger entry as [`LEDGER_COLUMNS`] reads it.
    pub(crate) struct LedgerRow {
        id: String,
        tenant_id: String,
        user_id: String,
        kind: String,
        amount_nanos: i64,
        delta_nanos: i64,
        currency: String,
        balance_before_nanos: i64,
        balance_after_nanos: i64,
        log_id: Option<String>,
        hold_id: Option<String>,
        request_id: Option<String>,
        payment_provider: Option<String>,
        payment_id: Option<String>,
        description: Option<String>,
        metadata: Option<String>,
        flags: i64,
        created_us: i64,
    }
}

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = StoreError;

    fn try_from(r: LedgerRow) -> Result<LedgerEntry, StoreError> {
        let kind = LedgerKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Invariant(format!("unknown ledger kind {}", r.kind)))?;
        Ok(LedgerEntry {
            id: r.id,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            kind,
            amount: Nanos(r.amount_nanos),
            delta: Nanos(r.delta_nanos),
            currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
            balance_before: Nanos(r.balance_before_nanos),
            balance_after: Nanos(r.balance_after_nanos),
            log_id: r.log_id,
            hold_id: r.hold_id,
            request_id: r.request_id,
            payment_provider: r.payment_provider,
            payment_id: r.payment_id,
            description: r.description,
            metadata: json_object(r.metadata),
            flags: r.flags,
            created_us: r.created_us,
        })
    }
}

/// Inserts one ledger entry ([`entry_args`]).
pub(crate) const LEDGER_INSERT: &str = "INSERT INTO ledger_entries (id, tenant_id, user_id, kind, \
     amount_nanos, delta_nanos, currency, balance_before_nanos, balance_after_nanos, log_id, \
     hold_id, request_id, payment_provider, payment_id, description, metadata, flags, created_us) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/// A ledger entry's values for [`LEDGER_INSERT`].
pub(crate) fn entry_args(e: &LedgerEntry) -> Vec<Arg> {
    let metadata =
        (!e.metadata.is_empty()).then(|| serde_json::to_string(&e.metadata).unwrap_or_default());
    vec![
        e.id.clone().into(),
        e.tenant_id.clone().into(),
        e.user_id.clone().into(),
        e.kind.as_str().into(),
        e.amount.0.into(),
        e.delta.0.into(),
        e.currency.as_str().into(),
        e.balance_before.0.into(),
        e.balance_after.0.into(),
        e.log_id.clone().into(),
        e.hold_id.clone().into(),
        e.request_id.clone().into(),
        e.payment_provider.clone().into(),
        e.payment_id.clone().into(),
        e.description.clone().into(),
        metadata.into(),
        e.flags.into(),
        e.created_us.into(),
    ]
}

/// Every statement that writes `w`, in order.
pub(crate) fn statements(w: &Writes, now: i64) -> Vec<Stmt> {
    let mut out = Vec::new();
    for (h, log_id) in &w.settled {
        out.push(Stmt {
            sql: "UPDATE holds SET status = 'settled', closed_us = ?1, log_id = ?2 \
                  WHERE tenant_id = ?3 AND id = ?4 AND status = 'open'",
            args: vec![
                now.into(),
                log_id.clone().into(),
                h.tenant_id.clone().into(),
                h.id.clone().into(),
            ],
        });
    }
    for e in &w.entries {
        out.push(Stmt {
            sql: LEDGER_INSERT,
            args: entry_args(e),
        });
    }
    for b in &w.balances {
        out.push(Stmt {
            sql: "UPDATE account_balances SET balance_nanos = ?4, held_nanos = ?5, \
                  spent_nanos = spent_nanos + ?6, requests = requests + ?7, \
                  last_request_us = COALESCE(?8, last_request_us) \
                  WHERE tenant_id = ?1 AND user_id = ?2 AND currency = ?3",
            args: balance_args(b, now),
        });
    }
    for row in &w.spend {
        out.push(Stmt {
            sql: "INSERT INTO account_spend (tenant_id, user_id, currency, kind, period, \
                  spent_nanos, requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                  ON CONFLICT (tenant_id, user_id, currency, kind, period) DO UPDATE SET \
                  spent_nanos = account_spend.spent_nanos + excluded.spent_nanos, \
                  requests = account_spend.requests + excluded.requests",
            args: spend_args(row),
        });
    }
    for a in &w.alerts {
        out.push(Stmt {
            sql: alerts::ALERT_INSERT,
            args: alerts::alert_args(a),
        });
    }
    out
}

/// An account's new balance row, key first: tenant, user, currency, balance, held, the
/// spend and the calls to add, and the time of the last call (`now`; None when it made
/// none). Each engine's statement takes the values in this order.
pub(crate) fn balance_args(
    (key, balance, held, spent, calls): &(AccountKey, i64, i64, i64, i64),
    now: i64,
) -> Vec<Arg> {
    let (tenant, user, currency) = key;
    vec![
        tenant.clone().into(),
        user.clone().into(),
        currency.clone().into(),
        (*balance).into(),
        (*held).into(),
        (*spent).into(),
        (*calls).into(),
        (*calls > 0).then_some(now).into(),
    ]
}

/// A spend row's values in `account_spend`'s column order: tenant, user, currency, kind,
/// period, spent, requests.
pub(crate) fn spend_args(
    (key, kind, period, spent, n): &(AccountKey, &'static str, i64, i64, i64),
) -> Vec<Arg> {
    let (tenant, user, currency) = key;
    vec![
        tenant.clone().into(),
        user.clone().into(),
        currency.clone().into(),
        (*kind).into(),
        (*period).into(),
        (*spent).into(),
        (*n).into(),
    ]
}

/// Statements that create an account and its balance row if missing.
pub(crate) fn ensure_statements(key: &AccountKey, d: &AccountDefaults, now: i64) -> [Stmt; 2] {
    let (tenant, user, currency) = key;
    [
        Stmt {
            sql: "INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
                  limit_currency, daily_limit_nanos, monthly_limit_nanos, total_requests, \
                  created_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8) \
                  ON CONFLICT (tenant_id, user_id) DO NOTHING",
            args: vec![
                tenant.clone().into(),
                user.clone().into(),
                i64::from(d.is_active).into(),
                i64::from(d.billing_enabled).into(),
                d.limit_currency.as_str().into(),
                d.daily_limit.map(|n| n.0).into(),
                d.monthly_limit.map(|n| n.0).into(),
                now.into(),
            ],
        },
        Stmt {
            sql: "INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, \
                  held_nanos, spent_nanos) VALUES (?1, ?2, ?3, 0, 0, 0) \
                  ON CONFLICT (tenant_id, user_id, currency) DO NOTHING",
            args: vec![
                tenant.clone().into(),
                user.clone().into(),
                currency.clone().into(),
            ],
        },
    ]
}

/// Reads an account's view (the executor locks the balance row where the engine needs it):
/// billing_enabled, limit_currency, daily and monthly limits, balance, held.
pub(crate) const ACCOUNT_VIEW: &str = "SELECT a.billing_enabled, a.limit_currency, \
     a.daily_limit_nanos, a.monthly_limit_nanos, b.balance_nanos, b.held_nanos \
     FROM account_balances b JOIN billing_accounts a \
     ON a.tenant_id = b.tenant_id AND a.user_id = b.user_id \
     WHERE b.tenant_id = ?1 AND b.user_id = ?2 AND b.currency = ?3";

/// Charges of an account today and this month: (tenant, user, currency, day, month) → rows
/// of (kind, spent).
pub(crate) const PERIODS_USED: &str = "SELECT kind, spent_nanos FROM account_spend \
     WHERE tenant_id = ?1 AND user_id = ?2 AND currency = ?3 \
     AND ((kind = 'day' AND period = ?4) OR (kind = 'month' AND period = ?5))";

/// An open hold by (tenant, id).
pub(crate) const OPEN_HOLD: &str = "SELECT tenant_id, id, user_id, currency, amount_nanos \
     FROM holds WHERE tenant_id = ?1 AND id = ?2 AND status = 'open'";
