//! Bulk reads on SQLite, in one pass on a reader connection.
//!
//! Selecting the logs of a large receipt reads every row of the set once. Building a row
//! value per event and summing afterwards (or letting SQLite sort for an aggregate) does the
//! same work several times over; one `rusqlite` loop over the primary key, summing as it
//! goes, decides whether a million-log receipt takes one second or six.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Statement};
use tollgate_core::{EventFlags, Nanos, TokenCounts};
use uuid::Uuid;

use super::tally::{GroupKey, GroupSums, Tally};
use crate::db::Sql;
use crate::model::{LogLabels, SelectOptions};
use crate::StoreError;

/// The columns [`scan`] reads, by name.
pub(crate) const SCAN_COLUMNS: &str = "seq, leaf_hash, provider, model, alias, currency, \
     input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, \
     cost_nanos, input_cost_nanos, ts_us, conversation_id, log_id, profile, lock_digest, flags, \
     dimensions";

/// Where each of [`SCAN_COLUMNS`] is in a statement's rows, looked up by name once per
/// statement rather than once per row.
struct ScanColumns {
    seq: usize,
    leaf_hash: usize,
    provider: usize,
    model: usize,
    alias: usize,
    currency: usize,
    input_tokens: usize,
    output_tokens: usize,
    cached_input_tokens: usize,
    cache_write_tokens: usize,
    reasoning_tokens: usize,
    cost_nanos: usize,
    input_cost_nanos: usize,
    ts_us: usize,
    conversation_id: usize,
    log_id: usize,
    profile: usize,
    lock_digest: usize,
    flags: usize,
    dimensions: usize,
}

impl ScanColumns {
    fn of(stmt: &Statement<'_>) -> Result<ScanColumns, StoreError> {
        let at = |name: &str| {
            stmt.column_index(name)
                .map_err(|_| StoreError::Invariant(format!("no column {name} in the scan")))
        };
        Ok(ScanColumns {
            seq: at("seq")?,
            leaf_hash: at("leaf_hash")?,
            provider: at("provider")?,
            model: at("model")?,
            alias: at("alias")?,
            currency: at("currency")?,
            input_tokens: at("input_tokens")?,
            output_tokens: at("output_tokens")?,
            cached_input_tokens: at("cached_input_tokens")?,
            cache_write_tokens: at("cache_write_tokens")?,
            reasoning_tokens: at("reasoning_tokens")?,
            cost_nanos: at("cost_nanos")?,
            input_cost_nanos: at("input_cost_nanos")?,
            ts_us: at("ts_us")?,
            conversation_id: at("conversation_id")?,
            log_id: at("log_id")?,
            profile: at("profile")?,
            lock_digest: at("lock_digest")?,
            flags: at("flags")?,
            dimensions: at("dimensions")?,
        })
    }
}

/// A group being summed, with its key borrowed-compared before anything is allocated.
struct Running {
    key: GroupKey,
    sums: GroupSums,
}

fn text<'a>(v: ValueRef<'a>, column: &str) -> Result<&'a str, StoreError> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map_err(|_| StoreError::Invariant(format!("{column} is not UTF-8"))),
        _ => Err(StoreError::Invariant(format!("{column} is not text"))),
    }
}

fn optional_text<'a>(v: ValueRef<'a>, column: &str) -> Result<Option<&'a str>, StoreError> {
    match v {
        ValueRef::Null => Ok(None),
        other => text(other, column).map(Some),
    }
}

