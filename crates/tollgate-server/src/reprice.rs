//! Repricing: the adjustment that prices a call recorded without a price, now that a price is
//! known for its time. The tenant log is append-only and hashed, so the call itself is never
//! rewritten: a new event of source `adjustment` names it (`adjusts`), carries its labels and
//! time (so period totals include it) and no tokens (so token totals do not count them twice),
//! and costs what the call costs at that price less what it was recorded at (zero). Its
//! request id, `reprice:<log id>`, makes a rerun a repeat the append recognises.
//!
//! Nothing here does I/O: the route (`routes::reprice`) reads the calls and appends what this
//! decides through the batcher, billed as ingestion bills a call.

use std::collections::BTreeMap;

use serde_json::Map;
use tollgate_core::pricing::Metered;
use tollgate_core::{Currency, EventFlags, EventSource, Invalid, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{AppendItem, Dedupe};
use uuid::Uuid;

use crate::ingest::{charge, IngestContext};

/// The request ids of adjustments start with this; no client may use it.
pub(crate) const REQUEST_PREFIX: &str = "reprice:";

/// The request id of the adjustment of the call `original`.
pub(crate) fn request_id(original: Uuid) -> String {
    format!("{REQUEST_PREFIX}{original}")
}

/// Refuses a client's request id in the adjustments' namespace (422 naming `request_id`): a
/// call recorded under one would pass for the adjustment of another call, which could then
/// never be repriced.
pub(crate) fn unreserved(request_id: Option<String>) -> Result<Option<String>, Invalid> {
    match request_id {
        Some(r) if r.starts_with(REQUEST_PREFIX) => Err(Invalid::field(
            "request_id",
            format!("request ids starting with '{REQUEST_PREFIX}' are reserved for repricing adjustments"),
        )),
        other => Ok(other),
    }
}

/// What a call costs at the price now known for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewPrice {
    /// The whole cost.
    pub(crate) cost: Nanos,
    /// The price's currency.
    pub(crate) currency: Currency,
    /// The price entry's version.
    pub(crate) version: String,
}

/// The LLM call `e` priced by the book as ingestion prices a call: None when the book still
/// has no price for it (or its cost does not fit an amount).
pub(crate) fn book_price(ctx: &IngestContext<'_>, e: &UsageEvent) -> Option<NewPrice> {
    match crate::ingest::book_price(
        ctx.book,
        &e.tenant_id,
        &e.provider,
        &e.model,
        e.timestamp_us,
        &Metered {
            tokens: &e.tokens,
            service_tier: e.service_tier,
            quantities: &e.quantities,
            units: e.units,
        },
    ) {
        // A quantity still without a unit price leaves the call unpriced; so does a price in
        // another currency than the part of the call already priced (the two cannot be
        // subtracted).
        Ok(found) => found
            .filter(|p| p.cost.unpriced_quantities.is_empty())
            .filter(|p| e.cost.0 == 0 || p.currency == e.currency)
            .map(|p| NewPrice {
                cost: p.cost.total,
                currency: p.currency,
                version: p.version,
            }),
        Err(err) => {
            tracing::warn!(log_id = %e.log_id, error = %err, "a call's price does not fit an amount; left unpriced");
            None
        }
    }
}

/// The adjustment that prices `original` at `price`, billed to its user's account as a call
/// is (`ctx`'s billing; no hold). Fails only when the difference overflows an amount.
pub(crate) fn adjustment(
    original: &UsageEvent,
    price: &NewPrice,
    ctx: &IngestContext<'_>,
) -> Result<AppendItem, Invalid> {
    let cost = price
        .cost
        .0
        .checked_sub(original.cost.0)
        .map(Nanos)
        .ok_or_else(|| Invalid::field("cost", "the adjustment does not fit an amount"))?;
    let request_id = request_id(original.log_id);
    let event = UsageEvent {
        log_id: Uuid::now_v7(),
        tenant_id: original.tenant_id.clone(),
        request_id: Some(request_id.clone()),
        timestamp_us: original.timestamp_us,
        provider: original.provider.clone(),
        model: original.model.clone(),
        alias: original.alias.clone(),
        profile: original.profile.clone(),
        // So that a receipt over the call and its adjustment reports one lockfile.
        lock_digest: original.lock_digest.clone(),
        origin: original.origin.clone(),
        id_at_origin: None,
        user_id: original.user_id.clone(),
        conversation_id: original.conversation_id,
        tokens: TokenCounts::default(),
        units: None,
        service_tier: Default::default(),
        quantities: Default::default(),
        latency_ms: None,
        cost,
        input_cost: None,
        currency: price.currency.clone(),
        price_version: Some(price.version.clone()),
        flags: EventFlags::default(),
        source: EventSource::Adjustment,
        metadata: Map::new(),
        adjusts: Some(original.log_id),
        estimate_method: None,
        // The adjustment's cost counts under the call's dimensions, as the call's does.
        dimensions: original.dimensions.clone(),
    };
    Ok(AppendItem {
        event,
        dedupe: Dedupe::RequestId(request_id),
        conversation: None,
        execution: None,
        charge: charge(ctx, None)?,
    })
}

