//! An account's ledger summed for a monthly statement.
//!
//! The opening balances and the period's charges come from one statement, so they are read
//! at one instant: the opening balance is the sum of every entry before the period (the
//! balance is always the sum of its entries), and the charges are grouped by the provider and
//! model of the usage event each one belongs to. The period's credits are few (top-ups,
//! refunds, adjustments) and are read one by one, oldest first. Holds and releases move no
//! money (their delta is zero) and are left out.

use tollgate_core::{Currency, Nanos};

use super::charges::{LedgerRow, LEDGER_COLUMNS};
use crate::db::{query, row, Db};
use crate::model::{ChargeGroup, LedgerEntry, StatementBooks};
use crate::StoreError;

row! {
    /// The sums of one part of an account's ledger: `opening` (every entry before the
    /// period) or `charge` (the period's charges of one provider and model).
    struct PartRow {
        currency: String,
        part: String,
        provider: Option<String>,
        model: Option<String>,
        entries: i64,
        delta_nanos: i64,
    }
}

row! {
    struct CurrencyRow { currency: String }
}

fn currency(code: String) -> Result<Currency, StoreError> {
    Currency::try_from(code).map_err(StoreError::Invariant)
}

/// The books of `user`'s account for `[start_us, end_us]`; None when the tenant has no such
/// account.
pub(super) async fn statement(
    db: &Db,
    tenant: &str,
    user: &str,
    start_us: i64,
    end_us: i64,
) -> Result<Option<StatementBooks>, StoreError> {
    let exists =
        query("SELECT user_id FROM billing_accounts WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_optional(db)
            .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let currencies = query(
        "SELECT currency FROM account_balances WHERE tenant_id = $1 AND user_id = $2 \
         ORDER BY currency",
    )
    .bind(tenant)
    .bind(user)
    .fetch_all_as::<CurrencyRow>(db)
    .await?
    .into_iter()
    .map(|r| currency(r.currency))
    .collect::<Result<Vec<_>, _>>()?;
    // The join reads only the period's charges' events; the history before the period is
    // summed without them.
    let parts = query(
        "SELECT l.currency AS currency, \
           CASE WHEN l.created_us < $3 THEN 'opening' ELSE 'charge' END AS part, \
           e.provider AS provider, e.model AS model, \
           CAST(COUNT(*) AS BIGINT) AS entries, \
           CAST(SUM(l.delta_nanos) AS BIGINT) AS delta_nanos \
         FROM ledger_entries l \
         LEFT JOIN usage_events e ON l.kind = 'charge' AND l.created_us >= $3 \
           AND e.tenant_id = l.tenant_id AND e.log_id = l.log_id \
         WHERE l.tenant_id = $1 AND l.user_id = $2 AND l.created_us <= $4 \
           AND (l.created_us < $3 OR l.kind = 'charge') \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .bind(tenant)
    .bind(user)
    .bind(start_us)
    .bind(end_us)
    .fetch_all_as::<PartRow>(db)
    .await?;
    let mut opening = Vec::new();
    let mut charges = Vec::new();
    for p in parts {
        let code = currency(p.currency)?;
        if p.part == "opening" {
            opening.push((code, Nanos(p.delta_nanos)));
        } else {
            charges.push(ChargeGroup {
                currency: code,
                provider: p.provider,
                model: p.model,
                entries: p.entries,
                delta: Nanos(p.delta_nanos),
            });
        }
    }
    let credits = query(format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger_entries \
         WHERE tenant_id = $1 AND user_id = $2 AND created_us >= $3 AND created_us <= $4 \
           AND kind IN ('topup', 'refund', 'adjustment') \
         ORDER BY created_us, id"
    ))
    .bind(tenant)
    .bind(user)
    .bind(start_us)
    .bind(end_us)
    .fetch_all_as::<LedgerRow>(db)
    .await?
    .into_iter()
    .map(LedgerEntry::try_from)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(StatementBooks {
        currencies,
        opening,
        charges,
        credits,
    }))
}