/// Runs `sql` (a `SELECT {SCAN_COLUMNS} … ORDER BY seq`) on `conn` and adds every row to
/// `tally`.
pub(crate) fn scan(
    conn: &Connection,
    sql: &Sql,
    opts: SelectOptions,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql.text())?;
    crate::db::sqlite::bind(&mut stmt, sql.args())?;
    let col = ScanColumns::of(&stmt)?;
    let mut rows = stmt.raw_query();
    let mut groups: Vec<Running> = Vec::new();
    let mut ids = 0usize;
    let mut last: Option<(i64, LogLabels)> = None;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(col.seq)?;
        if opts.leaf_hashes {
            let hash = match row.get_ref(col.leaf_hash)? {
                ValueRef::Blob(b) => <[u8; 32]>::try_from(b).map_err(|_| {
                    StoreError::Invariant(format!("the leaf hash of {seq} is not 32 bytes"))
                })?,
                _ => return Err(StoreError::Invariant("a leaf hash is not a blob".into())),
            };
            tally.leaves.push((seq, hash));
        }
        let provider = text(row.get_ref(col.provider)?, "provider")?;
        let model = text(row.get_ref(col.model)?, "model")?;
        let alias = optional_text(row.get_ref(col.alias)?, "alias")?;
        let currency = text(row.get_ref(col.currency)?, "currency")?;
        let dimensions = optional_text(row.get_ref(col.dimensions)?, "dimensions")?;
        let tokens = TokenCounts {
            input: row.get(col.input_tokens)?,
            output: row.get(col.output_tokens)?,
            cached_input: row.get(col.cached_input_tokens)?,
            cache_write: row.get(col.cache_write_tokens)?,
            reasoning: row.get(col.reasoning_tokens)?,
            ..TokenCounts::default()
        };
        let cost: i64 = row.get(col.cost_nanos)?;
        let input_cost: Option<i64> = row.get(col.input_cost_nanos)?;
        let ts: i64 = row.get(col.ts_us)?;
        // The same bit as the store's SQL condition (`unpriced_sql!`), read in Rust.
        let unpriced = EventFlags::from_bits(row.get(col.flags)?).unpriced;
        tally.recorded(
            text(row.get_ref(col.profile)?, "profile")?,
            optional_text(row.get_ref(col.lock_digest)?, "lock_digest")?.unwrap_or_default(),
        );
        let at = groups.iter().position(|g| {
            g.key.0 == provider
                && g.key.1 == model
                && g.key.2.as_deref() == alias
                && g.key.3 == currency
                && g.key.4.as_deref() == dimensions
        });
        let g = match at {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Running {
                    key: (
                        provider.to_string(),
                        model.to_string(),
                        alias.map(str::to_string),
                        currency.to_string(),
                        dimensions.map(str::to_string),
                    ),
                    sums: GroupSums {
                        calls: 0,
                        tokens: TokenCounts::default(),
                        cost: Nanos::ZERO,
                        input_cost: Nanos::ZERO,
                        unpriced: 0,
                        first_us: ts,
                        last_us: ts,
                    },
                });
                let n = groups.len() - 1;
                &mut groups[n]
            }
        };
        let s = &mut g.sums;
        s.calls += 1;
        s.unpriced += i64::from(unpriced);
        s.tokens.input += tokens.input;
        s.tokens.output += tokens.output;
        s.tokens.cached_input += tokens.cached_input;
        s.tokens.cache_write += tokens.cache_write;
        s.tokens.reasoning += tokens.reasoning;
        s.cost = s
            .cost
            .checked_add(Nanos(cost))
            .ok_or_else(|| StoreError::Invariant("a receipt total overflows".into()))?;
        s.input_cost = s
            .input_cost
            .checked_add(Nanos(input_cost.unwrap_or(0)))
            .ok_or_else(|| StoreError::Invariant("a receipt total overflows".into()))?;
        s.first_us = s.first_us.min(ts);
        s.last_us = s.last_us.max(ts);
        if let Some(c) = optional_text(row.get_ref(col.conversation_id)?, "conversation_id")? {
            tally.conversations.insert(parse_uuid(c)?);
        }
        if ids <= opts.inline_ids {
            tally
                .ids
                .push((seq, parse_uuid(text(row.get_ref(col.log_id)?, "log_id")?)?));
            ids += 1;
        }
        if last.as_ref().is_none_or(|(s, _)| seq > *s) {
            last = Some((
                seq,
                LogLabels {
                    provider: provider.to_string(),
                    model: model.to_string(),
                    alias: alias.map(str::to_string),
                },
            ));
        }
    }
    if let Some((seq, labels)) = last {
        tally.newest(seq, || labels);
    }
    for g in groups {
        tally.add_group(g.key, g.sums)?;
    }
    Ok(())
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invariant(format!("'{text}' is not a UUID")))
}
