//! The database part of the price book.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use tollgate_core::pricing::{PriceEntry, PriceSource, Rates, ServicePrice, Tier, TokenRates};
use tollgate_core::time::now_us;
use tollgate_core::usage::{ServiceTier, TokenClass};
use tollgate_core::Currency;

use crate::db::{query, row, Db};
use crate::StoreError;

const COLUMNS: &str =
    "tenant_id, provider, model, effective_from_us, currency, input, output, cached_input, cache_write, reasoning, per_call, per_unit, tiers, detail";

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
        detail: Option<String>,
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
    (!tiers.is_empty()).then(|| serde_json::to_string(tiers).unwrap_or_default())
}

/// Tiers read back from [`tiers_text`].
fn tiers_of(text: Option<&str>) -> Result<Vec<Tier>, StoreError> {
    text.map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text)
            .map_err(|_| StoreError::Invariant(format!("price tiers '{text}' are malformed")))
    })
}

/// The classes stored in their own columns.
const COLUMN_CLASSES: [TokenClass; 5] = [
    TokenClass::Input,
    TokenClass::Output,
    TokenClass::CachedInput,
    TokenClass::CacheWrite,
    TokenClass::Reasoning,
];

/// The rates a price has beyond the first columns of `prices` (the media and 1-hour cache
/// classes, unit prices, service tiers), as JSON of exact decimal strings; NULL for none.
fn detail_text(r: &Rates) -> Option<String> {
    let classes: BTreeMap<&str, Decimal> = r
        .tokens
        .own_rates()
        .filter(|(c, _)| !COLUMN_CLASSES.contains(c))
        .map(|(c, d)| (c.as_str(), d))
        .collect();
    let services: BTreeMap<&str, &ServicePrice> = r
        .service_tiers
        .iter()
        .map(|(t, p)| (t.as_str(), p))
        .collect();
    let mut detail = serde_json::Map::new();
    let mut put = |key: &str, empty: bool, value: serde_json::Result<serde_json::Value>| {
        if let (false, Ok(v)) = (empty, value) {
            detail.insert(key.into(), v);
        }
    };
    put(
        "classes",
        classes.is_empty(),
        serde_json::to_value(&classes),
    );
    put(
        "unit_prices",
        r.unit_prices.is_empty(),
        serde_json::to_value(&r.unit_prices),
    );
    put(
        "service_tiers",
        services.is_empty(),
        serde_json::to_value(&services),
    );
    (!detail.is_empty()).then(|| serde_json::Value::Object(detail).to_string())
}

/// Adds what [`detail_text`] stored to `rates`.
fn read_detail(text: Option<&str>, rates: &mut Rates) -> Result<(), StoreError> {
    let Some(text) = text else { return Ok(()) };
    let bad = || StoreError::Invariant(format!("price detail '{text}' is malformed"));
    let mut detail: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| bad())?;
    let mut part = |key: &str| detail.remove(key).unwrap_or_default();
    let classes: Option<BTreeMap<String, Decimal>> =
        serde_json::from_value(part("classes")).map_err(|_| bad())?;
    let unit_prices: Option<BTreeMap<String, Decimal>> =
        serde_json::from_value(part("unit_prices")).map_err(|_| bad())?;
    let services: Option<BTreeMap<String, ServicePrice>> =
        serde_json::from_value(part("service_tiers")).map_err(|_| bad())?;
    for (name, d) in classes.unwrap_or_default() {
        let class = TokenClass::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(bad)?;
        *rates.tokens.slot(class).ok_or_else(bad)? = Some(d);
    }
    rates.unit_prices = unit_prices.unwrap_or_default();
    for (name, price) in services.unwrap_or_default() {
        let tier = ServiceTier::parse("service_tier", &name).map_err(|_| bad())?;
        rates.service_tiers.insert(tier, price);
    }
    Ok(())
}

impl TryFrom<PriceRow> for PriceEntry {
    type Error = StoreError;

    fn try_from(r: PriceRow) -> Result<PriceEntry, StoreError> {
        let tenant = r.tenant_id;
        let mut tokens = TokenRates::new(
            rate(r.input)?
                .ok_or_else(|| StoreError::Invariant("price without input rate".into()))?,
            rate(r.output)?
                .ok_or_else(|| StoreError::Invariant("price without output rate".into()))?,
        );
        tokens.cached_input = rate(r.cached_input)?;
        tokens.cache_write = rate(r.cache_write)?;
        tokens.reasoning = rate(r.reasoning)?;
        let mut rates = Rates {
            tokens,
            per_call: rate(r.per_call)?,
            per_unit: rate(r.per_unit)?,
            tiers: tiers_of(r.tiers.as_deref())?,
            ..Rates::default()
        };
        read_detail(r.detail.as_deref(), &mut rates)?;
        Ok(PriceEntry {
            provider: r.provider,
            model: r.model,
            effective_from_us: r.effective_from_us,
            currency: Currency::try_from(r.currency).map_err(StoreError::Invariant)?,
            rates,
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
                                 tiers, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&tenant)
        .bind(&e.provider)
        .bind(&e.model)
        .bind(e.effective_from_us)
        .bind(e.currency.as_str())
        .bind(e.rates.tokens.input.to_string())
        .bind(e.rates.tokens.output.to_string())
        .bind(text(e.rates.tokens.cached_input))
        .bind(text(e.rates.tokens.cache_write))
        .bind(text(e.rates.tokens.reasoning))
        .bind(created)
        .bind(text(e.rates.per_call))
        .bind(text(e.rates.per_unit))
        .bind(tiers_text(&e.rates.tiers))
        .bind(detail_text(&e.rates))
        .execute(&mut tx)
        .await?;
        added += 1;
    }
    tx.commit().await?;
    Ok(added)
}
