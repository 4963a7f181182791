use std::path::Path;

use serde_json::json;
use tollgate_core::EventSource;
use tollgate_receipts::merkle::{
    self, consistency_spans, inclusion_spans, needs, verify_consistency, verify_inclusion,
};
use tollgate_receipts::Hash;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    archive, AppendItem, ArchiveState, CertifiedLog, Dedupe, NewConversation, NewMessage,
    NewReceipt, RetentionOptions, RetentionPolicy, RetentionReport, RetentionStep, SelectOptions,
    Selection, Store, Tenant,
};
use uuid::Uuid;

use crate::support::{at, event, item, raw_connection, tenant};

const ARCHIVE_STEPS: [RetentionStep; 5] = [
    RetentionStep::FileWritten,
    RetentionStep::ManifestWritten,
    RetentionStep::Recorded,
    RetentionStep::FirstBatchMoved,
    RetentionStep::Removed,
];

fn policy(dir: &Path) -> RetentionPolicy {
    RetentionPolicy {
        archive_after_days: 90,
        delete_after_days: 365,
        message_content_days: 30,
        archive_dir: dir.to_path_buf(),
        archive_uncertified: false,
    }
}

fn opts(stop_after: Option<RetentionStep>) -> RetentionOptions {
    RetentionOptions {
        dry_run: false,
        batch_events: 100,
        batch_messages: 2,
        stop_after,
    }
}

/// January and February 2026 interleaved (late January events after February's), then June:
/// 620 events, so the archived months span complete 256-leaf tiles and partial ones.
async fn seed(s: &dyn Store, t: &Tenant) -> Vec<Hash> {
    let parts = [
        ("2026-01-10T00:00:00Z", 200),
        ("2026-02-03T00:00:00Z", 150),
        ("2026-01-31T23:59:59Z", 100),
        ("2026-02-28T12:00:00Z", 150),
        ("2026-06-01T00:00:00Z", 20),
    ];
    for (ts, n) in parts {
        let items: Vec<_> = (0..n)
            .map(|i| item(event(t, "gpt-4o", 10 + i, 1, 100 + i, ts)))
            .collect();
        s.append_usage(&items).await.expect("append");
    }
    leaves(s, t).await
}

async fn leaves(s: &dyn Store, t: &Tenant) -> Vec<Hash> {
    let entries = s.log_entries(&t.id, 0, 10_000).await.expect("entries");
    entries
        .iter()
        .map(|e| e.leaf_hash.clone().try_into().expect("32 bytes"))
        .collect()
}

async fn receipt_for_everything(s: &dyn Store, t: &Tenant) -> Hash {
    s.register_signing_key("key_contract", "AAAA")
        .await
        .expect("key");
    certify(s, t, "rcpt_all").await.0
}

/// Stores receipt `id` for every uncertified live log, as `since_last_receipt` does; returns
/// its root and how many logs it certifies.
async fn certify(s: &dyn Store, t: &Tenant, id: &str) -> (Hash, i64) {
    let sel = s
        .select_logs(
            &t.id,
            &Selection::Uncertified,
            SelectOptions {
                leaf_hashes: true,
                inline_ids: 10,
            },
        )
        .await
        .expect("select");
    let root = merkle::root(&sel.leaf_hashes);
    s.insert_receipt(&NewReceipt {
        tenant_id: t.id.clone(),
        id: id.into(),
        issued_us: 1,
        receipt_type: "batch".into(),
        key_id: "key_contract".into(),
        count: sel.count,
        root,
        tiles: merkle::tile_roots(&sel.leaf_hashes),
        tags: vec![],
        document: "{}".into(),
        ranges: sel.ranges.clone(),
        since_version: None,
    })
    .await
    .expect("receipt");
    (root, sel.count)
}

fn totals(r: &RetentionReport) -> (i64, i64, i64, i64) {
    r.tenants.iter().fold((0, 0, 0, 0), |a, t| {
        (
            a.0 + t.events_archived,
            a.1 + t.archives_written,
            a.2 + t.archives_deleted,
            a.3 + t.contents_dropped,
        )
    })
}