/// The currency a repricing's answer totals in: USD when any adjustment is in USD (or there
/// is none), else the one with the largest total; as the statistics choose theirs.
pub(crate) fn primary_currency(totals: &BTreeMap<String, i64>) -> String {
    if totals.is_empty() || totals.contains_key("USD") {
        return "USD".to_string();
    }
    totals
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, _)| c.clone())
        .unwrap_or_else(|| "USD".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::sync::Arc;
    use tollgate_core::pricing::{PriceBook, PriceEntry, PriceSource, Rates};
    use tollgate_core::time::{parse_instant, DateEdge};
    use tollgate_store::AccountDefaults;

    use crate::settings::{ClientCostPolicy, LoggingLevel};

    fn original() -> UsageEvent {
        UsageEvent {
            log_id: Uuid::now_v7(),
            tenant_id: "tnt_a".into(),
            request_id: Some("client-1".into()),
            timestamp_us: parse_instant("2026-01-15T10:00:00Z", DateEdge::Start).expect("time"),
            provider: "acme".into(),
            model: "brand-new-2026-01-01".into(),
            alias: Some("chat".into()),
            profile: "default".into(),
            lock_digest: Some("sha256:ab".into()),
            origin: Some("app".into()),
            id_at_origin: Some("x1".into()),
            user_id: Some("u1".into()),
            conversation_id: Some(Uuid::now_v7()),
            tokens: TokenCounts {
                input: 1000,
                output: 500,
                ..Default::default()
            },
            units: None,
            service_tier: Default::default(),
            quantities: Default::default(),
            latency_ms: Some(30),
            cost: Nanos::ZERO,
            input_cost: Some(Nanos::ZERO),
            currency: Currency::usd(),
            price_version: None,
            flags: EventFlags {
                unpriced: true,
                ..Default::default()
            },
            source: EventSource::Usage,
            metadata: Map::new(),
            adjusts: None,
            estimate_method: None,
            dimensions: Default::default(),
        }
    }

    fn book(from: &str) -> PriceBook {
        PriceBook::new([PriceEntry {
            provider: "acme".into(),
            model: "brand-new".into(),
            effective_from_us: parse_instant(from, DateEdge::Start).expect("date"),
            currency: Currency::usd(),
            rates: Rates::tokens(
                rust_decimal::Decimal::from_str("1.5").expect("rate"),
                rust_decimal::Decimal::from(2),
            ),
            source: PriceSource::Database,
            tenant_id: None,
        }])
    }

    fn ctx(book: &PriceBook) -> IngestContext<'_> {
        IngestContext {
            tenant_id: "tnt_a",
            now_us: 0,
            dimensions: &[],
            book,
            client_cost: ClientCostPolicy::WhenUnpriced,
            logging_level: LoggingLevel::Full,
            billing: Some(Arc::new(AccountDefaults {
                is_active: true,
                billing_enabled: false,
                limit_currency: Currency::usd(),
                daily_limit: None,
                monthly_limit: None,
            })),
            balance_low: None,
        }
    }

    #[test]
    fn an_adjustment_copies_the_calls_labels_and_time_and_adds_only_its_cost() {
        let book = book("2026-01-01");
        let ctx = ctx(&book);
        let call = original();
        let price = book_price(&ctx, &call).expect("the snapshot finds its family's price");
        // 1000 × 1.5 + 500 × 2, per million.
        assert_eq!(price.cost, Nanos(2_500_000));
        assert_eq!(price.version, "db:acme/brand-new@2026-01-01");
        let item = adjustment(&call, &price, &ctx).expect("fits");
        let a = &item.event;
        assert_eq!(a.source, EventSource::Adjustment);
        assert_eq!(a.adjusts, Some(call.log_id));
        assert_ne!(a.log_id, call.log_id);
        assert_eq!(
            a.request_id.as_deref(),
            Some(&*format!("reprice:{}", call.log_id))
        );
        assert_eq!(item.dedupe, Dedupe::RequestId(request_id(call.log_id)));
        assert_eq!(
            (a.timestamp_us, &a.provider, &a.model, &a.alias, &a.profile),
            (
                call.timestamp_us,
                &call.provider,
                &call.model,
                &call.alias,
                &call.profile
            )
        );
        assert_eq!(
            (&a.user_id, &a.origin, a.conversation_id, &a.lock_digest),
            (
                &call.user_id,
                &call.origin,
                call.conversation_id,
                &call.lock_digest
            )
        );
        assert_eq!(
            a.tokens,
            TokenCounts::default(),
            "tokens are the call's own"
        );
        assert_eq!(a.cost, Nanos(2_500_000));
        assert_eq!(a.flags, EventFlags::default());
        assert!(item.charge.is_some(), "billed as a call is");
    }

    #[test]
    fn a_call_before_the_price_took_effect_stays_unpriced() {
        let book = book("2026-02-01");
        assert_eq!(book_price(&ctx(&book), &original()), None);
    }

    #[test]
    fn the_adjustment_is_the_new_cost_less_the_recorded_one() {
        let book = book("2026-01-01");
        let ctx = ctx(&book);
        let mut call = original();
        call.cost = Nanos(500_000);
        let price = book_price(&ctx, &call).expect("priced");
        let item = adjustment(&call, &price, &ctx).expect("fits");
        assert_eq!(item.event.cost, Nanos(2_000_000));
    }

    #[test]
    fn client_request_ids_may_not_use_the_adjustments_prefix() {
        assert!(unreserved(Some("reprice:x".into())).is_err());
        assert_eq!(
            unreserved(Some("my-reprice:x".into())).expect("free"),
            Some("my-reprice:x".into())
        );
        assert_eq!(unreserved(None).expect("none"), None);
    }

    #[test]
    fn the_answer_totals_in_usd_when_it_can() {
        let mut totals = BTreeMap::new();
        assert_eq!(primary_currency(&totals), "USD");
        totals.insert("EUR".to_string(), 5);
        totals.insert("GBP".to_string(), 9);
        assert_eq!(primary_currency(&totals), "GBP");
        totals.insert("USD".to_string(), 1);
        assert_eq!(primary_currency(&totals), "USD");
    }
}
