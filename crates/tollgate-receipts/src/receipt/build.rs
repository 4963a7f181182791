//! Building a receipt from what the store read of the entries it certifies: a pure function
//! of its inputs, so the same entries and labels always give the same receipt.
//!
//! Money arrives as integer nanos (10^-9 of a currency unit) and leaves as exact decimal
//! strings with nine places, plus llmring's floats derived from those strings. Unpriced
//! entries arrive counted in their groups ([`EntryGroup::unpriced`]) and are summed in one
//! place, [`Totals::of`], for the receipt, its breakdowns and a preview alike.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{
    BatchSummary, CertifiedSet, CheckpointRef, Receipt, ReceiptAmounts, ReceiptBreakdown,
    ReceiptType, Recorded, SelectionRecord, FORMAT, TREE,
};
use crate::Hash;

/// Nanos per currency unit.
const NANOS_PER_UNIT: u64 = 1_000_000_000;

/// Why a receipt could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// A receipt certifies at least one entry.
    #[error("a receipt certifies at least one log")]
    Empty,
    /// A sum does not fit in 64 bits.
    #[error("a receipt total overflows: {0}")]
    Overflow(&'static str),
}

/// Certified entries that share provider, model, alias, currency and dimensions, with their
/// sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryGroup {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if the calls had one.
    pub alias: Option<String>,
    /// ISO 4217 code of the costs.
    pub currency: String,
    /// Number of entries.
    pub calls: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cost, in nanos.
    pub cost_nanos: i64,
    /// The input side of the cost, in nanos.
    pub input_cost_nanos: i64,
    /// How many of the entries were recorded unpriced (at zero cost).
    pub unpriced: i64,
    /// The dimensions the entries recorded (name to value; empty when none).
    pub dimensions: BTreeMap<String, String>,
}

/// Provider, model and alias of the newest certified entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Alias, if it had one.
    pub alias: Option<String>,
}

/// What the store read of the entries a receipt certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedEntries {
    /// How many.
    pub count: i64,
    /// Their sums per provider, model, alias and currency.
    pub groups: Vec<EntryGroup>,
    /// The labels of the last one in log order.
    pub newest: Option<Newest>,
    /// The distinct profiles they recorded.
    pub profiles: Vec<String>,
    /// The distinct lock digests they recorded, `""` standing for "none".
    pub lock_digests: Vec<String>,
    /// How many distinct conversations they belong to.
    pub conversation_count: i64,
    /// Those conversations' ids, sorted (at least the first `inline_ids` of them).
    pub conversation_ids: Vec<String>,
    /// Their log ids in log order (at least the first `inline_ids + 1` of them, so that a
    /// complete list can be told from a cut one).
    pub log_ids: Vec<String>,
    /// The earliest call time, RFC 3339.
    pub first_time: String,
    /// The latest call time, RFC 3339.
    pub last_time: String,
    /// The Merkle root over their leaf hashes in log order.
    pub root: Hash,
}

/// What the issuer adds: identity, labels and the checkpoint at issue time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The new receipt's id.
    pub receipt_id: String,
    /// Issue time, RFC 3339.
    pub timestamp: String,
    /// The tenant.
    pub tenant_id: String,
    /// The signing key's id.
    pub key_id: String,
    /// How the entries were chosen.
    pub selection: SelectionRecord,
    /// A description, signed with the receipt.
    pub description: Option<String>,
    /// Tags, signed with the receipt.
    pub tags: Vec<String>,
    /// How many ids the summary lists at most.
    pub inline_ids: usize,
    /// The tenant log's checkpoint at issue time.
    pub checkpoint: CheckpointRef,
}