/// Every position is live or in exactly one verified archive, with the leaf hash it was
/// logged with; returns how many are archived.
async fn every_event_is_live_or_archived_once(
    s: &dyn Store,
    t: &Tenant,
    dir: &Path,
    logged: &[Hash],
    engine: &str,
) -> usize {
    let mut seen = vec![0u32; logged.len()];
    let live = s.log_entries(&t.id, 0, 10_000).await.expect("entries");
    assert_eq!(live.len(), logged.len(), "{engine}: every position answers");
    for e in &live {
        if let Some(entry) = &e.entry {
            assert_eq!(merkle::leaf_hash(entry), logged[e.seq as usize], "{engine}");
            seen[e.seq as usize] += 1;
        }
    }
    let mut archived = 0;
    for r in s.archives(&t.id).await.expect("archives") {
        assert_eq!(r.state, ArchiveState::Removed, "{engine}: {}", r.id);
        for line in archive::verify(dir, &r).unwrap_or_else(|e| panic!("{engine}: {e}")) {
            assert_eq!(line.leaf_hash, logged[line.seq as usize], "{engine}");
            seen[line.seq as usize] += 1;
            archived += 1;
        }
    }
    for (seq, n) in seen.iter().enumerate() {
        assert_eq!(*n, 1, "{engine}: seq {seq} is held {n} times");
    }
    archived
}

/// The log's root, an inclusion proof of an archived leaf, a consistency proof across the
/// archived part, and the receipt's set commitment all still check out.
async fn proofs_still_hold(s: &dyn Store, t: &Tenant, logged: &[Hash], receipt_root: &Hash) {
    let size = logged.len() as u64;
    let root = merkle::root(logged);
    for index in [0u64, 255, 300, 449, 600] {
        let spans = inclusion_spans(index, size).expect("spans");
        let nodes = s
            .log_nodes(&t.id, size as i64, &needs(&spans))
            .await
            .expect("nodes");
        let proof = nodes.hashes(&spans).expect("hashes");
        verify_inclusion(&logged[index as usize], index, size, &proof, &root)
            .unwrap_or_else(|e| panic!("index {index}: {e}"));
    }
    let old = 300;
    let spans = consistency_spans(old, size).expect("spans");
    let nodes = s
        .log_nodes(&t.id, size as i64, &needs(&spans))
        .await
        .expect("nodes");
    let proof = nodes.hashes(&spans).expect("hashes");
    verify_consistency(
        old,
        size,
        &merkle::root(&logged[..old as usize]),
        &root,
        &proof,
    )
    .expect("consistency");
    let set = s
        .receipt_leaves(&t.id, "rcpt_all")
        .await
        .expect("leaves")
        .expect("found");
    assert_eq!(&merkle::root(&set), receipt_root);
}

