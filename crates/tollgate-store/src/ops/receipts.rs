//! Receipts: selecting the logs one certifies, storing it with the ranges it certifies, and
//! reading it back (its logs, its Merkle tree, what no receipt certifies yet).
//!
//! Which logs a receipt certifies is stored as runs of consecutive positions, never one row
//! per log; `certified_ranges` keeps the merged union of every receipt's runs, so "the logs no
//! receipt certifies" is the gaps in it below the log size.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::time::{month_of, month_string};
use tollgate_core::{Nanos, TokenCounts};
use tollgate_receipts::merkle::{Needs, Nodes, TILE_LEAVES};
use tollgate_receipts::Hash;
use uuid::Uuid;

use super::decode::uuid;
use super::read::{stored_event, unpriced_sql, EVENT_COLUMNS};
use super::tally::{GroupKey, GroupSums, Tally};
use super::transparency::{hash32, log_size};
use crate::db::{query, row, Db, Dialect, Sql, Tx};
use crate::model::{
    CertifiedLog, LogLabels, NewReceipt, ReceiptLog, SelectOptions, SelectedLogs, Selection,
    SeqRange, StoredEvent, StoredReceipt,
};
use crate::webhooks::{EventType, NewAlert};
use crate::StoreError;

/// Log ids per `IN (…)` list.
const IDS_PER_QUERY: usize = 500;
/// Rows per multi-row INSERT.
const ROWS_PER_INSERT: usize = 200;

/// One disjoint part of a selection, as a SQL condition on `usage_events`.
enum Part {
    Seq(SeqRange),
    Conversation(String),
    Time(i64, i64),
    Ids(Vec<String>),
}

impl Part {
    /// `WHERE tenant_id = ? AND seq < ? AND <part>`.
    fn filter(&self, sql: &mut Sql, tenant: &str, log_size: i64) {
        sql.push(" WHERE tenant_id = ")
            .push_bind(tenant)
            .push(" AND seq < ")
            .push_bind(log_size);
        match self {
            Part::Seq(r) => {
                sql.push(" AND seq >= ")
                    .push_bind(r.start)
                    .push(" AND seq < ")
                    .push_bind(r.end);
            }
            Part::Conversation(c) => {
                sql.push(" AND conversation_id = ").push_bind(c.as_str());
            }
            Part::Time(start, end) => {
                sql.push(" AND ts_us >= ")
                    .push_bind(*start)
                    .push(" AND ts_us <= ")
                    .push_bind(*end);
            }
            Part::Ids(ids) => {
                sql.push(" AND log_id IN (");
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push_bind(id.as_str());
                }
                sql.push(")");
            }
        }
    }
}

row! {
    struct StateRow { version: i64, certified_count: i64 }
}

