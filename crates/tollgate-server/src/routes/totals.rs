//! Sums of usage rows as the report routes show them: requests, tokens, cached responses,
//! unpriced calls and exact cost per currency. Costs in different currencies are never
//! added together; each currency keeps its own decimal string.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
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
    /// Nanos per currency code.
    pub(super) cost: BTreeMap<String, i64>,
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
        let c = self.cost.entry(r.currency.clone()).or_default();
        *c = c.saturating_add(r.cost.0);
    }

    /// `{currency: "decimal"}`.
    pub(super) fn cost_json(&self) -> Value {
        let cost: Map<String, Value> = self
            .cost
            .iter()
            .map(|(c, n)| (c.clone(), json!(Nanos(*n).to_string())))
            .collect();
        Value::Object(cost)
    }

    /// The sums, with `cost` per currency.
    pub(super) fn json(&self) -> Value {
        json!({
            "requests": self.requests,
            "tokens": {
                "input": self.tokens.input,
                "output": self.tokens.output,
                "total": self.tokens.total(),
                "cached_input": self.tokens.cached_input,
                "cache_write": self.tokens.cache_write,
                "reasoning": self.tokens.reasoning,
            },
            "cached_responses": self.cached_responses,
            "unpriced_requests": self.unpriced,
            "cost": self.cost_json(),
        })
    }
}

/// `{key: totals}` of groups.
pub(super) fn grouped(groups: &BTreeMap<String, Totals>) -> Value {
    Value::Object(groups.iter().map(|(k, t)| (k.clone(), t.json())).collect())
}

/// The end of today (UTC): whole days come from the rollups alone.
pub(super) fn end_of_today() -> i64 {
    (day_of(now_us()) + 1) * DAY_US - 1
}