#[tokio::test]
async fn a_crash_after_any_archive_step_loses_nothing_and_the_next_run_finishes_the_work() {
    for step in ARCHIVE_STEPS {
        let engines = [
            Some(TestDatabase::sqlite().await),
            TestDatabase::postgres().await,
        ];
        for db in engines.into_iter().flatten() {
            let s = &*db.store;
            let dir = tempfile::tempdir().expect("dir");
            let t = tenant(s, "a").await;
            let logged = seed(s, &t).await;
            let receipt_root = receipt_for_everything(s, &t).await;
            let now = at("2026-06-15T00:00:00Z");
            let p = policy(dir.path());

            let crashed = s
                .run_retention(&p, &opts(Some(step)), now)
                .await
                .expect("run");
            assert_eq!(crashed.stopped_after, Some(step), "{}", db.engine);
            // Whatever the crash left, every event is still somewhere and provable.
            proofs_still_hold(s, &t, &logged, &receipt_root).await;

            let done = s.run_retention(&p, &opts(None), now).await.expect("rerun");
            assert!(done.tenants.iter().all(|t| t.error.is_none()), "{done:?}");
            let archived =
                every_event_is_live_or_archived_once(s, &t, dir.path(), &logged, db.engine).await;
            assert_eq!(archived, 600, "{} after {step:?}", db.engine);
            let records = s.archives(&t.id).await.expect("archives");
            let months: Vec<i64> = records.iter().map(|r| r.month).collect();
            assert_eq!(months, vec![202601, 202602], "{} after {step:?}", db.engine);
            proofs_still_hold(s, &t, &logged, &receipt_root).await;

            let again = s.run_retention(&p, &opts(None), now).await.expect("again");
            assert_eq!(totals(&again), (0, 0, 0, 0), "{}: nothing new", db.engine);
            let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(&t.id))
                .expect("tenant dir")
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
}

#[tokio::test]
async fn old_archives_are_deleted_after_a_crash_at_any_step_and_the_log_stays_provable() {
    for step in [RetentionStep::ManifestMarked, RetentionStep::FileDeleted] {
        for db in TestDatabase::all().await {
            let s = &*db.store;
            let dir = tempfile::tempdir().expect("dir");
            let t = tenant(s, "a").await;
            let logged = seed(s, &t).await;
            let receipt_root = receipt_for_everything(s, &t).await;
            let p = policy(dir.path());
            s.run_retention(&p, &opts(None), at("2026-06-15T00:00:00Z"))
                .await
                .expect("archive");
            // 2027-02-10: January 2026 ended more than 365 days ago, February did not; June
            // is now old enough to be archived too.
            let later = at("2027-02-10T00:00:00Z");
            let crashed = s
                .run_retention(&p, &opts(Some(step)), later)
                .await
                .expect("crash");
            assert_eq!(crashed.stopped_after, Some(step));
            let done = s
                .run_retention(&p, &opts(None), later)
                .await
                .expect("rerun");
            assert!(done.tenants.iter().all(|t| t.error.is_none()), "{done:?}");

            let records = s.archives(&t.id).await.expect("archives");
            let states: Vec<_> = records.iter().map(|r| (r.month, r.state)).collect();
            assert_eq!(
                states,
                vec![
                    (202601, ArchiveState::Deleted),
                    (202602, ArchiveState::Removed),
                    (202606, ArchiveState::Removed),
                ],
                "{}",
                db.engine
            );
            let jan = &records[0];
            assert!(
                !dir.path().join(&jan.file).exists(),
                "the data file is gone"
            );
            let (_, manifest) = archive::relative_paths(&t.id, &jan.id);
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(manifest)).expect("read"))
                    .expect("json");
            assert_eq!(manifest["live"], json!(false), "{}", db.engine);
            assert_eq!(manifest["count"], json!(jan.count));
            archive::verify(dir.path(), &records[1]).expect("February is intact");
            // Receipts, checkpoints and proofs outlive the deleted file.
            proofs_still_hold(s, &t, &logged, &receipt_root).await;
            let again = s
                .run_retention(&p, &opts(None), later)
                .await
                .expect("again");
            assert_eq!(totals(&again), (0, 0, 0, 0), "{}", db.engine);
        }
    }
}

#[tokio::test]
async fn a_receipts_logs_list_archived_logs_in_place_with_their_leaf_hash() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        let logged = seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        s.run_retention(&policy(dir.path()), &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("run");
        let page = s
            .receipt_logs(&t.id, "rcpt_all", 3, 599)
            .await
            .expect("logs")
            .expect("found");
        assert_eq!(
            page.iter().map(|l| l.index).collect::<Vec<_>>(),
            vec![599, 600, 601]
        );
        match &page[0].log {
            CertifiedLog::Archived {
                seq,
                leaf_hash,
                archive_id,
                ..
            } => {
                assert_eq!(*seq, 599);
                assert_eq!(leaf_hash.as_slice(), logged[599].as_slice());
                assert_eq!(archive_id, "2026-02-200", "{}", db.engine);
            }
            other => panic!("{}: {other:?}", db.engine),
        }
        assert!(matches!(page[1].log, CertifiedLog::Live { .. }));
        let found = s
            .log_entries(&t.id, 0, 1)
            .await
            .expect("entry")
            .pop()
            .expect("one");
        assert_eq!(found.entry, None, "an archived entry is not served");
    }
}

#[tokio::test]
async fn a_receipt_of_a_period_or_of_logs_that_retention_archived_is_refused() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        s.run_retention(&policy(dir.path()), &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("run");
        let archived_id = match s
            .receipt_logs(&t.id, "rcpt_all", 1, 0)
            .await
            .expect("logs")
            .expect("found")
            .remove(0)
            .log
        {
            CertifiedLog::Archived { log_id, .. } => Uuid::parse_str(&log_id).expect("uuid"),
            other => panic!("{}: {other:?}", db.engine),
        };
        let options = SelectOptions {
            leaf_hashes: false,
            inline_ids: 10,
        };
        let tenant_id = t.id.as_str();
        let select = |selection: Selection| async move {
            s.select_logs(tenant_id, &selection, options).await
        };
        let january = Selection::TimeRange {
            start_us: at("2026-01-15T00:00:00Z"),
            end_us: at("2026-06-30T00:00:00Z"),
        };
        match select(january).await {
            Err(tollgate_store::StoreError::Conflict(m)) => {
                assert!(m.contains("2026-01"), "{}: {m}", db.engine)
            }
            other => panic!("{}: {other:?}", db.engine),
        }
        let archived_log = Selection::LogIds(vec![archived_id]);
        assert!(
            matches!(
                select(archived_log).await,
                Err(tollgate_store::StoreError::Conflict(_))
            ),
            "{}",
            db.engine
        );
        let june = Selection::TimeRange {
            start_us: at("2026-06-01T00:00:00Z"),
            end_us: at("2026-06-30T00:00:00Z"),
        };
        assert_eq!(select(june).await.expect("live").count, 20, "{}", db.engine);
    }
}