/// The receipt version and certified count of a tenant (0, 0 before its first receipt).
async fn receipt_state(db: &Db, tenant: &str) -> Result<(i64, i64), StoreError> {
    let row = query("SELECT version, certified_count FROM receipt_state WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional_as::<StateRow>(db)
        .await?;
    Ok(row.map_or((0, 0), |r| (r.version, r.certified_count)))
}

row! {
    struct RangeRow { start_seq: i64, end_seq: i64 }
}

impl From<RangeRow> for SeqRange {
    fn from(r: RangeRow) -> SeqRange {
        SeqRange {
            start: r.start_seq,
            end: r.end_seq,
        }
    }
}

/// The merged certified ranges of a tenant, ascending.
async fn certified_ranges(db: &Db, tenant: &str) -> Result<Vec<SeqRange>, StoreError> {
    let rows = query(
        "SELECT start_seq, end_seq FROM certified_ranges WHERE tenant_id = $1 ORDER BY start_seq",
    )
    .bind(tenant)
    .fetch_all_as::<RangeRow>(db)
    .await?;
    Ok(rows.into_iter().map(SeqRange::from).collect())
}

/// The positions below `size` that no range covers, ascending.
fn gaps(certified: &[SeqRange], size: i64) -> Vec<SeqRange> {
    let mut out = Vec::new();
    let mut next = 0;
    for r in certified {
        if r.start >= size {
            break;
        }
        if r.start > next {
            out.push(SeqRange {
                start: next,
                end: r.start,
            });
        }
        next = next.max(r.end);
    }
    if next < size {
        out.push(SeqRange {
            start: next,
            end: size,
        });
    }
    out
}

/// Refuses a period or a list of logs that reaches into what retention archived: a receipt
/// certifies live logs only, and leaving the archived ones out would sign totals short of the
/// period or the list asked for. (Everything not yet certified is never archived unless
/// `retention.archive_uncertified` says so, and such logs are left out of later receipts.)
async fn refuse_archived(db: &Db, tenant: &str, selection: &Selection) -> Result<(), StoreError> {
    let archived = |what: String| {
        StoreError::Conflict(format!(
            "{what} archived by retention: a receipt certifies live logs only; the archive's \
             manifest holds their count and Merkle root, and earlier receipts still prove them"
        ))
    };
    match selection {
        Selection::TimeRange { start_us, end_us } => {
            let row = query(
                "SELECT MIN(month) AS month FROM retention_archives WHERE tenant_id = $1 \
                 AND month BETWEEN $2 AND $3 AND state <> 'written'",
            )
            .bind(tenant)
            .bind(month_of(*start_us))
            .bind(month_of(*end_us))
            .fetch_one(db)
            .await?;
            match row.get::<Option<i64>>("month")? {
                Some(month) => Err(archived(format!(
                    "the logs of {} were",
                    month_string(month)
                ))),
                None => Ok(()),
            }
        }
        Selection::LogIds(ids) => {
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let mut sql = Sql::new("SELECT log_id FROM archived_leaves WHERE tenant_id = ");
                sql.push_bind(tenant).push(" AND log_id IN (");
                for (i, id) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.push_bind(id.as_str());
                }
                sql.push(") LIMIT 1");
                if let Some(row) = sql.fetch_optional(db).await? {
                    let id: String = row.get("log_id")?;
                    return Err(archived(format!("log {id} was")));
                }
            }
            Ok(())
        }
        Selection::Conversation(_) | Selection::Uncertified => Ok(()),
    }
}

pub(super) async fn select_logs(
    db: &Db,
    tenant: &str,
    selection: &Selection,
    opts: SelectOptions,
) -> Result<SelectedLogs, StoreError> {
    // The version first: a receipt stored after it bumps it, so a stale view of the certified
    // ranges read below can never be stored (see `insert_receipt`).
    let (version, _) = receipt_state(db, tenant).await?;
    refuse_archived(db, tenant, selection).await?;
    let size = log_size(db, tenant).await?;
    let parts: Vec<Part> = match selection {
        Selection::Uncertified => gaps(&certified_ranges(db, tenant).await?, size)
            .into_iter()
            .map(Part::Seq)
            .collect(),
        Selection::Conversation(c) => vec![Part::Conversation(c.to_string())],
        Selection::TimeRange { start_us, end_us } => vec![Part::Time(*start_us, *end_us)],
        Selection::LogIds(ids) => {
            let distinct: BTreeSet<String> = ids.iter().map(Uuid::to_string).collect();
            let distinct: Vec<String> = distinct.into_iter().collect();
            distinct
                .chunks(IDS_PER_QUERY)
                .map(|c| Part::Ids(c.to_vec()))
                .collect()
        }
    };
    let mut tally = Tally::default();
    for part in &parts {
        match db.sqlite() {
            // SQLite: one pass over the rows, on a reader.
            Some(sqlite) => {
                let mut sql = Sql::new(&format!(
                    "SELECT {} FROM usage_events",
                    super::sqlite_read::SCAN_COLUMNS
                ));
                part.filter(&mut sql, tenant, size);
                sql.push(" ORDER BY seq");
                tally = sqlite
                    .read_with(move |conn| {
                        let mut tally = tally;
                        super::sqlite_read::scan(conn, &sql, opts, &mut tally)?;
                        Ok(tally)
                    })
                    .await?;
            }
            // PostgreSQL: the aggregates in the database, the leaf hashes over the wire.
            None => scan_sql(db, tenant, size, part, opts, &mut tally).await?,
        }
    }
    let mut out = SelectedLogs {
        log_size: size,
        certified_version: version,
        first_us: tally.first_us,
        last_us: tally.last_us,
        ..Default::default()
    };
    out.groups = tally.groups.into_values().collect();
    out.count = out.groups.iter().map(|g| g.calls).sum();
    out.conversation_ids = tally.conversations.into_iter().collect();
    let mut ids = tally.ids;
    ids.sort_unstable_by_key(|(seq, _)| *seq);
    ids.truncate(opts.inline_ids + 1);
    out.log_ids = ids.into_iter().map(|(_, id)| id).collect();
    out.newest = tally.newest.map(|(_, n)| n);
    out.profiles = tally.profiles.into_iter().collect();
    out.lock_digests = tally.lock_digests.into_iter().collect();
    if opts.leaf_hashes {
        let mut leaves = tally.leaves;
        // Parts of an id list are not in log order; ranges and gaps already are.
        if !leaves.is_sorted_by_key(|(seq, _)| *seq) {
            leaves.sort_unstable_by_key(|(seq, _)| *seq);
        }
        if leaves.len() as i64 != out.count {
            return Err(StoreError::Invariant(format!(
                "{} leaf hashes for {} selected logs",
                leaves.len(),
                out.count
            )));
        }
        out.ranges = SeqRange::runs(leaves.iter().map(|(seq, _)| *seq));
        out.leaf_hashes = leaves.into_iter().map(|(_, h)| h).collect();
    }
    Ok(out)
}

