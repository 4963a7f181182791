//! The statements of a retention run: leases, archive records, which events may be archived,
//! moving archived events out of the live table, dropping message content. Each function is one statement or one
//! transaction; the order they run in is `retention`'s.

use tollgate_core::time::now_us;

use super::transparency::hash32;
use crate::archive::ArchivedLine;
use crate::db::{query, row, Db};
use crate::retention::{ArchiveRecord, ArchiveState};
use crate::StoreError;

/// How long a lease lasts without renewal. A runner renews it before every step, so only a
/// runner that died leaves one behind, and only this long.
const LEASE_US: i64 = 10 * 60 * 1_000_000;

/// Takes or renews the tenant's retention lease for `holder`; false when another runner
/// holds it.
pub(super) async fn take_lease(db: &Db, tenant: &str, holder: &str) -> Result<bool, StoreError> {
    let now = now_us();
    query(
        "INSERT INTO retention_leases (tenant_id, holder, expires_us) VALUES ($1, '', 0) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant)
    .execute(db.write())
    .await?;
    // One statement: PostgreSQL re-checks the condition on the row it locked, so of two
    // runners racing for an expired lease exactly one wins.
    let done = query(
        "UPDATE retention_leases SET holder = $1, expires_us = $2 \
         WHERE tenant_id = $3 AND (holder = $1 OR expires_us < $4)",
    )
    .bind(holder)
    .bind(now + LEASE_US)
    .bind(tenant)
    .bind(now)
    .execute(db.write())
    .await?;
    Ok(done == 1)
}

/// Gives the lease back, if `holder` still has it.
pub(super) async fn release_lease(db: &Db, tenant: &str, holder: &str) -> Result<(), StoreError> {
    query("UPDATE retention_leases SET expires_us = 0 WHERE tenant_id = $1 AND holder = $2")
        .bind(tenant)
        .bind(holder)
        .execute(db.write())
        .await?;
    Ok(())
}

const RECORD_COLUMNS: &str = "tenant_id, id, month, first_seq, last_seq, event_count, root, \
                              sha256, file, state, created_us";

row! {
    /// A `retention_archives` row, as [`RECORD_COLUMNS`] reads it.
    struct RecordRow {
        tenant_id: String,
        id: String,
        month: i64,
        first_seq: i64,
        last_seq: i64,
        event_count: i64,
        root: Vec<u8>,
        sha256: String,
        file: String,
        state: String,
        created_us: i64,
    }
}

impl TryFrom<RecordRow> for ArchiveRecord {
    type Error = StoreError;

    fn try_from(r: RecordRow) -> Result<ArchiveRecord, StoreError> {
        let state = ArchiveState::parse(&r.state)
            .ok_or_else(|| StoreError::Invariant(format!("unknown archive state '{}'", r.state)))?;
        Ok(ArchiveRecord {
            tenant_id: r.tenant_id,
            id: r.id,
            month: r.month,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            count: r.event_count,
            root: hash32(r.root)?,
            sha256: r.sha256,
            file: r.file,
            state,
            created_us: r.created_us,
        })
    }
}

/// A tenant's archive records, oldest first.
pub(super) async fn records(db: &Db, tenant: &str) -> Result<Vec<ArchiveRecord>, StoreError> {
    query(format!(
        "SELECT {RECORD_COLUMNS} FROM retention_archives WHERE tenant_id = $1 \
         ORDER BY first_seq"
    ))
    .bind(tenant)
    .fetch_all_as::<RecordRow>(db)
    .await?
    .into_iter()
    .map(ArchiveRecord::try_from)
    .collect()
}

/// The time of the tenant's oldest live event in `[from_us, before_us)`.
pub(super) async fn oldest_live(
    db: &Db,
    tenant: &str,
    from_us: i64,
    before_us: i64,
) -> Result<Option<i64>, StoreError> {
    query(
        "SELECT MIN(ts_us) AS oldest_us FROM usage_events \
         WHERE tenant_id = $1 AND ts_us >= $2 AND ts_us < $3",
    )
    .bind(tenant)
    .bind(from_us)
    .bind(before_us)
    .fetch_one(db)
    .await?
    .get("oldest_us")
}

row! {
    /// The span [`live_span`] measures; no `seq` when it holds no event.
    struct SpanRow {
        first_seq: Option<i64>,
        last_seq: Option<i64>,
        events: i64,
    }
}

/// The lowest and highest `seq` and the number of the tenant's live events in `[start_us,
/// end_us)` with `seq` in `[lo, hi]`.
pub(super) async fn live_span(
    db: &Db,
    tenant: &str,
    (start_us, end_us): (i64, i64),
    (lo, hi): (i64, i64),
) -> Result<Option<(i64, i64, i64)>, StoreError> {
    let span: SpanRow = query(
        "SELECT MIN(seq) AS first_seq, MAX(seq) AS last_seq, COUNT(*) AS events \
         FROM usage_events WHERE tenant_id = $1 \
         AND ts_us >= $2 AND ts_us < $3 AND seq >= $4 AND seq <= $5",
    )
    .bind(tenant)
    .bind(start_us)
    .bind(end_us)
    .bind(lo)
    .bind(hi)
    .fetch_one_as(db)
    .await?;
    Ok(span
        .first_seq
        .zip(span.last_seq)
        .map(|(f, l)| (f, l, span.events)))
}

/// The highest `seq` any archive of the tenant's `month` (`yyyymm`) holds: its live events
/// at or below it are in a recorded archive already (still live only while it is `written`).
pub(super) async fn archived_through(
    db: &Db,
    tenant: &str,
    month: i64,
) -> Result<Option<i64>, StoreError> {
    query(
        "SELECT MAX(last_seq) AS last_seq FROM retention_archives \
         WHERE tenant_id = $1 AND month = $2",
    )
    .bind(tenant)
    .bind(month)
    .fetch_one(db)
    .await?
    .get("last_seq")
}

/// The lowest `seq` of the tenant's live events in `[start_us, end_us)` with `seq` in
/// `[lo, hi]` that no receipt certifies, if any.
pub(super) async fn first_uncertified(
    db: &Db,
    tenant: &str,
    (start_us, end_us): (i64, i64),
    (lo, hi): (i64, i64),
) -> Result<Option<i64>, StoreError> {
    // certified_ranges is disjoint: the one range that can hold a seq is the last one that
    // starts at or before it, found through the primary key rather than by a scan.
    let row = query(
        "SELECT MIN(e.seq) AS first_seq FROM usage_events e WHERE e.tenant_id = $1 \
         AND e.ts_us >= $2 AND e.ts_us < $3 AND e.seq >= $4 AND e.seq <= $5 \
         AND COALESCE((SELECT c.end_seq FROM certified_ranges c \
                       WHERE c.tenant_id = e.tenant_id AND c.start_seq <= e.seq \
                       ORDER BY c.start_seq DESC LIMIT 1), 0) <= e.seq",
    )
    .bind(tenant)
    .bind(start_us)
    .bind(end_us)
    .bind(lo)
    .bind(hi)
    .fetch_one(db)
    .await?;
    row.get("first_seq")
}

row! {
    /// A live event as an archive holds it.
    struct LineRow {
        seq: i64,
        log_id: String,
        entry: Vec<u8>,
        leaf_hash: Vec<u8>,
    }
}

impl TryFrom<LineRow> for ArchivedLine {
    type Error = StoreError;

    fn try_from(r: LineRow) -> Result<ArchivedLine, StoreError> {
        Ok(ArchivedLine {
            seq: r.seq,
            log_id: r.log_id,
            entry: r.entry,
            leaf_hash: hash32(r.leaf_hash)?,
        })
    }
}

/// A page of live events for an archive, ascending by `seq`.
pub(super) async fn page(
    db: &Db,
    tenant: &str,
    (start_us, end_us): (i64, i64),
    after: i64,
    last: i64,
    limit: i64,
) -> Result<Vec<ArchivedLine>, StoreError> {
    query(
        "SELECT seq, log_id, entry, leaf_hash FROM usage_events WHERE tenant_id = $1 \
         AND seq > $2 AND seq <= $3 AND ts_us >= $4 AND ts_us < $5 ORDER BY seq LIMIT $6",
    )
    .bind(tenant)
    .bind(after)
    .bind(last)
    .bind(start_us)
    .bind(end_us)
    .bind(limit)
    .fetch_all_as::<LineRow>(db)
    .await?
    .into_iter()
    .map(ArchivedLine::try_from)
    .collect()
}

/// Records a written archive, after checking that the live events it covers are exactly the
/// ones it holds (as many, same root is the file's job).
pub(super) async fn insert_record(
    db: &Db,
    r: &ArchiveRecord,
    month: (i64, i64),
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let live: i64 = query(
        "SELECT COUNT(*) AS live FROM usage_events WHERE tenant_id = $1 \
         AND ts_us >= $2 AND ts_us < $3 AND seq >= $4 AND seq <= $5",
    )
    .bind(&r.tenant_id)
    .bind(month.0)
    .bind(month.1)
    .bind(r.first_seq)
    .bind(r.last_seq)
    .fetch_one(&mut tx)
    .await?
    .get("live")?;
    if live != r.count {
        return Err(StoreError::Stale(format!(
            "archive {} holds {} events but {live} are live in its range",
            r.id, r.count
        )));
    }
    query(format!(
        "INSERT INTO retention_archives ({RECORD_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&r.tenant_id)
    .bind(&r.id)
    .bind(r.month)
    .bind(r.first_seq)
    .bind(r.last_seq)
    .bind(r.count)
    .bind(r.root.to_vec())
    .bind(&r.sha256)
    .bind(&r.file)
    .bind(r.state.as_str())
    .bind(r.created_us)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The lowest live `seq` at or above `lo` that archive `r` covers.
pub(super) async fn next_live(
    db: &Db,
    r: &ArchiveRecord,
    month: (i64, i64),
    lo: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(live_span(db, &r.tenant_id, month, (lo, r.last_seq))
        .await?
        .map(|(first, _, _)| first))
}

/// Moves the events archive `r` covers in `[lo, hi)` out of the live table in one
/// transaction: their leaf hashes (and ids) go to `archived_leaves` first, which the delete
/// trigger requires. Returns how many moved.
pub(super) async fn move_batch(
    db: &Db,
    r: &ArchiveRecord,
    month: (i64, i64),
    lo: i64,
    hi: i64,
) -> Result<i64, StoreError> {
    const RANGE: &str = "WHERE tenant_id = $1 AND seq >= $2 AND seq < $3 AND seq <= $4 \
                         AND ts_us >= $5 AND ts_us < $6";
    let mut tx = db.begin_write().await?;
    let copied = query(format!(
        "INSERT INTO archived_leaves (tenant_id, seq, log_id, leaf_hash, archive_id) \
         SELECT tenant_id, seq, log_id, leaf_hash, $7 FROM usage_events {RANGE}"
    ))
    .bind(&r.tenant_id)
    .bind(lo)
    .bind(hi)
    .bind(r.last_seq)
    .bind(month.0)
    .bind(month.1)
    .bind(&r.id)
    .execute(&mut tx)
    .await?;
    let removed = query(format!("DELETE FROM usage_events {RANGE}"))
        .bind(&r.tenant_id)
        .bind(lo)
        .bind(hi)
        .bind(r.last_seq)
        .bind(month.0)
        .bind(month.1)
        .execute(&mut tx)
        .await?;
    if copied != removed {
        return Err(StoreError::Invariant(format!(
            "archive {}: kept {copied} leaf hashes for {removed} removed events",
            r.id
        )));
    }
    tx.commit().await?;
    Ok(removed as i64)
}

/// Marks archive `r` removed once every event it holds has left the live table.
pub(super) async fn mark_removed(db: &Db, r: &ArchiveRecord) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let kept: i64 = query(
        "SELECT COUNT(*) AS kept FROM archived_leaves WHERE tenant_id = $1 AND archive_id = $2",
    )
    .bind(&r.tenant_id)
    .bind(&r.id)
    .fetch_one(&mut tx)
    .await?
    .get("kept")?;
    if kept != r.count {
        return Err(StoreError::Invariant(format!(
            "archive {} holds {} events but {kept} left the live table",
            r.id, r.count
        )));
    }
    query(
        "UPDATE retention_archives SET state = 'removed', removed_us = $1 \
         WHERE tenant_id = $2 AND id = $3 AND state = 'written'",
    )
    .bind(now_us())
    .bind(&r.tenant_id)
    .bind(&r.id)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks archive `r` deleted (its file is gone).
pub(super) async fn mark_deleted(db: &Db, r: &ArchiveRecord, at_us: i64) -> Result<(), StoreError> {
    query(
        "UPDATE retention_archives SET state = 'deleted', deleted_us = $1 \
         WHERE tenant_id = $2 AND id = $3 AND state = 'removed'",
    )
    .bind(at_us)
    .bind(&r.tenant_id)
    .bind(&r.id)
    .execute(db.write())
    .await?;
    Ok(())
}

const OLD_CONTENT: &str = "FROM messages WHERE tenant_id = $1 AND ts_us < $2 \
     AND (content IS NOT NULL OR tool_calls IS NOT NULL OR tool_results IS NOT NULL)";

/// How many of the tenant's messages older than `before_us` still have content.
pub(super) async fn count_old_contents(
    db: &Db,
    tenant: &str,
    before_us: i64,
) -> Result<i64, StoreError> {
    query(format!("SELECT COUNT(*) AS messages {OLD_CONTENT}"))
        .bind(tenant)
        .bind(before_us)
        .fetch_one(db)
        .await?
        .get("messages")
}

/// A message's primary key within its tenant: (conversation id, position).
pub(super) type MessageKey = (String, i64);

/// Drops the content (and tool calls and results) of at most `limit` of the tenant's
/// messages older than `before_us` whose key comes after `after` (`None`: from the first),
/// keeping the rest of each row. One statement, so on SQLite the write lock is held for one
/// batch only. Returns how many changed and the key to continue after (`None`: done).
pub(super) async fn drop_contents_batch(
    db: &Db,
    tenant: &str,
    before_us: i64,
    after: Option<&MessageKey>,
    limit: i64,
) -> Result<(i64, Option<MessageKey>), StoreError> {
    // The empty conversation id sorts before every real one.
    let (after_id, after_pos) = after.map_or(("", -1), |(id, pos)| (id.as_str(), *pos));
    const AFTER: &str = "AND (conversation_id, position) > ($3, $4)";
    let last = query(format!(
        "SELECT conversation_id, position {OLD_CONTENT} {AFTER} \
         ORDER BY conversation_id, position LIMIT 1 OFFSET $5"
    ))
    .bind(tenant)
    .bind(before_us)
    .bind(after_id)
    .bind(after_pos)
    .bind(limit.max(1) - 1)
    .fetch_optional(db)
    .await?
    .map(|row| -> Result<MessageKey, StoreError> {
        Ok((row.get("conversation_id")?, row.get("position")?))
    })
    .transpose()?;
    let where_ = OLD_CONTENT.trim_start_matches("FROM messages ");
    let update = format!(
        "UPDATE messages SET content = NULL, tool_calls = NULL, tool_results = NULL \
         {where_} {AFTER}"
    );
    let done = match &last {
        Some((id, pos)) => {
            query(format!(
                "{update} AND (conversation_id, position) <= ($5, $6)"
            ))
            .bind(tenant)
            .bind(before_us)
            .bind(after_id)
            .bind(after_pos)
            .bind(id)
            .bind(pos)
            .execute(db.write())
            .await?
        }
        // Fewer than `limit` are left: this batch takes them all.
        None => {
            query(&update)
                .bind(tenant)
                .bind(before_us)
                .bind(after_id)
                .bind(after_pos)
                .execute(db.write())
                .await?
        }
    };
    Ok((done as i64, last))
}

/// Removes (or, for a dry run, counts) the tenant's finished webhook and email deliveries
/// created before `before_us`, then its dispatched alerts from before then that no delivery is left
/// for. Pending deliveries and their alerts stay, whatever their age.
pub(super) async fn prune_webhook_history(
    db: &Db,
    tenant: &str,
    before_us: i64,
    dry_run: bool,
) -> Result<i64, StoreError> {
    const OLD_DELIVERIES: &str = "FROM webhook_deliveries WHERE tenant_id = $1 \
        AND status IN ('delivered', 'failed') AND created_us < $2";
    const OLD_ALERTS: &str = "FROM alert_events WHERE tenant_id = $1 AND created_us < $2 \
        AND dispatched <> 0 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
        WHERE d.tenant_id = alert_events.tenant_id AND d.event_id = alert_events.id \
        AND (d.status = 'pending' OR d.created_us >= $2)) \
        AND NOT EXISTS (SELECT 1 FROM email_deliveries m \
        WHERE m.tenant_id = alert_events.tenant_id AND m.event_id = alert_events.id \
        AND (m.status = 'pending' OR m.created_us >= $2))";
    const OLD_EMAILS: &str = "FROM email_deliveries WHERE tenant_id = $1 \
        AND status IN ('delivered', 'failed') AND created_us < $2";
    if dry_run {
        let mut n = 0;
        for from in [OLD_DELIVERIES, OLD_EMAILS, OLD_ALERTS] {
            let row = query(format!("SELECT CAST(COUNT(*) AS BIGINT) AS old {from}"))
                .bind(tenant)
                .bind(before_us)
                .fetch_one(db)
                .await?;
            n += row.get::<i64>("old")?;
        }
        return Ok(n);
    }
    let mut tx = db.begin_write().await?;
    let mut n = 0;
    for from in [OLD_DELIVERIES, OLD_EMAILS, OLD_ALERTS] {
        let done = query(format!("DELETE {from}"))
            .bind(tenant)
            .bind(before_us)
            .execute(&mut tx)
            .await?;
        n += i64::try_from(done).unwrap_or(i64::MAX);
    }
    tx.commit().await?;
    Ok(n)
}
