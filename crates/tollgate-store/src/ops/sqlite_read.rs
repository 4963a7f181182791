//! Bulk reads on SQLite, in one pass on the calling thread.
//!
//! Selecting the logs of a large receipt reads every row of the set once. Through sqlx each
//! row crosses to a worker thread and back, and an aggregate needs a sort; a plain
//! `rusqlite` loop over the primary key does the same work several times faster, which
//! decides whether a million-log receipt takes one second or six.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, OpenFlags};
use tollgate_core::{Nanos, TokenCounts};
use uuid::Uuid;

use super::sql::Sql;
use super::sqlite_append::blocking;
use super::tally::{GroupKey, GroupSums, Tally};
use crate::model::{LogLabels, SelectOptions, UsageRow};
use crate::StoreError;

/// The columns [`SqliteReader::scan`] expects, in order.
pub(crate) const SCAN_COLUMNS: &str = "seq, leaf_hash, provider, model, alias, currency, \
     input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, \
     cost_nanos, input_cost_nanos, ts_us, conversation_id, log_id, profile, lock_digest";

/// A read-only SQLite connection for bulk reads.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    conn: Mutex<rusqlite::Connection>,
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

impl SqliteReader {
    /// Opens the database file of a `sqlite://PATH[?…]` URL for reading.
    pub(crate) fn open(url: &str) -> Result<SqliteReader, StoreError> {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA cache_size = -16000;")?;
        Ok(SqliteReader {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `sql` (a `SELECT {SCAN_COLUMNS} … ORDER BY seq`) and adds every row to `tally`.
    pub(crate) fn scan(
        &self,
        sql: &Sql,
        opts: SelectOptions,
        tally: &mut Tally,
    ) -> Result<(), StoreError> {
        blocking(|| {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let mut stmt = conn.prepare_cached(sql.text())?;
            let mut rows = stmt.query(params_from_iter(sql.args()))?;
            let mut groups: Vec<Running> = Vec::new();
            let mut ids = 0usize;
            let mut last: Option<(i64, LogLabels)> = None;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                if opts.leaf_hashes {
                    let hash = match row.get_ref(1)? {
                        ValueRef::Blob(b) => <[u8; 32]>::try_from(b).map_err(|_| {
                            StoreError::Invariant(format!("the leaf hash of {seq} is not 32 bytes"))
                        })?,
                        _ => return Err(StoreError::Invariant("a leaf hash is not a blob".into())),
                    };
                    tally.leaves.push((seq, hash));
                }
                let provider = text(row.get_ref(2)?, "provider")?;
                let model = text(row.get_ref(3)?, "model")?;
                let alias = optional_text(row.get_ref(4)?, "alias")?;
                let currency = text(row.get_ref(5)?, "currency")?;
                let tokens = TokenCounts {
                    input: row.get(6)?,
                    output: row.get(7)?,
                    cached_input: row.get(8)?,
                    cache_write: row.get(9)?,
                    reasoning: row.get(10)?,
                };
                let cost: i64 = row.get(11)?;
                let input_cost: Option<i64> = row.get(12)?;
                let ts: i64 = row.get(13)?;
                tally.recorded(
                    text(row.get_ref(16)?, "profile")?,
                    optional_text(row.get_ref(17)?, "lock_digest")?.unwrap_or_default(),
                );
                let at = groups.iter().position(|g| {
                    g.key.0 == provider
                        && g.key.1 == model
                        && g.key.2.as_deref() == alias
                        && g.key.3 == currency
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
                            ),
                            sums: GroupSums {
                                calls: 0,
                                tokens: TokenCounts::default(),
                                cost: Nanos::ZERO,
                                input_cost: Nanos::ZERO,
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
                if let Some(c) = optional_text(row.get_ref(14)?, "conversation_id")? {
                    tally.conversations.insert(parse_uuid(c)?);
                }
                if ids <= opts.inline_ids {
                    tally
                        .ids
                        .push((seq, parse_uuid(text(row.get_ref(15)?, "log_id")?)?));
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
        })
    }
}

impl SqliteReader {
    /// Runs a usage query (the columns of [`UsageRow`] in order: day, provider, model, alias,
    /// origin, user id, currency, then the measures) and returns its rows.
    pub(crate) fn usage_rows(&self, sql: &Sql) -> Result<Vec<UsageRow>, StoreError> {
        blocking(|| {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let mut stmt = conn.prepare_cached(sql.text())?;
            let mut rows = stmt.query(params_from_iter(sql.args()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let currency: String = row.get(6)?;
                out.push(UsageRow {
                    day: row.get(0)?,
                    provider: row.get(1)?,
                    model: row.get(2)?,
                    alias: row.get(3)?,
                    origin: row.get(4)?,
                    user_id: row.get(5)?,
                    currency,
                    requests: row.get(7)?,
                    tokens: TokenCounts {
                        input: row.get(8)?,
                        output: row.get(9)?,
                        cached_input: row.get(10)?,
                        cache_write: row.get(11)?,
                        reasoning: row.get(12)?,
                    },
                    cost: Nanos(row.get(13)?),
                    cached_responses: row.get(14)?,
                    unpriced: row.get(15)?,
                });
            }
            Ok(out)
        })
    }
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Invariant(format!("'{text}' is not a UUID")))
}
