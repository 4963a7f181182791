//! A retention run: for each tenant, under its lease, finish archives a crash left half done,
//! archive every whole UTC month older than the archive age, delete archive files past the
//! delete age and drop old message content.
//!
//! One archive goes through steps that each leave a state the next run can finish:
//! 1. the data file is written under a temporary name, fsynced and renamed (a crash leaves
//!    at most a file no record names; the next run writes it again);
//! 2. the manifest likewise;
//! 3. the record, state `written`, once the live events in its range are counted equal;
//! 4. batches of events move out of `usage_events`, each one transaction that keeps their
//!    leaf hashes in `archived_leaves` (a trigger refuses any other delete); before the first
//!    batch of a run the file is read back and checked against its record;
//! 5. state `removed` once every event has moved.
//!
//! Deleting an old archive removes its data file, marks its manifest not live, then marks
//! the record `deleted`. Rollups, receipts, ledger entries, checkpoints, log tiles and the
//! kept leaf hashes are never touched.

use std::ops::ControlFlow;

use sqlx::Row;
use tollgate_core::time::{month_of, month_start_us, month_string, next_month, now_us};
use uuid::Uuid;

use super::retention_sql as sql;
use super::transparency::{hash32, log_size};
use crate::archive::{self, ArchiveError, ArchivedLine, DataWriter};
use crate::db::Db;
use crate::retention::{
    ArchiveRecord, ArchiveState, RetentionOptions, RetentionPolicy, RetentionReport, RetentionStep,
    TenantRetention,
};
use crate::StoreError;

const DAY_US: i64 = 86_400 * 1_000_000;
/// Events read per query while an archive file is written.
const PAGE_EVENTS: i64 = 2_000;

type Flow = ControlFlow<()>;

impl From<ArchiveError> for StoreError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Io { .. } => StoreError::Unavailable(e.to_string()),
            ArchiveError::Mismatch(_) => StoreError::Invariant(e.to_string()),
        }
    }
}

/// Runs retention for every tenant; ages are measured back from `now_us`.
pub(super) async fn run(
    db: &Db,
    policy: &RetentionPolicy,
    opts: &RetentionOptions,
    now_us: i64,
) -> Result<RetentionReport, StoreError> {
    let holder = format!("ret_{}", Uuid::new_v4().simple());
    let mut report = RetentionReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    for tenant in super::tenants::list_tenants(db).await? {
        let mut runner = Runner {
            db,
            policy,
            opts,
            now_us,
            holder: &holder,
            out: TenantRetention {
                tenant_id: tenant.id.clone(),
                tenant_name: tenant.name.clone(),
                ..Default::default()
            },
        };
        if !opts.dry_run && !sql::take_lease(db, &tenant.id, &holder).await? {
            runner.out.busy = true;
            report.tenants.push(runner.out);
            continue;
        }
        let flow = runner.tenant().await;
        if !opts.dry_run {
            if let Err(e) = sql::release_lease(db, &tenant.id, &holder).await {
                tracing::warn!(tenant = %tenant.id, error = %e, "could not release the retention lease; it expires by itself");
            }
        }
        let mut out = runner.out;
        match flow {
            Ok(ControlFlow::Break(())) => {
                report.tenants.push(out);
                report.stopped_after = opts.stop_after;
                return Ok(report);
            }
            Ok(ControlFlow::Continue(())) => {}
            Err(e) => {
                tracing::error!(tenant = %tenant.id, error = %e, "retention failed for a tenant");
                out.error = Some(e.to_string());
            }
        }
        report.tenants.push(out);
    }
    Ok(report)
}

/// A tenant's archive records (for reports, tests and checks).
pub(super) async fn archives(db: &Db, tenant: &str) -> Result<Vec<ArchiveRecord>, StoreError> {
    sql::records(db, tenant).await
}

struct Runner<'a> {
    db: &'a Db,
    policy: &'a RetentionPolicy,
    opts: &'a RetentionOptions,
    now_us: i64,
    holder: &'a str,
    out: TenantRetention,
}

/// `[start, end)` of a `yyyymm` month.
fn bounds(month: i64) -> (i64, i64) {
    (month_start_us(month), month_start_us(next_month(month)))
}

