//! Sums of usage rows as the report routes show them ([`CostTotals`]): requests, tokens,
//! cached responses, unpriced calls and exact cost per currency. Costs in different
//! currencies are never added together; each currency keeps its own decimal string.
//!
//! The cost routes and the billing reports take them typed ([`Totals::totals`],
//! [`breakdown_of`], [`by_group`]).

use std::collections::BTreeMap;

use tollgate_api::usage::{CostTotals, TokenTotals};
use tollgate_core::time::{day_of, now_us, DAY_US};
use tollgate_core::{Nanos, TokenCounts};
use tollgate_store::UsageRow;

/// Requests, tokens and exact cost per currency of some usage rows.
#[derive(Default)]
pub(super) struct Totals {
    pub(super) requests: i64,
    pub(super) tokens: TokenCounts,
    pub(super) cached_responses: i64,
    pub(super) unpriced: i64,
    /// Nanos per currency code, summed in 128 bits so no sum of stored amounts can overflow.
    pub(super) cost: BTreeMap<String, i128>,
}

impl Totals {
    /// Adds one row.
    pub(super) fn add(&mut self, r: &UsageRow) {
        self.requests += r.requests;
        self.tokens.input += r.tokens.input;
        self.tokens.output += r.tokens.output;
        self.tokens.cached_input += r.tokens.cached_input;
        self.tokens.cache_write += r.tokens.cache_write;
        self.tokens.reasoning += r.tokens.reasoning;
        self.cached_responses += r.cached_responses;
        self.unpriced += r.unpriced;
        *self.cost.entry(r.currency.clone()).or_default() += i128::from(r.cost.0);
    }

    /// The sums, with `cost` per currency.
    pub(super) fn totals(&self) -> CostTotals {
        CostTotals {
            requests: self.requests,
            tokens: TokenTotals {
                input: self.tokens.input,
                output: self.tokens.output,
                total: self.tokens.total(),
                cached_input: self.tokens.cached_input,
                cache_write: self.tokens.cache_write,
                reasoning: self.tokens.reasoning,
            },
            cached_responses: self.cached_responses,
            unpriced_requests: self.unpriced,
            cost: self
                .cost
                .iter()
                .map(|(c, n)| (c.clone(), decimal(*n)))
                .collect(),
        }
    }
}

/// Nanos as the exact decimal string `Nanos` writes, for sums beyond its 64 bits too.
pub(super) fn decimal(nanos: i128) -> String {
    match i64::try_from(nanos) {
        Ok(n) => Nanos(n).to_string(),
        Err(_) => {
            let sign = if nanos < 0 { "-" } else { "" };
            let abs = nanos.unsigned_abs();
            format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
        }
    }
}

/// The sums of some rows, in total, by provider and by model.
pub(super) struct Breakdown {
    /// Every row.
    pub(super) totals: CostTotals,
    /// By provider.
    pub(super) by_provider: BTreeMap<String, CostTotals>,
    /// By model.
    pub(super) by_model: BTreeMap<String, CostTotals>,
    /// By MCP tool (`<server>/<tool>`).
    pub(super) by_tool: BTreeMap<String, CostTotals>,
}

/// The sums of `rows`, in total, by provider, by model and by tool.
pub(super) fn breakdown_of(rows: &[UsageRow]) -> Breakdown {
    let mut total = Totals::default();
    let mut by_provider: BTreeMap<String, Totals> = BTreeMap::new();
    let mut by_model: BTreeMap<String, Totals> = BTreeMap::new();
    let mut by_tool: BTreeMap<String, Totals> = BTreeMap::new();
    for r in rows {
        total.add(r);
        by_provider.entry(r.provider.clone()).or_default().add(r);
        by_model.entry(r.model.clone()).or_default().add(r);
        if r.provider == tollgate_core::pricing::TOOL_PROVIDER {
            by_tool.entry(r.model.clone()).or_default().add(r);
        }
    }
    Breakdown {
        totals: total.totals(),
        by_provider: by_group(&by_provider),
        by_model: by_group(&by_model),
        by_tool: by_group(&by_tool),
    }
}

/// `{key: totals}` of groups.
pub(super) fn by_group(groups: &BTreeMap<String, Totals>) -> BTreeMap<String, CostTotals> {
    groups
        .iter()
        .map(|(k, t)| (k.clone(), t.totals()))
        .collect()
}

/// The end of today (UTC): whole days come from the rollups alone.
pub(super) fn end_of_today() -> i64 {
    (day_of(now_us()) + 1) * DAY_US - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_past_64_bits_stay_exact_decimals() {
        assert_eq!(decimal(1_500_000_000), Nanos(1_500_000_000).to_string());
        assert_eq!(decimal(-2), Nanos(-2).to_string());
        let big = i128::from(i64::MAX) * 3 + 7;
        assert_eq!(decimal(big), "27670116110.564327428");
        assert_eq!(decimal(-big), "-27670116110.564327428");
    }
}