#[tokio::test]
async fn a_logged_event_cannot_be_deleted_unless_an_archive_records_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        s.append_usage(&[item(event(&t, "m", 1, 1, 1, "2026-01-01T00:00:00Z"))])
            .await
            .expect("append");
        let raw = raw_connection(&db.url).await;
        let refused = raw
            .execute_script(&format!(
                "DELETE FROM usage_events WHERE tenant_id = '{}'",
                t.id
            ))
            .await;
        assert!(refused.is_err(), "{}: the delete went through", db.engine);
        assert_eq!(s.log_entries(&t.id, 0, 10).await.expect("entries").len(), 1);
        raw.close().await;
    }
}

#[tokio::test]
async fn a_dry_run_counts_what_a_run_would_do_and_changes_nothing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        let p = policy(dir.path());
        let now = at("2026-06-15T00:00:00Z");
        let dry = RetentionOptions {
            dry_run: true,
            ..opts(None)
        };
        let counted = s.run_retention(&p, &dry, now).await.expect("dry");
        assert_eq!(totals(&counted), (600, 2, 0, 0), "{}", db.engine);
        assert!(s.archives(&t.id).await.expect("archives").is_empty());
        assert!(!dir.path().join(&t.id).exists(), "no file written");
        let done = s.run_retention(&p, &opts(None), now).await.expect("run");
        assert_eq!(totals(&done), (600, 2, 0, 0), "{}", db.engine);
    }
}

#[tokio::test]
async fn concurrent_runs_archive_each_event_exactly_once() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        let logged = seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        let p = policy(dir.path());
        let now = at("2026-06-15T00:00:00Z");
        let o = opts(None);
        let (a, b) = tokio::join!(s.run_retention(&p, &o, now), s.run_retention(&p, &o, now));
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert!(a
            .tenants
            .iter()
            .chain(&b.tenants)
            .all(|t| t.error.is_none()));
        assert_eq!(totals(&a).0 + totals(&b).0, 600, "{}", db.engine);
        let archived =
            every_event_is_live_or_archived_once(s, &t, dir.path(), &logged, db.engine).await;
        assert_eq!(archived, 600);
    }
}

#[tokio::test]
async fn old_message_content_is_dropped_and_its_hash_and_counts_kept() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        let mut ids = Vec::new();
        for ts in ["2026-05-01T00:00:00Z", "2026-06-10T00:00:00Z"] {
            let id = Uuid::now_v7();
            let mut e = event(&t, "gpt-4o", 10, 8, 1234, ts);
            e.conversation_id = Some(id);
            e.source = EventSource::Conversation;
            let answer = NewMessage {
                id: Uuid::now_v7(),
                role: "assistant".into(),
                content: Some(json!("the answer")),
                content_hash: Some("hash".into()),
                input_tokens: None,
                output_tokens: Some(8),
                tool_calls: Some(json!([{"name": "f"}])),
                tool_results: None,
                metadata: Default::default(),
                ts_us: e.timestamp_us,
            };
            s.append_usage(&[AppendItem {
                event: e,
                dedupe: Dedupe::None,
                execution: None,
                conversation: Some(NewConversation {
                    id,
                    title: None,
                    system_prompt: None,
                    model_alias: "openai:gpt-4o".into(),
                    temperature: 0.7,
                    max_tokens: None,
                    messages: vec![answer.clone()],
                    response_message_id: answer.id,
                }),
                charge: None,
            }])
            .await
            .expect("append");
            ids.push(id);
        }
        let report = s
            .run_retention(&policy(dir.path()), &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("run");
        assert_eq!(totals(&report), (0, 0, 0, 1), "{}", db.engine);
        let old = s.list_messages(&t.id, ids[0], 10, 0).await.expect("old");
        let old = &old.expect("found")[0];
        assert_eq!((old.content.clone(), old.tool_calls.clone()), (None, None));
        assert_eq!(old.content_hash.as_deref(), Some("hash"));
        assert_eq!(old.output_tokens, Some(8));
        let recent = s.list_messages(&t.id, ids[1], 10, 0).await.expect("new");
        assert_eq!(recent.expect("found")[0].content, Some(json!("the answer")));
    }
}