/// The unsigned receipt of `entries`, as `issue` labels it.
pub fn build(entries: &CertifiedEntries, issue: Issue) -> Result<Receipt, ReceiptError> {
    if entries.count < 1 {
        return Err(ReceiptError::Empty);
    }
    let totals = Totals::of(&entries.groups)?;
    let (provider, model, alias) = match entries.newest.clone() {
        Some(n) => (n.provider, n.model, n.alias),
        None => ("unknown".into(), "unknown".into(), None),
    };
    let model = if entries.count == 1 {
        model
    } else {
        format!("batch:{} calls", entries.count)
    };
    let inline = issue.inline_ids;
    let total_cost = totals.total_cost();
    Ok(Receipt {
        alias: alias.unwrap_or_else(|| "default".into()),
        amounts: totals.amounts.clone(),
        batch_summary: BatchSummary {
            by_alias: totals.by_alias.clone(),
            by_dimension: Some(totals.by_dimension.clone()),
            by_model: totals.by_model.clone(),
            conversation_ids: entries
                .conversation_ids
                .iter()
                .take(inline)
                .cloned()
                .collect(),
            conversation_ids_complete: entries.conversation_count <= inline as i64,
            end_date: entries.last_time.clone(),
            log_ids: entries.log_ids.iter().take(inline).cloned().collect(),
            log_ids_complete: entries.log_ids.len() <= inline,
            start_date: entries.first_time.clone(),
            total_calls: entries.count,
            total_conversations: entries.conversation_count,
            total_cost,
            total_tokens: totals.total_tokens()?,
        },
        certified: CertifiedSet {
            count: entries.count,
            merkle_root: b64(&entries.root),
            tree: TREE.into(),
        },
        checkpoint: issue.checkpoint,
        completion_tokens: totals.output_tokens,
        currency: totals.currency.clone(),
        description: issue.description,
        format: FORMAT.into(),
        input_cost: totals.input_cost(),
        key_id: issue.key_id,
        lock_digest: Recorded::of(entries.lock_digests.iter().cloned()),
        model,
        output_cost: totals.output_cost(),
        profile: Recorded::of(entries.profiles.iter().cloned()),
        prompt_tokens: totals.input_tokens,
        provider,
        receipt_id: issue.receipt_id,
        receipt_type: ReceiptType::of(entries.count),
        selection: issue.selection,
        signature: None,
        tags: (!issue.tags.is_empty()).then_some(issue.tags),
        tenant_id: issue.tenant_id,
        timestamp: issue.timestamp,
        total_cost,
        total_tokens: totals.total_tokens()?,
        unpriced_events: Some(totals.unpriced),
    })
}

/// What groups of entries add up to, in the shapes a receipt and a preview show.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// How many entries were recorded unpriced: in the amounts at zero.
    pub unpriced: i64,
    /// The currency llmring's floats are in: `USD` when any entry is in USD (or there are
    /// none), else the first in code order.
    pub currency: String,
    /// Exact amounts per currency.
    pub amounts: BTreeMap<String, ReceiptAmounts>,
    /// Per model.
    pub by_model: BTreeMap<String, ReceiptBreakdown>,
    /// Per alias (`default` for entries without one).
    pub by_alias: BTreeMap<String, ReceiptBreakdown>,
    /// Per dimension, then value (entries without a dimension are not under it).
    pub by_dimension: BTreeMap<String, BTreeMap<String, ReceiptBreakdown>>,
    /// (input, total) nanos in `currency`.
    primary: (i64, i64),
}

fn add(a: i64, b: i64, what: &'static str) -> Result<i64, ReceiptError> {
    a.checked_add(b).ok_or(ReceiptError::Overflow(what))
}

impl Totals {
    /// The totals of `groups`.
    pub fn of(groups: &[EntryGroup]) -> Result<Totals, ReceiptError> {
        let mut nanos: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let (mut input_tokens, mut output_tokens, mut unpriced) = (0i64, 0i64, 0i64);
        for g in groups {
            let e = nanos.entry(g.currency.clone()).or_insert((0, 0));
            *e = (
                add(e.0, g.input_cost_nanos, "input cost")?,
                add(e.1, g.cost_nanos, "cost")?,
            );
            input_tokens = add(input_tokens, g.input_tokens, "input tokens")?;
            output_tokens = add(output_tokens, g.output_tokens, "output tokens")?;
            unpriced = add(unpriced, g.unpriced, "unpriced calls")?;
        }
        let currency = if nanos.contains_key("USD") || nanos.is_empty() {
            "USD".to_string()
        } else {
            nanos.keys().next().cloned().unwrap_or_default()
        };
        let mut amounts = BTreeMap::new();
        for (c, (input, total)) in &nanos {
            let output = total
                .checked_sub(*input)
                .ok_or(ReceiptError::Overflow("output cost"))?;
            amounts.insert(
                c.clone(),
                ReceiptAmounts {
                    input_cost: decimal(*input),
                    output_cost: decimal(output),
                    total_cost: decimal(*total),
                },
            );
        }
        let by_model = breakdown(groups, &currency, |g| Some(g.model.clone()))?;
        let by_alias = breakdown(groups, &currency, |g| {
            Some(g.alias.clone().unwrap_or_else(|| "default".into()))
        })?;
        let names: std::collections::BTreeSet<&String> =
            groups.iter().flat_map(|g| g.dimensions.keys()).collect();
        let mut by_dimension = BTreeMap::new();
        for name in names {
            let values = breakdown(groups, &currency, |g| g.dimensions.get(name).cloned())?;
            by_dimension.insert(name.clone(), values);
        }
        Ok(Totals {
            input_tokens,
            output_tokens,
            unpriced,
            primary: nanos.get(&currency).copied().unwrap_or((0, 0)),
            currency,
            amounts,
            by_model,
            by_alias,
            by_dimension,
        })
    }