row! {
    /// A group of a selection part, with the labels it was recorded under.
    struct GroupRow {
        provider: String,
        model: String,
        alias: Option<String>,
        currency: String,
        calls: i64,
        input_tokens: i64,
        output_tokens: i64,
        cached_input_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        cost_nanos: i64,
        input_cost_nanos: i64,
        unpriced: i64,
        first_us: i64,
        last_us: i64,
        profile: String,
        lock_digest: String,
        dimensions: Option<String>,
    }
}

impl GroupRow {
    /// Adds the group to `tally`.
    fn add_to(self, tally: &mut Tally) -> Result<(), StoreError> {
        tally.recorded(&self.profile, &self.lock_digest);
        let key: GroupKey = (
            self.provider,
            self.model,
            self.alias,
            self.currency,
            self.dimensions,
        );
        tally.add_group(
            key,
            GroupSums {
                calls: self.calls,
                tokens: TokenCounts {
                    input: self.input_tokens,
                    output: self.output_tokens,
                    cached_input: self.cached_input_tokens,
                    cache_write: self.cache_write_tokens,
                    reasoning: self.reasoning_tokens,
                    ..TokenCounts::default()
                },
                cost: Nanos(self.cost_nanos),
                input_cost: Nanos(self.input_cost_nanos),
                unpriced: self.unpriced,
                first_us: self.first_us,
                last_us: self.last_us,
            },
        )
    }
}

row! {
    struct LogIdRow { seq: i64, log_id: String }
}

row! {
    struct NewestRow { seq: i64, provider: String, model: String, alias: Option<String> }
}

row! {
    struct LeafRow { seq: i64, leaf_hash: Vec<u8> }
}