/// A late February event (seq 620) that no receipt certifies.
async fn log_late_february_event(s: &dyn Store, t: &Tenant) {
    s.append_usage(&[item(event(t, "gpt-4o", 7, 7, 777, "2026-02-15T00:00:00Z"))])
        .await
        .expect("append");
}

fn skipped(r: &RetentionReport) -> i64 {
    r.tenants.iter().map(|t| t.months_skipped_uncertified).sum()
}

#[tokio::test]
async fn a_month_with_an_uncertified_event_stays_live_until_a_receipt_certifies_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        log_late_february_event(s, &t).await;
        let p = policy(dir.path());
        let now = at("2026-06-15T00:00:00Z");

        let dry = RetentionOptions {
            dry_run: true,
            ..opts(None)
        };
        let counted = s.run_retention(&p, &dry, now).await.expect("dry");
        assert_eq!(
            (totals(&counted), skipped(&counted)),
            ((300, 1, 0, 0), 1),
            "{}",
            db.engine
        );
        let done = s.run_retention(&p, &opts(None), now).await.expect("run");
        assert_eq!(
            (totals(&done), skipped(&done)),
            ((300, 1, 0, 0), 1),
            "{}: January only",
            db.engine
        );
        let months: Vec<i64> = s
            .archives(&t.id)
            .await
            .expect("archives")
            .iter()
            .map(|r| r.month)
            .collect();
        assert_eq!(months, vec![202601], "{}", db.engine);
        let entries = s.log_entries(&t.id, 200, 1).await.expect("entries");
        assert!(
            entries[0].entry.is_some(),
            "{}: February is live",
            db.engine
        );

        // The receipt that certifies the late event sees it, live, and counts it.
        let (_, count) = certify(s, &t, "rcpt_late").await;
        assert_eq!(count, 1, "{}", db.engine);
        let done = s.run_retention(&p, &opts(None), now).await.expect("run");
        assert_eq!(
            (totals(&done), skipped(&done)),
            ((301, 1, 0, 0), 0),
            "{}: February now",
            db.engine
        );
    }
}

#[tokio::test]
async fn archive_uncertified_archives_such_a_month_and_later_receipts_leave_its_events_out() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        log_late_february_event(s, &t).await;
        let p = RetentionPolicy {
            archive_uncertified: true,
            ..policy(dir.path())
        };
        let done = s
            .run_retention(&p, &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("run");
        assert_eq!(
            (totals(&done), skipped(&done)),
            ((601, 2, 0, 0), 0),
            "{}",
            db.engine
        );
        let sel = s
            .select_logs(
                &t.id,
                &Selection::Uncertified,
                SelectOptions {
                    leaf_hashes: true,
                    inline_ids: 10,
                },
            )
            .await
            .expect("select");
        assert_eq!(
            sel.count, 0,
            "{}: receipts read live events only",
            db.engine
        );
    }
}

#[tokio::test]
async fn a_dry_run_after_a_crash_counts_each_event_once() {
    for step in [RetentionStep::Recorded, RetentionStep::FirstBatchMoved] {
        for db in TestDatabase::all().await {
            let s = &*db.store;
            let dir = tempfile::tempdir().expect("dir");
            let t = tenant(s, "a").await;
            seed(s, &t).await;
            receipt_for_everything(s, &t).await;
            let p = policy(dir.path());
            let now = at("2026-06-15T00:00:00Z");
            s.run_retention(&p, &opts(Some(step)), now)
                .await
                .expect("crash");
            let dry = RetentionOptions {
                dry_run: true,
                ..opts(None)
            };
            let counted = s.run_retention(&p, &dry, now).await.expect("dry");
            let done = s.run_retention(&p, &opts(None), now).await.expect("run");
            assert!(done.tenants.iter().all(|t| t.error.is_none()), "{done:?}");
            assert_eq!(
                totals(&counted),
                totals(&done),
                "{} after {step:?}",
                db.engine
            );
            let moved_before = if step == RetentionStep::Recorded {
                0
            } else {
                100
            };
            assert_eq!(
                totals(&done),
                (600 - moved_before, 1, 0, 0),
                "{} after {step:?}",
                db.engine
            );
        }
    }
}