impl Runner<'_> {
    fn tenant_id(&self) -> String {
        self.out.tenant_id.clone()
    }

    /// Whether the run was told to stop after `step`.
    fn stop(&self, step: RetentionStep) -> Flow {
        if self.opts.stop_after == Some(step) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Renews the lease; an error when another runner took it over.
    async fn renew(&self) -> Result<(), StoreError> {
        if sql::take_lease(self.db, &self.out.tenant_id, self.holder).await? {
            Ok(())
        } else {
            Err(StoreError::Stale(
                "another runner took over the retention lease".into(),
            ))
        }
    }

    async fn tenant(&mut self) -> Result<Flow, StoreError> {
        let tenant = self.tenant_id();
        for r in sql::records(self.db, &tenant).await? {
            if r.state == ArchiveState::Written && self.move_out(&r).await?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        if self.policy.archive_after_days > 0 {
            let cutoff = self.now_us - i64::from(self.policy.archive_after_days) * DAY_US;
            // Only whole months: the month holding the cutoff waits until it is all past.
            let boundary = month_start_us(month_of(cutoff));
            let mut from = i64::MIN;
            while let Some(oldest) = sql::oldest_live(self.db, &tenant, from, boundary).await? {
                let month = month_of(oldest);
                if self.archive_month(month).await?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                from = bounds(month).1;
            }
        }
        if self.policy.delete_after_days > 0 {
            let cutoff = self.now_us - i64::from(self.policy.delete_after_days) * DAY_US;
            for r in sql::records(self.db, &tenant).await? {
                let old = bounds(r.month).1 <= cutoff;
                let deletable = r.state == ArchiveState::Removed
                    || (self.opts.dry_run && r.state == ArchiveState::Written);
                if old && deletable && self.delete(&r).await?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        if self.policy.message_content_days > 0 {
            let cutoff = self.now_us - i64::from(self.policy.message_content_days) * DAY_US;
            self.out.contents_dropped +=
                sql::drop_contents(self.db, &tenant, cutoff, self.opts.dry_run).await?;
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Writes the archive of the tenant's live events of `month`, records it and moves them.
    async fn archive_month(&mut self, month: i64) -> Result<Flow, StoreError> {
        let (db, tenant) = (self.db, self.tenant_id());
        let size = log_size(db, &tenant).await?;
        let span = sql::live_span(db, &tenant, bounds(month), (0, size - 1)).await?;
        let Some((first, last, count)) = span else {
            return Ok(ControlFlow::Continue(()));
        };
        if self.opts.dry_run {
            self.out.archives_written += 1;
            self.out.events_archived += count;
            return Ok(ControlFlow::Continue(()));
        }
        self.renew().await?;
        let id = format!("{}-{first}", month_string(month));
        let (data, manifest) = archive::relative_paths(&tenant, &id);
        let dir = &self.policy.archive_dir;
        let mut writer = DataWriter::create(dir, &data, self.holder)?;
        let mut after = first - 1;
        loop {
            let rows = sql::page(db, &tenant, bounds(month), after, last, PAGE_EVENTS).await?;
            let Some(row) = rows.last() else { break };
            after = row.try_get(0)?;
            for row in &rows {
                writer.push(&ArchivedLine {
                    seq: row.try_get(0)?,
                    log_id: row.try_get(1)?,
                    entry: row.try_get(2)?,
                    leaf_hash: hash32(row.try_get(3)?)?,
                })?;
            }
        }
        let written = writer.finish()?;
        if written.count != count || written.first_seq != first || written.last_seq != last {
            return Err(StoreError::Stale(format!(
                "the events of {tenant} in {} changed while they were archived",
                month_string(month)
            )));
        }
        if self.stop(RetentionStep::FileWritten).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        let record = ArchiveRecord {
            tenant_id: tenant.clone(),
            id,
            month,
            first_seq: first,
            last_seq: last,
            count,
            root: written.root,
            sha256: written.sha256,
            file: data,
            state: ArchiveState::Written,
            created_us: now_us(),
        };
        let text = serde_json::to_vec_pretty(&archive::manifest(&record, None))
            .map_err(|e| StoreError::Invariant(e.to_string()))?;
        archive::write_durably(&dir.join(&manifest), &text, self.holder)?;
        if self.stop(RetentionStep::ManifestWritten).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        sql::insert_record(db, &record, bounds(month)).await?;
        self.out.archives_written += 1;
        if self.stop(RetentionStep::Recorded).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        self.move_out(&record).await
    }

    /// Moves the live events of a written archive out of the live table, batch by batch,
    /// after checking its file; then marks it removed.
    async fn move_out(&mut self, r: &ArchiveRecord) -> Result<Flow, StoreError> {
        let month = bounds(r.month);
        if self.opts.dry_run {
            let live = sql::live_span(self.db, &r.tenant_id, month, (r.first_seq, r.last_seq))
                .await?
                .map_or(0, |(_, _, n)| n);
            self.out.events_archived += live;
            return Ok(ControlFlow::Continue(()));
        }
        self.renew().await?;
        // Nothing leaves the database unless the file holds it, checked line by line.
        archive::check(&self.policy.archive_dir, r)?;
        let batch = self.opts.batch_events.max(1);
        let mut lo = r.first_seq;
        let mut first_batch = true;
        while let Some(next) = sql::next_live(self.db, r, month, lo).await? {
            self.renew().await?;
            self.out.events_archived +=
                sql::move_batch(self.db, r, month, next, next + batch).await?;
            lo = next + batch;
            if first_batch {
                first_batch = false;
                if self.stop(RetentionStep::FirstBatchMoved).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        sql::mark_removed(self.db, r).await?;
        Ok(self.stop(RetentionStep::Removed))
    }

    /// Deletes a removed archive's data file, marks its manifest, then its record.
    async fn delete(&mut self, r: &ArchiveRecord) -> Result<Flow, StoreError> {
        self.out.archives_deleted += 1;
        if self.opts.dry_run {
            return Ok(ControlFlow::Continue(()));
        }
        self.renew().await?;
        let dir = &self.policy.archive_dir;
        archive::remove_durably(&dir.join(&r.file))?;
        if self.stop(RetentionStep::FileDeleted).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        let at = now_us();
        let (_, manifest) = archive::relative_paths(&r.tenant_id, &r.id);
        let text = serde_json::to_vec_pretty(&archive::manifest(r, Some(at)))
            .map_err(|e| StoreError::Invariant(e.to_string()))?;
        archive::write_durably(&dir.join(manifest), &text, self.holder)?;
        if self.stop(RetentionStep::ManifestMarked).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        sql::mark_deleted(self.db, r, at).await?;
        Ok(ControlFlow::Continue(()))
    }
}
