//! A tenant's accounts, a page at a time: each with its balances, its spend today and this
//! month, and how many holds are open on it.
//!
//! A page costs five reads whatever its size (the accounts, their count, then balances,
//! spend and open holds for the page's users at once), never one read per account.

use std::collections::HashMap;

use tollgate_core::time::{day_of, month_of, now_us};
use tollgate_core::{Currency, Nanos};

use super::billing::count_calls;
use crate::db::{row, Db, Sql};
use crate::model::{Account, AccountBalance, AccountFilter, ListedAccount, PeriodSpend};
use crate::StoreError;

row! {
    struct ListedRow {
        user_id: String,
        is_active: i64,
        billing_enabled: i64,
        limit_currency: String,
        daily_limit_nanos: Option<i64>,
        monthly_limit_nanos: Option<i64>,
        total_requests: i64,
        last_request_us: Option<i64>,
        created_us: i64,
    }
}

row! {
    struct UserBalanceRow {
        user_id: String,
        currency: String,
        balance_nanos: i64,
        held_nanos: i64,
        spent_nanos: i64,
        requests: i64,
        last_request_us: Option<i64>,
    }
}

row! {
    struct UserSpendRow { user_id: String, kind: String, currency: String, spent_nanos: i64, requests: i64 }
}

row! {
    struct UserHoldsRow { user_id: String, n: i64 }
}

fn currency(code: String) -> Result<Currency, StoreError> {
    Currency::try_from(code).map_err(StoreError::Invariant)
}

/// `select` from billing_accounts of `tenant`, narrowed by the filter's prefix.
fn selection(select: &str, tenant: &str, f: &AccountFilter) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {select} FROM billing_accounts WHERE tenant_id = "
    ));
    sql.push_bind(tenant);
    if let Some(prefix) = f.user_prefix.as_deref().filter(|p| !p.is_empty()) {
        // substr rather than LIKE: LIKE ignores ASCII case on SQLite and not on PostgreSQL,
        // and a prefix may hold % or _.
        // Every integer binds as BIGINT, which PostgreSQL's substr does not take.
        let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        sql.push(" AND substr(user_id, 1, CAST(")
            .push_bind(chars)
            .push(" AS INTEGER)) = ")
            .push_bind(prefix);
    }
    sql
}

/// `... AND user_id IN (...)` over `users`, after `head` (which binds the tenant as `$1`).
fn for_users(head: &str, tenant: &str, users: &[String]) -> Sql {
    let mut sql = Sql::new(head);
    sql.push_bind(tenant).push(" AND user_id IN (");
    for (i, u) in users.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(u);
    }
    sql.push(")");
    sql
}

/// A page of `tenant`'s accounts ordered by user id, and how many the filter selects.
pub(super) async fn accounts(
    db: &Db,
    tenant: &str,
    f: &AccountFilter,
) -> Result<(Vec<ListedAccount>, i64), StoreError> {
    let mut sql = selection(
        "user_id, is_active, billing_enabled, limit_currency, daily_limit_nanos, \
         monthly_limit_nanos, total_requests, last_request_us, created_us",
        tenant,
        f,
    );
    sql.push(" ORDER BY user_id LIMIT ")
        .push_bind(f.limit)
        .push(" OFFSET ")
        .push_bind(f.offset);
    let rows = sql.fetch_all_as::<ListedRow>(db).await?;
    // A short first page is the whole selection; otherwise count it.
    let total = if f.offset == 0 && (rows.len() as i64) < f.limit {
        rows.len() as i64
    } else {
        selection("CAST(COUNT(*) AS BIGINT) AS n", tenant, f)
            .fetch_one(db)
            .await?
            .get("n")?
    };
    if rows.is_empty() {
        return Ok((Vec::new(), total));
    }
    let users: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();

    let mut balances: HashMap<String, Vec<AccountBalance>> = HashMap::new();
    // The calls each balance row counts: (requests, last request) by user.
    let mut calls: HashMap<String, Vec<(i64, Option<i64>)>> = HashMap::new();
    let mut balance_sql = for_users(
        "SELECT user_id, currency, balance_nanos, held_nanos, spent_nanos, requests, \
         last_request_us FROM account_balances WHERE tenant_id = ",
        tenant,
        &users,
    );
    balance_sql.push(" ORDER BY user_id, currency");
    for b in balance_sql.fetch_all_as::<UserBalanceRow>(db).await? {
        calls
            .entry(b.user_id.clone())
            .or_default()
            .push((b.requests, b.last_request_us));
        balances.entry(b.user_id).or_default().push(AccountBalance {
            currency: currency(b.currency)?,
            balance: Nanos(b.balance_nanos),
            held: Nanos(b.held_nanos),
            spent: Nanos(b.spent_nanos),
        });
    }

    let now = now_us();
    let mut spend_sql = for_users(
        "SELECT user_id, kind, currency, spent_nanos, requests FROM account_spend \
         WHERE tenant_id = ",
        tenant,
        &users,
    );
    spend_sql
        .push(" AND ((kind = 'day' AND period = ")
        .push_bind(day_of(now))
        .push(") OR (kind = 'month' AND period = ")
        .push_bind(month_of(now))
        .push(")) ORDER BY user_id, currency");
    let mut today: HashMap<String, Vec<PeriodSpend>> = HashMap::new();
    let mut month: HashMap<String, Vec<PeriodSpend>> = HashMap::new();
    for s in spend_sql.fetch_all_as::<UserSpendRow>(db).await? {
        let into = if s.kind == "day" {
            &mut today
        } else {
            &mut month
        };
        into.entry(s.user_id).or_default().push(PeriodSpend {
            currency: currency(s.currency)?,
            spent: Nanos(s.spent_nanos),
            requests: s.requests,
        });
    }

    let mut holds_sql = for_users(
        "SELECT user_id, CAST(COUNT(*) AS BIGINT) AS n FROM holds WHERE status = 'open' \
         AND tenant_id = ",
        tenant,
        &users,
    );
    holds_sql.push(" GROUP BY user_id");
    let holds: HashMap<String, i64> = holds_sql
        .fetch_all_as::<UserHoldsRow>(db)
        .await?
        .into_iter()
        .map(|h| (h.user_id, h.n))
        .collect();

    let listed = rows
        .into_iter()
        .map(|r| {
            let open_holds = holds.get(&r.user_id).copied().unwrap_or(0);
            let mut account = Account {
                tenant_id: tenant.to_string(),
                is_active: r.is_active != 0,
                billing_enabled: r.billing_enabled != 0,
                limit_currency: currency(r.limit_currency)?,
                daily_limit: r.daily_limit_nanos.map(Nanos),
                monthly_limit: r.monthly_limit_nanos.map(Nanos),
                total_requests: r.total_requests,
                last_request_us: r.last_request_us,
                created_us: Some(r.created_us),
                balances: balances.remove(&r.user_id).unwrap_or_default(),
                today: today.remove(&r.user_id).unwrap_or_default(),
                this_month: month.remove(&r.user_id).unwrap_or_default(),
                user_id: r.user_id,
            };
            for (requests, last) in calls.remove(&account.user_id).unwrap_or_default() {
                count_calls(&mut account, requests, last);
            }
            Ok(ListedAccount {
                account,
                open_holds,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((listed, total))
}