#[tokio::test]
async fn an_archive_file_missing_from_this_archive_dir_is_an_error_not_a_deletion() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let elsewhere = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        seed(s, &t).await;
        receipt_for_everything(s, &t).await;
        s.run_retention(&policy(dir.path()), &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("archive");
        let later = at("2027-02-10T00:00:00Z");
        let states = |records: Vec<tollgate_store::ArchiveRecord>| -> Vec<_> {
            records.iter().map(|r| (r.month, r.state)).collect()
        };

        // Another instance, with its own archive directory, never had the file.
        let other = RetentionPolicy {
            archive_after_days: 0,
            ..policy(elsewhere.path())
        };
        let failed = s
            .run_retention(&other, &opts(None), later)
            .await
            .expect("run");
        let error = failed.tenants[0].error.clone().expect("an error");
        let jan = elsewhere.path().join(&t.id).join("2026-01-0.jsonl.gz");
        assert!(
            error.contains(&jan.display().to_string()) && error.contains("archive_dir"),
            "{}: {error}",
            db.engine
        );
        assert!(!elsewhere.path().join(&t.id).exists(), "nothing written");

        // A data file gone while its manifest still says it is live is an error too.
        let real = dir.path().join(&t.id).join("2026-01-0.jsonl.gz");
        let kept = std::fs::read(&real).expect("read");
        std::fs::remove_file(&real).expect("remove");
        let failed = s
            .run_retention(&policy(dir.path()), &opts(None), later)
            .await
            .expect("run");
        assert!(failed.tenants[0].error.is_some(), "{}", db.engine);
        assert_eq!(
            states(s.archives(&t.id).await.expect("archives"))[..2],
            [
                (202601, ArchiveState::Removed),
                (202602, ArchiveState::Removed)
            ],
            "{}",
            db.engine
        );

        // Where the file is, it is deleted.
        std::fs::write(&real, kept).expect("restore");
        let done = s
            .run_retention(&policy(dir.path()), &opts(None), later)
            .await
            .expect("run");
        assert!(done.tenants.iter().all(|t| t.error.is_none()), "{done:?}");
        assert_eq!(
            states(s.archives(&t.id).await.expect("archives"))[0],
            (202601, ArchiveState::Deleted),
            "{}",
            db.engine
        );
        assert!(!real.exists());
    }
}

#[tokio::test]
async fn message_content_is_dropped_batch_by_batch_across_conversations() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let dir = tempfile::tempdir().expect("dir");
        let t = tenant(s, "a").await;
        let mut ids = Vec::new();
        for ts in [
            "2026-04-01T00:00:00Z",
            "2026-04-02T00:00:00Z",
            "2026-06-10T00:00:00Z",
        ] {
            let id = Uuid::now_v7();
            let mut e = event(&t, "gpt-4o", 10, 8, 1234, ts);
            e.conversation_id = Some(id);
            e.source = EventSource::Conversation;
            let messages: Vec<NewMessage> = (0..5)
                .map(|i| NewMessage {
                    id: Uuid::now_v7(),
                    role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                    content: Some(json!(format!("message {i}"))),
                    content_hash: Some(format!("hash {i}")),
                    input_tokens: None,
                    output_tokens: None,
                    tool_calls: None,
                    tool_results: None,
                    metadata: Default::default(),
                    ts_us: e.timestamp_us,
                })
                .collect();
            s.append_usage(&[AppendItem {
                event: e,
                dedupe: Dedupe::None,
                execution: None,
                conversation: Some(NewConversation {
                    id,
                    title: None,
                    system_prompt: None,
                    model_alias: "openai:gpt-4o".into(),
                    temperature: 0.7,
                    max_tokens: None,
                    response_message_id: messages[4].id,
                    messages,
                }),
                charge: None,
            }])
            .await
            .expect("append");
            ids.push(id);
        }
        // Two messages per batch: ten old ones take five, one crossing conversations.
        let report = s
            .run_retention(&policy(dir.path()), &opts(None), at("2026-06-15T00:00:00Z"))
            .await
            .expect("run");
        assert_eq!(totals(&report).3, 10, "{}", db.engine);
        for (id, kept) in ids.iter().zip([false, false, true]) {
            let messages = s
                .list_messages(&t.id, *id, 10, 0)
                .await
                .expect("list")
                .expect("found");
            assert_eq!(messages.len(), 5);
            assert!(
                messages.iter().all(|m| m.content.is_some() == kept),
                "{}",
                db.engine
            );
        }
    }
}
