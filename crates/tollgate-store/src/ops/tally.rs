//! What the logs of a receipt's selection add up to, gathered part by part: by SQL on
//! PostgreSQL (the receipts module) and by the SQLite reader alike.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::{Currency, Nanos, TokenCounts};
use tollgate_receipts::Hash;
use uuid::Uuid;

use crate::model::{LogLabels, SelectionGroup};
use crate::StoreError;

/// Key of a selection group: provider, model, alias, currency, and the dimensions as stored
/// (a JSON object with sorted members; `None` for none).
pub(crate) type GroupKey = (String, String, Option<String>, String, Option<String>);

/// What the parts of a selection add up to.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) groups: BTreeMap<GroupKey, SelectionGroup>,
    pub(crate) first_us: Option<i64>,
    pub(crate) last_us: Option<i64>,
    pub(crate) conversations: BTreeSet<Uuid>,
    /// (seq, log id) of the first logs, at most `inline_ids + 1` per part.
    pub(crate) ids: Vec<(i64, Uuid)>,
    /// (seq, leaf hash) of every log, when asked for.
    pub(crate) leaves: Vec<(i64, Hash)>,
    pub(crate) newest: Option<(i64, LogLabels)>,
    /// Distinct profiles.
    pub(crate) profiles: BTreeSet<String>,
    /// Distinct lock digests, `""` for none.
    pub(crate) lock_digests: BTreeSet<String>,
}

/// Sums of one group of logs.
pub(crate) struct GroupSums {
    pub(crate) calls: i64,
    pub(crate) tokens: TokenCounts,
    pub(crate) cost: Nanos,
    pub(crate) input_cost: Nanos,
    /// How many were recorded unpriced.
    pub(crate) unpriced: i64,
    pub(crate) first_us: i64,
    pub(crate) last_us: i64,
}

impl Tally {
    /// Adds the sums of a group of logs.
    pub(crate) fn add_group(&mut self, key: GroupKey, sums: GroupSums) -> Result<(), StoreError> {
        self.first_us = Some(
            self.first_us
                .map_or(sums.first_us, |f| f.min(sums.first_us)),
        );
        self.last_us = Some(self.last_us.map_or(sums.last_us, |l| l.max(sums.last_us)));
        let overflow = || StoreError::Invariant("a receipt total overflows".into());
        match self.groups.get_mut(&key) {
            Some(g) => {
                g.calls += sums.calls;
                g.unpriced += sums.unpriced;
                g.tokens.input += sums.tokens.input;
                g.tokens.output += sums.tokens.output;
                g.tokens.cached_input += sums.tokens.cached_input;
                g.tokens.cache_write += sums.tokens.cache_write;
                g.tokens.reasoning += sums.tokens.reasoning;
                g.cost = g.cost.checked_add(sums.cost).ok_or_else(overflow)?;
                g.input_cost = g
                    .input_cost
                    .checked_add(sums.input_cost)
                    .ok_or_else(overflow)?;
            }
            None => {
                let currency = Currency::try_from(key.3.clone()).map_err(StoreError::Invariant)?;
                let dimensions = match &key.4 {
                    None => BTreeMap::new(),
                    Some(text) => serde_json::from_str(text).map_err(|e| {
                        StoreError::Invariant(format!("stored dimensions are not an object: {e}"))
                    })?,
                };
                self.groups.insert(
                    key.clone(),
                    SelectionGroup {
                        provider: key.0,
                        model: key.1,
                        alias: key.2,
                        currency,
                        calls: sums.calls,
                        tokens: sums.tokens,
                        cost: sums.cost,
                        input_cost: sums.input_cost,
                        unpriced: sums.unpriced,
                        dimensions,
                    },
                );
            }
        }
        Ok(())
    }

    /// Notes what a log recorded for the labels a receipt reports as recorded: its profile and
    /// its lock digest (`""` for none). Allocates only for a value not seen before.
    pub(crate) fn recorded(&mut self, profile: &str, lock_digest: &str) {
        if !self.profiles.contains(profile) {
            self.profiles.insert(profile.to_string());
        }
        if !self.lock_digests.contains(lock_digest) {
            self.lock_digests.insert(lock_digest.to_string());
        }
    }

    /// Keeps the labels of the log with the highest position seen.
    pub(crate) fn newest(&mut self, seq: i64, labels: impl FnOnce() -> LogLabels) {
        if self.newest.as_ref().is_none_or(|(s, _)| seq > *s) {
            self.newest = Some((seq, labels()));
        }
    }
}
