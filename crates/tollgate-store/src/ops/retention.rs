//! A retention run: for each tenant, under its lease, finish archives a crash left half done,
//! archive every whole UTC month older than the archive age whose events receipts certified
//! (all of them, unless the policy archives uncertified months too), delete archive files past
//! the delete age and drop old message content in batches.
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
//! Deleting an old archive marks its manifest not live, removes its data file, then marks the
//! record `deleted`; a data file that is missing while its manifest still says it is live is
//! an error, not a deletion. Rollups, receipts, ledger entries, checkpoints, log tiles and
//! the kept leaf hashes are never touched.
//!
//! File work (writing, fsyncing, reading back) runs on blocking threads; only the database
//! is awaited on the runtime.

use std::ops::ControlFlow;

use tollgate_core::time::{month_of, month_start_us, month_string, next_month, now_us};
use uuid::Uuid;

use super::retention_sql as sql;
use super::transparency::log_size;
use crate::archive::{self, ArchiveError, DataWriter};
use crate::db::Db;
use crate::retention::{
    ArchiveRecord, ArchiveState, RetentionOptions, RetentionPolicy, RetentionReport, RetentionStep,
    TenantRetention,
};
use crate::StoreError;

const DAY_US: i64 = 86_400 * 1_000_000;
/// Events read per query while an archive file is written.
const PAGE_EVENTS: i64 = 2_000;
/// Pages written between two renewals of the lease, which lasts ten minutes.
const RENEW_EVERY_PAGES: u32 = 10;

type Flow = ControlFlow<()>;

impl From<ArchiveError> for StoreError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Io { .. } => StoreError::Unavailable(e.to_string()),
            ArchiveError::Mismatch(_) | ArchiveError::Missing(_) => {
                StoreError::Invariant(e.to_string())
            }
        }
    }
}

/// Runs file work on a blocking thread, so that compressing, fsyncing and reading back a
/// large archive never stalls the runtime's other tasks.
async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ArchiveError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done?),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "archive file work stopped: {e}"
        ))),
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
            self.drop_contents(cutoff).await?;
        }
        if self.policy.delete_after_days > 0 {
            // Alerts are for days and months long past by then, so no threshold can fire
            // again for want of its dedupe key.
            let cutoff = self.now_us - i64::from(self.policy.delete_after_days) * DAY_US;
            if !self.opts.dry_run {
                self.renew().await?;
            }
            self.out.webhook_history_pruned +=
                sql::prune_webhook_history(self.db, &tenant, cutoff, self.opts.dry_run).await?;
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Drops the content of messages older than `cutoff`, a batch per statement, so that
    /// ingest waits for one batch at most rather than the tenant's whole history.
    async fn drop_contents(&mut self, cutoff: i64) -> Result<(), StoreError> {
        let (db, tenant) = (self.db, self.tenant_id());
        if self.opts.dry_run {
            self.out.contents_dropped += sql::count_old_contents(db, &tenant, cutoff).await?;
            return Ok(());
        }
        let batch = self.opts.batch_messages.max(1);
        let mut after = None;
        loop {
            self.renew().await?;
            let (dropped, next) =
                sql::drop_contents_batch(db, &tenant, cutoff, after.as_ref(), batch).await?;
            self.out.contents_dropped += dropped;
            match next {
                Some(key) => after = Some(key),
                None => return Ok(()),
            }
        }
    }

    /// Writes the archive of the tenant's live events of `month` that no archive holds yet,
    /// records it and moves them; skips the month while receipts have not certified all of
    /// them (unless the policy says to archive them anyway).
    async fn archive_month(&mut self, month: i64) -> Result<Flow, StoreError> {
        let (db, tenant) = (self.db, self.tenant_id());
        let size = log_size(db, &tenant).await?;
        // A crash can leave a `written` archive whose events are still live; they are its,
        // counted (or moved) once, by `move_out`.
        let lo = sql::archived_through(db, &tenant, month)
            .await?
            .map_or(0, |last| last + 1);
        let span = sql::live_span(db, &tenant, bounds(month), (lo, size - 1)).await?;
        let Some((first, last, count)) = span else {
            return Ok(ControlFlow::Continue(()));
        };
        if !self.policy.archive_uncertified {
            let open = sql::first_uncertified(db, &tenant, bounds(month), (first, last)).await?;
            if let Some(seq) = open {
                tracing::info!(
                    tenant = %tenant,
                    month = %month_string(month),
                    seq,
                    "month left live: some of its events no receipt certifies"
                );
                self.out.months_skipped_uncertified += 1;
                return Ok(ControlFlow::Continue(()));
            }
        }
        if self.opts.dry_run {
            self.out.archives_written += 1;
            self.out.events_archived += count;
            return Ok(ControlFlow::Continue(()));
        }
        self.renew().await?;
        let id = format!("{}-{first}", month_string(month));
        let (data, manifest) = archive::relative_paths(&tenant, &id);
        let dir = self.policy.archive_dir.clone();
        let mut writer = {
            let (dir, data, holder) = (dir.clone(), data.clone(), self.holder.to_string());
            blocking(move || DataWriter::create(&dir, &data, &holder)).await?
        };
        let mut after = first - 1;
        let mut pages = 0u32;
        loop {
            let lines = sql::page(db, &tenant, bounds(month), after, last, PAGE_EVENTS).await?;
            let Some(line) = lines.last() else { break };
            after = line.seq;
            // The writer goes to a blocking thread with its page and comes back with it.
            writer = blocking(move || {
                for line in &lines {
                    writer.push(line)?;
                }
                Ok(writer)
            })
            .await?;
            pages += 1;
            if pages % RENEW_EVERY_PAGES == 0 {
                self.renew().await?;
            }
        }
        let written = blocking(move || writer.finish()).await?;
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
        {
            let (path, holder) = (dir.join(&manifest), self.holder.to_string());
            blocking(move || archive::write_durably(&path, &text, &holder)).await?;
        }
        if self.stop(RetentionStep::ManifestWritten).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        // Writing a large file takes a while: recording it needs the lease still held, so
        // that no other runner has started on the same month meanwhile.
        self.renew().await?;
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
        {
            let (dir, record) = (self.policy.archive_dir.clone(), r.clone());
            blocking(move || archive::check(&dir, &record)).await?;
        }
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

    /// Deletes a removed archive: marks its manifest not live, removes its data file, then
    /// marks its record. A data file that is not in this archive directory stops it before
    /// anything changes.
    async fn delete(&mut self, r: &ArchiveRecord) -> Result<Flow, StoreError> {
        self.out.archives_deleted += 1;
        if self.opts.dry_run {
            return Ok(ControlFlow::Continue(()));
        }
        self.renew().await?;
        let at = now_us();
        {
            let (dir, record, holder) = (
                self.policy.archive_dir.clone(),
                r.clone(),
                self.holder.to_string(),
            );
            blocking(move || archive::mark_deleted(&dir, &record, at, &holder)).await?;
        }
        if self.stop(RetentionStep::ManifestMarked).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        {
            let (dir, record) = (self.policy.archive_dir.clone(), r.clone());
            blocking(move || archive::remove_data(&dir, &record)).await?;
        }
        if self.stop(RetentionStep::FileDeleted).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        sql::mark_deleted(self.db, r, at).await?;
        Ok(ControlFlow::Continue(()))
    }
}
