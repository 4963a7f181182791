//! The database part of the price book.

use std::str::FromStr;

use rust_decimal::Decimal;
use tollgate_core::pricing::{PriceEntry, PriceSource, Rates, Tier};
use tollgate_core::time::now_us;
use tollgate_core::Currency;

use crate::db::{query, row, Db};
use crate::StoreError;

const COLUMNS: &str =
    "tenant_id, provider, model, effective_from_us, currency, input, output, cached_input, cache_write, reasoning, per_call, per_unit, tiers";

row! {
    /// A price as [`COLUMNS`] reads it: rates are decimal text.
    struct PriceRow {
        tenant_id: String,
        provider: String,
        model: String,
        effective_from_us: i64,
        currency: String,
        input: Option<String>,
        output: Option<String>,
        cached_input: Option<String>,
        cache_write: Option<String>,
        reasoning: Option<String>,
        per_call: Option<String>,
        per_unit: Option<String>,
        tiers: Option<String>,
    }
}

/// A rate stored as decimal text, if any.
fn rate(text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.map(|t| {
        Decimal::from_str(&t)
            .map_err(|_| StoreError::Invariant(format!("rate '{t}' is not a decimal")))
    })
    .transpose()
}

/// Tiers as stored: JSON of decimal strings, or NULL for none.
fn tiers_text(tiers: &[Tier]) -> Option<String> {
    if tiers.is_empty() {
        return None;
    }
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    let list: Vec<serde_json::Value> = tiers
        .iter()
        .map(|t| {
            serde_json::json!({
                "above_input_tokens": t.above_input_tokens,
                "input": t.input.to_string(),
                "output": t.output.to_string(),
                "cached_input": text(t.cached_input),
                "cache_write": text(t.cache_write),
                "reasoning": text(t.reasoning),
            })
        })
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

/// Tiers read back from [`tiers_text`].
fn tiers_of(text: Option<&str>) -> Result<Vec<Tier>, StoreError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let bad = || StoreError::Invariant(format!("price tiers '{text}' are malformed"));
    let list: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|_| bad())?;
    list.iter()
        .map(|t| {
            let rate = |key: &str| rate(t.get(key).and_then(|v| v.as_str()).map(str::to_string));
            Ok(Tier {
                above_input_tokens: t
                    .get("above_input_tokens")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(bad)?,
                input: rate("input")?.ok_or_else(bad)?,
                output: rate("output")?.ok_or_else(bad)?,
                cached_input: rate("cached_input")?,
                cache_write: rate("cache_write")?,
                reasoning: rate("reasoning")?,
            })
        })
        .collect()
}

impl TryFrom<PriceRow> for PriceEntry {
    type Error = StoreError;

    fn try_from(r: PriceRow) -> Result<PriceEntry, StoreError> {
        let tenant = r.tenant_id;
        Ok(PriceEntry {
            provider: r.provider,
            model: r.model,
            effective_from_us: r.effective_from_us,
            currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
            rates: Rates {
                input: rate(r.input)?
                    .ok_or_else(|| StoreError::Invariant("price without input rate".into()))?,
                output: rate(r.output)?
                    .ok_or_else(|| StoreError::Invariant("price without output rate".into()))?,
                cached_input: rate(r.cached_input)?,
                cache_write: rate(r.cache_write)?,
                reasoning: rate(r.reasoning)?,
                per_call: rate(r.per_call)?,
                per_unit: rate(r.per_unit)?,
                tiers: tiers_of(r.tiers.as_deref())?,
            },
            source: if tenant.is_empty() {
                PriceSource::Database
            } else {
                PriceSource::Tenant
            },
            tenant_id: (!tenant.is_empty()).then_some(tenant),
        })
    }
}

pub(super) async fn load_prices(db: &Db) -> Result<Vec<PriceEntry>, StoreError> {
    query(format!("SELECT {COLUMNS} FROM prices"))
        .fetch_all_as::<PriceRow>(db)
        .await?
        .into_iter()
        .map(PriceEntry::try_from)
        .collect()
}

pub(super) async fn import_prices(db: &Db, entries: &[PriceEntry]) -> Result<usize, StoreError> {
    let mut tx = db.begin_write().await?;
    let mut added = 0;
    let created = now_us();
    for e in entries {
        let tenant = e.tenant_id.clone().unwrap_or_default();
        let existing = query(format!(
            "SELECT {COLUMNS} FROM prices
             WHERE tenant_id = $1 AND provider = $2 AND model = $3 AND effective_from_us = $4"
        ))
        .bind(&tenant)
        .bind(&e.provider)
        .bind(&e.model)
        .bind(e.effective_from_us)
        .fetch_optional_as::<PriceRow>(&mut tx)
        .await?;
        if let Some(row) = existing {
            let old = PriceEntry::try_from(row)?;
            if old.rates != e.rates || old.currency != e.currency {
                return Err(StoreError::Conflict(format!(
                    "{}/{} already has a different price from {}; events may have been charged at \
                     it, so add the new price with a later effective_from instead",
                    e.provider,
                    e.model,
                    tollgate_core::pricing::effective_label(e.effective_from_us)
                )));
            }
            continue;
        }
        let text = |d: Option<Decimal>| d.map(|d| d.to_string());
        query(
            "INSERT INTO prices (tenant_id, provider, model, effective_from_us, currency, input, output,
                                 cached_input, cache_write, reasoning, created_us, per_call, per_unit,
                                 tiers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&tenant)
        .bind(&e.provider)
        .bind(&e.model)
        .bind(e.effective_from_us)
        .bind(e.currency.as_str())
        .bind(e.rates.input.to_string())
        .bind(e.rates.output.to_string())
        .bind(text(e.rates.cached_input))
        .bind(text(e.rates.cache_write))
        .bind(text(e.rates.reasoning))
        .bind(created)
        .bind(text(e.rates.per_call))
        .bind(text(e.rates.per_unit))
        .bind(tiers_text(&e.rates.tiers))
        .execute(&mut tx)
        .await?;
        added += 1;
    }
    tx.commit().await?;
    Ok(added)
}