/// One part of a selection through SQL: aggregates computed by the database.
async fn scan_sql(
    db: &Db,
    tenant: &str,
    size: i64,
    part: &Part,
    opts: SelectOptions,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(concat!(
        "SELECT provider, model, alias, currency, COUNT(*) AS calls, \
         CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
         CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
         CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens, \
         CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
         CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens, \
         CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos, \
         CAST(SUM(COALESCE(input_cost_nanos, 0)) AS BIGINT) AS input_cost_nanos, \
         CAST(SUM(CASE WHEN ",
        unpriced_sql!(),
        " THEN 1 ELSE 0 END) AS BIGINT) AS unpriced, \
         MIN(ts_us) AS first_us, MAX(ts_us) AS last_us, \
         profile, COALESCE(lock_digest, '') AS lock_digest, dimensions \
         FROM usage_events",
    ));
    part.filter(&mut sql, tenant, size);
    // Grouped by the recorded labels too, so that one pass finds them; the groups of a key
    // are merged again below.
    sql.push(
        " GROUP BY provider, model, alias, currency, profile, COALESCE(lock_digest, ''), \
         dimensions",
    );
    let rows = sql.fetch_all_as::<GroupRow>(db).await?;
    if rows.is_empty() {
        return Ok(());
    }
    for row in rows {
        row.add_to(tally)?;
    }

    let mut sql = Sql::new("SELECT DISTINCT conversation_id FROM usage_events");
    part.filter(&mut sql, tenant, size);
    sql.push(" AND conversation_id IS NOT NULL");
    for row in sql.fetch_all(db).await? {
        tally
            .conversations
            .insert(uuid(&row.get::<String>("conversation_id")?)?);
    }

    let mut sql = Sql::new("SELECT seq, log_id FROM usage_events");
    part.filter(&mut sql, tenant, size);
    sql.push(" ORDER BY seq LIMIT ")
        .push_bind(opts.inline_ids as i64 + 1);
    for row in sql.fetch_all_as::<LogIdRow>(db).await? {
        tally.ids.push((row.seq, uuid(&row.log_id)?));
    }

    let mut sql = Sql::new("SELECT seq, provider, model, alias FROM usage_events");
    part.filter(&mut sql, tenant, size);
    sql.push(" ORDER BY seq DESC LIMIT 1");
    if let Some(row) = sql.fetch_optional_as::<NewestRow>(db).await? {
        let labels = LogLabels {
            provider: row.provider,
            model: row.model,
            alias: row.alias,
        };
        tally.newest(row.seq, || labels);
    }

    if opts.leaf_hashes {
        let mut sql = Sql::new("SELECT seq, leaf_hash FROM usage_events");
        part.filter(&mut sql, tenant, size);
        sql.push(" ORDER BY seq");
        for row in sql.fetch_all_as::<LeafRow>(db).await? {
            tally.leaves.push((row.seq, hash32(row.leaf_hash)?));
        }
    }
    Ok(())
}

/// Locks the tenant's receipt state for this transaction; returns (version, certified count).
async fn lock_state(tx: &mut Tx, dialect: Dialect, tenant: &str) -> Result<(i64, i64), StoreError> {
    query(
        "INSERT INTO receipt_state (tenant_id, certified_count, version) VALUES ($1, 0, 0) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    let lock = match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let row = query(format!(
        "SELECT version, certified_count FROM receipt_state WHERE tenant_id = $1{lock}"
    ))
    .bind(tenant)
    .fetch_one_as::<StateRow>(&mut *tx)
    .await?;
    Ok((row.version, row.certified_count))
}

pub(super) async fn insert_receipt(db: &Db, r: &NewReceipt) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (r.ranges.first(), r.ranges.last()) else {
        return Err(StoreError::Invariant("a receipt certifies no log".into()));
    };
    let (lo, hi) = (first.start, last.end);
    let mut tx = db.begin_write().await?;
    let (version, certified) = lock_state(&mut tx, db.dialect, &r.tenant_id).await?;
    if r.since_version.is_some_and(|v| v != version) {
        return Err(StoreError::Stale(
            "another receipt certified logs while this one was being generated".into(),
        ));
    }
    let mut tiles = Vec::with_capacity(r.tiles.len() * 32);
    for t in &r.tiles {
        tiles.extend_from_slice(t);
    }
    query(
        "INSERT INTO receipts (tenant_id, id, issued_us, receipt_type, key_id, log_count, root, \
         document, tiles) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.tenant_id)
    .bind(&r.id)
    .bind(r.issued_us)
    .bind(&r.receipt_type)
    .bind(&r.key_id)
    .bind(r.count)
    .bind(r.root.to_vec())
    .bind(&r.document)
    .bind(tiles)
    .execute(&mut tx)
    .await?;
    let tags: BTreeSet<&String> = r.tags.iter().collect();
    for tag in tags {
        query(
            "INSERT INTO receipt_tags (tenant_id, tag, receipt_id, issued_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.tenant_id)
        .bind(tag)
        .bind(&r.id)
        .bind(r.issued_us)
        .execute(&mut tx)
        .await?;
    }
    let mut index = 0;
    for chunk in r.ranges.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(
            "INSERT INTO receipt_ranges (tenant_id, receipt_id, first_index, start_seq, end_seq) \
             VALUES ",
        );
        for (i, range) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .push_bind(r.tenant_id.as_str())
                .push(", ")
                .push_bind(r.id.as_str())
                .push(", ")
                .push_bind(index)
                .push(", ")
                .push_bind(range.start)
                .push(", ")
                .push_bind(range.end)
                .push(")");
            index += range.len();
        }
        sql.execute(&mut tx).await?;
    }
    if index != r.count {
        return Err(StoreError::Invariant(format!(
            "the ranges hold {index} logs, the receipt says {}",
            r.count
        )));
    }

    // Merge the new ranges into the certified union: every stored range that touches
    // [lo, hi] is replaced by the merge.
    let rows = query(
        "SELECT start_seq, end_seq FROM certified_ranges \
         WHERE tenant_id = $1 AND end_seq >= $2 AND start_seq <= $3 ORDER BY start_seq",
    )
    .bind(&r.tenant_id)
    .bind(lo)
    .bind(hi)
    .fetch_all_as::<RangeRow>(&mut tx)
    .await?;
    let old: Vec<SeqRange> = rows.into_iter().map(SeqRange::from).collect();
    let merged = merge(&old, &r.ranges);
    let added: i64 =
        merged.iter().map(SeqRange::len).sum::<i64>() - old.iter().map(SeqRange::len).sum::<i64>();
    query(
        "DELETE FROM certified_ranges WHERE tenant_id = $1 AND end_seq >= $2 AND start_seq <= $3",
    )
    .bind(&r.tenant_id)
    .bind(lo)
    .bind(hi)
    .execute(&mut tx)
    .await?;
    for chunk in merged.chunks(ROWS_PER_INSERT) {
        let mut sql =
            Sql::new("INSERT INTO certified_ranges (tenant_id, start_seq, end_seq) VALUES ");
        for (i, range) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .push_bind(r.tenant_id.as_str())
                .push(", ")
                .push_bind(range.start)
                .push(", ")
                .push_bind(range.end)
                .push(")");
        }
        sql.execute(&mut tx).await?;
    }
    query("UPDATE receipt_state SET version = $1, certified_count = $2 WHERE tenant_id = $3")
        .bind(version + 1)
        .bind(certified + added)
        .bind(&r.tenant_id)
        .execute(&mut tx)
        .await?;
    let document: serde_json::Value = serde_json::from_str(&r.document).unwrap_or_default();
    let alert = NewAlert {
        tenant_id: r.tenant_id.clone(),
        event_type: EventType::ReceiptGenerated,
        dedupe_key: format!("receipt:{}", r.id),
        data: serde_json::json!({
            "receipt_id": r.id,
            "receipt_type": r.receipt_type,
            "certified_count": r.count,
            "tags": r.tags,
            "amounts": document.get("amounts"),
        }),
        created_us: r.issued_us,
    };
    let t = EventType::ReceiptGenerated;
    if super::webhooks::subscribed(&mut tx, db.dialect, &r.tenant_id, t).await? {
        super::webhooks::raise_in(&mut tx, db.dialect, &[alert]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The union of two ascending range lists, merged so that no two ranges touch.
fn merge(a: &[SeqRange], b: &[SeqRange]) -> Vec<SeqRange> {
    let mut all: Vec<SeqRange> = a.iter().chain(b).copied().collect();
    all.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<SeqRange> = Vec::with_capacity(all.len());
    for r in all {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

const RECEIPT_COLUMNS: &str = "id, tenant_id, issued_us, key_id, log_count, root, document";

row! {
    /// The columns of [`RECEIPT_COLUMNS`].
    struct ReceiptRow {
        id: String,
        tenant_id: String,
        issued_us: i64,
        key_id: String,
        log_count: i64,
        root: Vec<u8>,
        document: String,
    }
}

impl TryFrom<ReceiptRow> for StoredReceipt {
    type Error = StoreError;

    fn try_from(r: ReceiptRow) -> Result<StoredReceipt, StoreError> {
        Ok(StoredReceipt {
            id: r.id,
            tenant_id: r.tenant_id,
            issued_us: r.issued_us,
            key_id: r.key_id,
            count: r.log_count,
            root: hash32(r.root)?,
            document: r.document,
        })
    }
}

pub(super) async fn list_receipts(
    db: &Db,
    tenant: &str,
    tag: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<StoredReceipt>, i64), StoreError> {
    let (rows, total) = match tag {
        None => {
            let rows = query(format!(
                "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE tenant_id = $1 \
                 ORDER BY issued_us DESC, id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(tenant)
            .bind(limit)
            .bind(offset)
            .fetch_all_as::<ReceiptRow>(db)
            .await?;
            let total = query("SELECT COUNT(*) AS n FROM receipts WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(db)
                .await?
                .get("n")?;
            (rows, total)
        }
        Some(tag) => {
            let columns = RECEIPT_COLUMNS
                .split(", ")
                .map(|c| format!("r.{c} AS {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = query(format!(
                "SELECT {columns} FROM receipt_tags t JOIN receipts r \
                 ON r.tenant_id = t.tenant_id AND r.id = t.receipt_id \
                 WHERE t.tenant_id = $1 AND t.tag = $2 \
                 ORDER BY t.issued_us DESC, t.receipt_id DESC LIMIT $3 OFFSET $4"
            ))
            .bind(tenant)
            .bind(tag)
            .bind(limit)
            .bind(offset)
            .fetch_all_as::<ReceiptRow>(db)
            .await?;
            let total =
                query("SELECT COUNT(*) AS n FROM receipt_tags WHERE tenant_id = $1 AND tag = $2")
                    .bind(tenant)
                    .bind(tag)
                    .fetch_one(db)
                    .await?
                    .get("n")?;
            (rows, total)
        }
    };
    let receipts = rows
        .into_iter()
        .map(StoredReceipt::try_from)
        .collect::<Result<_, _>>()?;
    Ok((receipts, total))
}

pub(super) async fn get_receipt(
    db: &Db,
    tenant: &str,
    id: &str,
) -> Result<Option<StoredReceipt>, StoreError> {
    let row = query(format!(
        "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional_as::<ReceiptRow>(db)
    .await?;
    row.map(StoredReceipt::try_from).transpose()
}

row! {
    struct IndexedRangeRow { first_index: i64, start_seq: i64, end_seq: i64 }
}

/// A receipt's ranges that overlap leaf indices `[lo, hi)`, with their first index.
async fn ranges_between(
    db: &Db,
    tenant: &str,
    id: &str,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, SeqRange)>, StoreError> {
    let rows = query(
        "SELECT first_index, start_seq, end_seq FROM receipt_ranges \
         WHERE tenant_id = $1 AND receipt_id = $2 AND first_index < $3 \
         AND first_index + (end_seq - start_seq) > $4 ORDER BY first_index",
    )
    .bind(tenant)
    .bind(id)
    .bind(hi)
    .bind(lo)
    .fetch_all_as::<IndexedRangeRow>(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let range = SeqRange {
                start: r.start_seq,
                end: r.end_seq,
            };
            (r.first_index, range)
        })
        .collect())
}

/// The positions of leaf indices `[lo, hi)` of a receipt's set, as runs.
async fn positions(
    db: &Db,
    tenant: &str,
    id: &str,
    lo: i64,
    hi: i64,
) -> Result<Vec<SeqRange>, StoreError> {
    Ok(ranges_between(db, tenant, id, lo, hi)
        .await?
        .into_iter()
        .map(|(first, r)| SeqRange {
            start: r.start + (lo - first).max(0),
            end: r.start + (hi - first).min(r.len()),
        })
        .collect())
}

pub(super) async fn receipt_logs(
    db: &Db,
    tenant: &str,
    id: &str,
    limit: i64,
    offset: i64,
) -> Result<Option<Vec<ReceiptLog>>, StoreError> {
    let Some(r) = get_receipt(db, tenant, id).await? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    let hi = offset.saturating_add(limit).min(r.count);
    let mut index = offset;
    for run in positions(db, tenant, id, offset, hi).await? {
        let rows = query(format!(
            "SELECT {EVENT_COLUMNS}, entry FROM usage_events \
             WHERE tenant_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq"
        ))
        .bind(tenant)
        .bind(run.start)
        .bind(run.end)
        .fetch_all(db)
        .await?;
        let mut logs = BTreeMap::new();
        for row in &rows {
            let event = stored_event(row)?;
            let entry: Vec<u8> = row.get("entry")?;
            let seq = event.seq;
            let event = Box::new(event);
            logs.insert(seq, CertifiedLog::Live { event, entry });
        }
        if logs.len() as i64 != run.len() {
            archived_logs(db, tenant, run, &mut logs).await?;
        }
        if logs.len() as i64 != run.len() {
            return Err(StoreError::Invariant(format!(
                "receipt {id} certifies logs {}..{} that are neither live nor archived",
                run.start, run.end
            )));
        }
        for log in logs.into_values() {
            out.push(ReceiptLog { index, log });
            index += 1;
        }
    }
    Ok(Some(out))
}

row! {
    struct ArchivedLogRow { seq: i64, log_id: String, leaf_hash: Vec<u8>, archive_id: String }
}

/// Adds the archived logs of positions `run` that `logs` lacks.
async fn archived_logs(
    db: &Db,
    tenant: &str,
    run: SeqRange,
    logs: &mut BTreeMap<i64, CertifiedLog>,
) -> Result<(), StoreError> {
    let rows = query(
        "SELECT seq, log_id, leaf_hash, archive_id FROM archived_leaves \
         WHERE tenant_id = $1 AND seq >= $2 AND seq < $3",
    )
    .bind(tenant)
    .bind(run.start)
    .bind(run.end)
    .fetch_all_as::<ArchivedLogRow>(db)
    .await?;
    for row in rows {
        if let std::collections::btree_map::Entry::Vacant(slot) = logs.entry(row.seq) {
            slot.insert(CertifiedLog::Archived {
                seq: row.seq,
                log_id: row.log_id,
                leaf_hash: row.leaf_hash,
                archive_id: row.archive_id,
            });
        }
    }
    Ok(())
}

/// Events at positions `run`, ascending or descending.
async fn events_between(
    db: &Db,
    tenant: &str,
    run: SeqRange,
    descending: bool,
) -> Result<Vec<StoredEvent>, StoreError> {
    let order = if descending { "DESC" } else { "" };
    let rows = query(format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events WHERE tenant_id = $1 AND seq >= $2 AND seq < $3 \
         ORDER BY seq {order}"
    ))
    .bind(tenant)
    .bind(run.start)
    .bind(run.end)
    .fetch_all(db)
    .await?;
    rows.iter().map(stored_event).collect()
}

row! {
    struct RangeStartRow { first_index: i64, start_seq: i64 }
}

/// The leaf index of position `seq` in a receipt's set, if the receipt certifies it.
pub(super) async fn receipt_index(
    db: &Db,
    tenant: &str,
    id: &str,
    seq: i64,
) -> Result<Option<i64>, StoreError> {
    let row = query(
        "SELECT first_index, start_seq FROM receipt_ranges \
         WHERE tenant_id = $1 AND receipt_id = $2 AND start_seq <= $3 AND end_seq > $3",
    )
    .bind(tenant)
    .bind(id)
    .bind(seq)
    .fetch_optional_as::<RangeStartRow>(db)
    .await?;
    Ok(row.map(|r| r.first_index + seq - r.start_seq))
}

/// Leaf hashes of leaf indices `[lo, hi)` of a receipt's set.
async fn set_leaves(
    db: &Db,
    tenant: &str,
    id: &str,
    lo: i64,
    hi: i64,
) -> Result<Vec<Hash>, StoreError> {
    let mut out = Vec::with_capacity((hi - lo).max(0) as usize);
    for run in positions(db, tenant, id, lo, hi).await? {
        out.extend(super::transparency::leaf_hashes(db, tenant, run.start, run.end).await?);
    }
    if out.len() as i64 != hi - lo {
        return Err(StoreError::Invariant(format!(
            "receipt {id} is missing leaves in {lo}..{hi}"
        )));
    }
    Ok(out)
}

pub(super) async fn receipt_nodes(
    db: &Db,
    tenant: &str,
    id: &str,
    needs: &Needs,
) -> Result<Option<Nodes>, StoreError> {
    let row = query("SELECT tiles FROM receipts WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .fetch_optional(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let tiles: Vec<u8> = row.get("tiles")?;
    let mut nodes = Nodes::new();
    for range in &needs.tiles {
        for t in range.clone() {
            let at = t as usize * 32;
            let hash = tiles
                .get(at..at + 32)
                .ok_or_else(|| StoreError::Invariant(format!("receipt {id} lacks tile {t}")))?;
            nodes.add_tiles(t, [hash32(hash.to_vec())?]);
        }
    }
    for range in &needs.leaves {
        let hashes = set_leaves(db, tenant, id, range.start as i64, range.end as i64).await?;
        nodes.add_leaves(range.start, hashes);
    }
    Ok(Some(nodes))
}

/// Every leaf hash of a receipt's set, in order (to check its commitment).
pub(super) async fn receipt_leaves(
    db: &Db,
    tenant: &str,
    id: &str,
) -> Result<Option<Vec<Hash>>, StoreError> {
    let Some(r) = get_receipt(db, tenant, id).await? else {
        return Ok(None);
    };
    // Read in tile-sized pieces' multiples, so memory holds hashes, not rows.
    let step = 4096 * TILE_LEAVES as i64;
    let mut out = Vec::with_capacity(r.count as usize);
    let mut lo = 0;
    while lo < r.count {
        let hi = (lo + step).min(r.count);
        out.extend(set_leaves(db, tenant, id, lo, hi).await?);
        lo = hi;
    }
    Ok(Some(out))
}

pub(super) async fn uncertified(
    db: &Db,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<StoredEvent>, i64), StoreError> {
    let size = log_size(db, tenant).await?;
    let open = gaps(&certified_ranges(db, tenant).await?, size);
    let total = open.iter().map(SeqRange::len).sum();
    // Newest first: walk the gaps from the top, skipping `offset` logs.
    let mut skip = offset;
    let mut want = limit;
    let mut out = Vec::new();
    for gap in open.iter().rev() {
        if want <= 0 {
            break;
        }
        if skip >= gap.len() {
            skip -= gap.len();
            continue;
        }
        let end = gap.end - skip;
        let start = (end - want).max(gap.start);
        skip = 0;
        want -= end - start;
        out.extend(events_between(db, tenant, SeqRange { start, end }, true).await?);
    }
    Ok((out, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i64, end: i64) -> SeqRange {
        SeqRange { start, end }
    }

    #[test]
    fn gaps_are_the_positions_no_range_covers_below_the_size() {
        assert_eq!(gaps(&[], 5), vec![r(0, 5)]);
        assert_eq!(gaps(&[r(0, 5)], 5), vec![]);
        assert_eq!(
            gaps(&[r(1, 2), r(4, 6)], 8),
            vec![r(0, 1), r(2, 4), r(6, 8)]
        );
        assert_eq!(gaps(&[r(2, 9)], 5), vec![r(0, 2)]);
    }

    #[test]
    fn merging_joins_overlapping_and_touching_ranges() {
        assert_eq!(
            merge(&[r(0, 2), r(5, 6)], &[r(2, 3)]),
            vec![r(0, 3), r(5, 6)]
        );
        assert_eq!(merge(&[r(0, 2)], &[r(1, 7), r(7, 9)]), vec![r(0, 9)]);
        assert_eq!(merge(&[], &[r(3, 4)]), vec![r(3, 4)]);
    }

    #[test]
    fn runs_compress_consecutive_positions() {
        assert_eq!(
            SeqRange::runs([0, 1, 2, 5, 6, 9]),
            vec![r(0, 3), r(5, 7), r(9, 10)]
        );
        assert_eq!(SeqRange::runs([]), vec![]);
    }
}