    /// Input and output tokens.
    pub fn total_tokens(&self) -> Result<i64, ReceiptError> {
        add(self.input_tokens, self.output_tokens, "tokens")
    }

    /// The total in `currency`, as llmring's float.
    pub fn total_cost(&self) -> f64 {
        float(self.primary.1)
    }

    /// The input side in `currency`, as llmring's float.
    pub fn input_cost(&self) -> f64 {
        float(self.primary.0)
    }

    /// The output side in `currency`, as llmring's float.
    pub fn output_cost(&self) -> f64 {
        float(self.primary.1.saturating_sub(self.primary.0))
    }
}

/// Sums per `key` (groups without one are left out), each with its exact cost per currency
/// and its float in `currency`.
fn breakdown(
    groups: &[EntryGroup],
    currency: &str,
    key: impl Fn(&EntryGroup) -> Option<String>,
) -> Result<BTreeMap<String, ReceiptBreakdown>, ReceiptError> {
    #[derive(Default)]
    struct Acc {
        calls: i64,
        input: i64,
        output: i64,
        unpriced: i64,
        nanos: BTreeMap<String, i64>,
    }
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for g in groups {
        let Some(k) = key(g) else { continue };
        let a = acc.entry(k).or_default();
        a.calls = add(a.calls, g.calls, "calls")?;
        a.input = add(a.input, g.input_tokens, "input tokens")?;
        a.output = add(a.output, g.output_tokens, "output tokens")?;
        a.unpriced = add(a.unpriced, g.unpriced, "unpriced calls")?;
        let c = a.nanos.entry(g.currency.clone()).or_insert(0);
        *c = add(*c, g.cost_nanos, "cost")?;
    }
    acc.into_iter()
        .map(|(k, a)| {
            Ok((
                k,
                ReceiptBreakdown {
                    cost: float(a.nanos.get(currency).copied().unwrap_or(0)),
                    amounts: a
                        .nanos
                        .iter()
                        .map(|(c, n)| (c.clone(), decimal(*n)))
                        .collect(),
                    calls: a.calls,
                    input_tokens: a.input,
                    output_tokens: a.output,
                    tokens: add(a.input, a.output, "tokens")?,
                    unpriced_calls: Some(a.unpriced),
                },
            ))
        })
        .collect()
}

/// Nine decimal places, always: `0.000022500`, `-1.500000000` (as `tollgate_core::Nanos`
/// prints them; a test there checks the two agree).
pub fn decimal(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    format!("{sign}{}.{:09}", abs / NANOS_PER_UNIT, abs % NANOS_PER_UNIT)
}

/// The float nearest to an amount. Up to 2^53 nanos (about nine million units) both the
/// nanos and 10^9 are exact floats, and one IEEE division rounds their exact quotient to the
/// nearest float, as parsing the amount's exact decimal text does; beyond, the text is
/// parsed.
pub fn float(nanos: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if nanos.unsigned_abs() <= EXACT {
        nanos as f64 / NANOS_PER_UNIT as f64
    } else {
        decimal(nanos).parse().unwrap_or(0.0)
    }
}

/// Base64 (standard, padded) of a hash, as in C2SP checkpoints.
pub(super) fn b64(hash: &Hash) -> String {
    STANDARD.encode(hash)
}
