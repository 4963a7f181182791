use tollgate_receipts::merkle::{self, inclusion_spans, needs, verify_inclusion};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    NewReceipt, SelectOptions, SelectedLogs, Selection, SeqRange, Store, StoreError,
    StoredCheckpoint, Tenant,
};

use crate::support::{event, item, raw_connection, tenant};

const OPTS: SelectOptions = SelectOptions {
    leaf_hashes: true,
    inline_ids: 1000,
};

async fn log(s: &dyn Store, t: &Tenant, n: usize) -> Vec<uuid::Uuid> {
    let items: Vec<_> = (0..n)
        .map(|i| {
            item(event(
                t,
                "gpt-4o",
                10 + i as i64,
                1,
                100,
                "2026-01-01T00:00:00Z",
            ))
        })
        .collect();
    s.append_usage(&items)
        .await
        .expect("append")
        .iter()
        .map(|r| r.log_id)
        .collect()
}

fn receipt(t: &Tenant, id: &str, sel: &SelectedLogs, since: bool) -> NewReceipt {
    NewReceipt {
        tenant_id: t.id.clone(),
        id: id.to_string(),
        issued_us: 1,
        receipt_type: "batch".into(),
        key_id: "key_contract".into(),
        count: sel.count,
        root: merkle::root(&sel.leaf_hashes),
        tiles: merkle::tile_roots(&sel.leaf_hashes),
        tags: vec!["t".into()],
        document: "{}".into(),
        ranges: sel.ranges.clone(),
        since_version: since.then_some(sel.certified_version),
    }
}

fn r(start: i64, end: i64) -> SeqRange {
    SeqRange { start, end }
}

#[tokio::test]
async fn a_selection_counts_its_unpriced_logs_in_each_group_across_its_parts() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let unpriced = |model: &str| {
            let mut e = event(&t, model, 7, 3, 0, "2026-01-01T00:00:00Z");
            e.flags.unpriced = true;
            item(e)
        };
        let priced = |model: &str| item(event(&t, model, 7, 3, 100, "2026-01-01T00:00:00Z"));
        let ids: Vec<uuid::Uuid> = s
            .append_usage(&[
                unpriced("x-1"),
                priced("gpt-4o"),
                unpriced("x-1"),
                priced("x-1"),
                unpriced("x-2"),
            ])
            .await
            .expect("append")
            .iter()
            .map(|r| r.log_id)
            .collect();
        let unpriced_of = |sel: &SelectedLogs, model: &str| -> i64 {
            sel.groups
                .iter()
                .filter(|g| g.model == model)
                .map(|g| g.unpriced)
                .sum()
        };
        let all = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("select");
        assert_eq!(unpriced_of(&all, "x-1"), 2, "{}", db.engine);
        assert_eq!(unpriced_of(&all, "x-2"), 1);
        assert_eq!(unpriced_of(&all, "gpt-4o"), 0);
        // Two runs of the log (a gap between them) add up like one.
        let parts = s
            .select_logs(&t.id, &Selection::LogIds(vec![ids[4], ids[0]]), OPTS)
            .await
            .expect("select ids");
        assert_eq!(parts.ranges, vec![r(0, 1), r(4, 5)], "{}", db.engine);
        assert_eq!(parts.groups.iter().map(|g| g.unpriced).sum::<i64>(), 2);
        // A preview reads no leaf hashes and counts the same.
        let preview = s
            .select_logs(
                &t.id,
                &Selection::Uncertified,
                SelectOptions {
                    leaf_hashes: false,
                    ..OPTS
                },
            )
            .await
            .expect("preview");
        assert_eq!(preview.groups, all.groups, "{}", db.engine);
    }
}

#[tokio::test]
async fn a_receipt_certifies_ranges_and_the_uncertified_gaps_shrink_around_them() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        s.register_signing_key("key_contract", "AAAA")
            .await
            .expect("key");
        let t = tenant(s, "a").await;
        let ids = log(s, &t, 10).await;
        let all = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("select");
        assert_eq!(all.count, 10, "{}", db.engine);
        assert_eq!(all.ranges, vec![r(0, 10)]);
        assert_eq!(all.groups[0].tokens.input, (10..20).sum::<i64>());

        let some = s
            .select_logs(
                &t.id,
                &Selection::LogIds(vec![ids[7], ids[2], ids[3]]),
                OPTS,
            )
            .await
            .expect("select ids");
        assert_eq!(some.ranges, vec![r(2, 4), r(7, 8)], "{}", db.engine);
        assert_eq!(some.log_ids, vec![ids[2], ids[3], ids[7]], "in log order");
        s.insert_receipt(&receipt(&t, "rcpt_a", &some, false))
            .await
            .expect("store");

        let (page, total) = s.uncertified(&t.id, 3, 0).await.expect("uncertified");
        assert_eq!(total, 7);
        let seqs: Vec<i64> = page.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![9, 8, 6], "newest first, skipping certified logs");
        let (page, _) = s.uncertified(&t.id, 3, 5).await.expect("page 2");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 0]);

        let rest = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("rest");
        assert_eq!(rest.ranges, vec![r(0, 2), r(4, 7), r(8, 10)]);
        s.insert_receipt(&receipt(&t, "rcpt_b", &rest, true))
            .await
            .expect("store rest");
        let (_, total) = s.uncertified(&t.id, 10, 0).await.expect("none left");
        assert_eq!(total, 0);
        let none = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("empty");
        assert_eq!(none.count, 0);
    }
}

#[tokio::test]
async fn a_since_last_receipt_overtaken_by_another_is_refused_as_stale() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        s.register_signing_key("key_contract", "AAAA")
            .await
            .expect("key");
        let t = tenant(s, "a").await;
        log(s, &t, 4).await;
        let first = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("select");
        let second = first.clone();
        s.insert_receipt(&receipt(&t, "rcpt_1", &first, true))
            .await
            .expect("first wins");
        let late = s
            .insert_receipt(&receipt(&t, "rcpt_2", &second, true))
            .await;
        assert!(
            matches!(late, Err(StoreError::Stale(_))),
            "{}: {late:?}",
            db.engine
        );
        assert!(s.get_receipt(&t.id, "rcpt_2").await.expect("get").is_none());
        let (list, total) = s.list_receipts(&t.id, None, 10, 0).await.expect("list");
        assert_eq!(
            (list.len(), total),
            (1, 1),
            "a refused receipt leaves nothing"
        );
    }
}

#[tokio::test]
async fn a_receipts_logs_and_proofs_follow_its_leaf_order() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        s.register_signing_key("key_contract", "AAAA")
            .await
            .expect("key");
        let t = tenant(s, "a").await;
        let ids = log(s, &t, 600).await;
        let chosen: Vec<_> = ids.iter().copied().step_by(2).collect();
        let sel = s
            .select_logs(&t.id, &Selection::LogIds(chosen.clone()), OPTS)
            .await
            .expect("select");
        assert_eq!(sel.count, 300);
        s.insert_receipt(&receipt(&t, "rcpt_odd", &sel, false))
            .await
            .expect("store");
        let page = s
            .receipt_logs(&t.id, "rcpt_odd", 2, 1)
            .await
            .expect("logs")
            .expect("found");
        assert_eq!(page.iter().map(|l| l.index).collect::<Vec<_>>(), vec![1, 2]);
        match &page[0].log {
            tollgate_store::CertifiedLog::Live { event, .. } => {
                assert_eq!(event.event.log_id, chosen[1])
            }
            other => panic!("a live log is listed as {other:?}"),
        }
        assert_eq!(
            s.receipt_index(&t.id, "rcpt_odd", 8).await.expect("index"),
            Some(4)
        );
        assert_eq!(
            s.receipt_index(&t.id, "rcpt_odd", 9).await.expect("index"),
            None
        );

        let root = merkle::root(&sel.leaf_hashes);
        for index in [0u64, 255, 256, 299] {
            let spans = inclusion_spans(index, 300).expect("spans");
            let nodes = s
                .receipt_nodes(&t.id, "rcpt_odd", &needs(&spans))
                .await
                .expect("nodes")
                .expect("found");
            let proof = nodes.hashes(&spans).expect("hashes");
            verify_inclusion(&sel.leaf_hashes[index as usize], index, 300, &proof, &root)
                .unwrap_or_else(|e| panic!("{}: index {index}: {e}", db.engine));
        }
        let leaves = s
            .receipt_leaves(&t.id, "rcpt_odd")
            .await
            .expect("leaves")
            .expect("found");
        assert_eq!(leaves, sel.leaf_hashes);
        let other = tenant(s, "b").await;
        assert!(s
            .get_receipt(&other.id, "rcpt_odd")
            .await
            .expect("get")
            .is_none());
        assert!(s
            .receipt_logs(&other.id, "rcpt_odd", 10, 0)
            .await
            .expect("logs")
            .is_none());
    }
}

#[tokio::test]
async fn stored_receipts_checkpoints_and_canonical_entries_cannot_be_updated() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        s.register_signing_key("key_contract", "AAAA")
            .await
            .expect("key");
        let t = tenant(s, "a").await;
        log(s, &t, 2).await;
        let sel = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("select");
        s.insert_receipt(&receipt(&t, "rcpt_x", &sel, true))
            .await
            .expect("store");
        let cp = StoredCheckpoint {
            tenant_id: t.id.clone(),
            size: 2,
            root: merkle::root(&sel.leaf_hashes),
            key_id: "key_contract".into(),
            note: "signed note\n".into(),
            created_us: 1,
        };
        assert_eq!(s.save_checkpoint(&cp).await.expect("save"), cp);
        let mut other = cp.clone();
        other.note = "another note\n".into();
        assert_eq!(
            s.save_checkpoint(&other).await.expect("save again"),
            cp,
            "the first checkpoint of a size is kept"
        );
        let raw = raw_connection(&db.url).await;
        for statement in [
            "UPDATE receipts SET document = '{\"total_cost\": 0}'",
            "UPDATE receipt_ranges SET end_seq = end_seq + 1",
            "UPDATE checkpoints SET note = 'forged'",
            "UPDATE usage_events SET entry = leaf_hash",
            "UPDATE usage_events SET seq = seq + 10",
        ] {
            let refused = raw.execute_script(statement).await;
            assert!(refused.is_err(), "{}: {statement} was allowed", db.engine);
        }
        // Columns outside the canonical entry may still change (retention drops content).
        raw.execute_script("UPDATE usage_events SET metadata = NULL")
            .await
            .expect("metadata may change");
        raw.close().await;
        let back = s
            .get_receipt(&t.id, "rcpt_x")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(back.document, "{}");
    }
}

/// Logs of several models, profiles and lock digests, in this order.
async fn log_labelled(s: &dyn Store, t: &Tenant) -> Vec<uuid::Uuid> {
    let labelled = [
        ("gpt-4o", "prod", Some("sha256:aa")),
        ("gpt-4o", "staging", None),
        ("gpt-4o-mini", "prod", Some("sha256:aa")),
        ("gpt-4o", "prod", Some("sha256:bb")),
    ];
    let items: Vec<_> = labelled
        .iter()
        .map(|(model, profile, digest)| {
            let mut e = event(t, model, 10, 1, 100, "2026-01-01T00:00:00Z");
            e.profile = profile.to_string();
            e.lock_digest = digest.map(str::to_string);
            item(e)
        })
        .collect();
    s.append_usage(&items)
        .await
        .expect("append")
        .iter()
        .map(|r| r.log_id)
        .collect()
}

#[tokio::test]
async fn a_selection_reports_the_distinct_profiles_and_lock_digests_its_logs_recorded() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let ids = log_labelled(s, &t).await;
        // Another tenant's labels never show.
        let other = tenant(s, "b").await;
        let mut e = event(&other, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:00Z");
        e.profile = "elsewhere".into();
        e.lock_digest = Some("sha256:other".into());
        s.append_usage(&[item(e)]).await.expect("append");

        let all = s
            .select_logs(&t.id, &Selection::Uncertified, OPTS)
            .await
            .expect("select");
        assert_eq!(all.profiles, ["prod", "staging"], "{}", db.engine);
        assert_eq!(
            all.lock_digests,
            ["", "sha256:aa", "sha256:bb"],
            "{}: a log without a digest counts as \"\"",
            db.engine
        );
        // The labels do not split the totals: one group per model.
        assert_eq!(all.groups.len(), 2, "{}: {:?}", db.engine, all.groups);
        assert_eq!(all.groups[0].model, "gpt-4o");
        assert_eq!(all.groups[0].calls, 3);
        assert_eq!(all.groups[0].cost.0, 300);

        let agreeing = s
            .select_logs(
                &t.id,
                &Selection::LogIds(vec![ids[0], ids[2]]),
                SelectOptions {
                    leaf_hashes: false,
                    inline_ids: 10,
                },
            )
            .await
            .expect("select");
        assert_eq!(agreeing.profiles, ["prod"], "{}", db.engine);
        assert_eq!(agreeing.lock_digests, ["sha256:aa"], "{}", db.engine);
    }
}

#[tokio::test]
async fn a_recorded_lock_digest_is_part_of_the_entry_and_cannot_change() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let ids = log_labelled(s, &t).await;
        let with = s
            .find_log_entry(&t.id, ids[0])
            .await
            .expect("read")
            .expect("found");
        let text = String::from_utf8(with.entry.expect("live")).expect("utf-8");
        assert!(text.contains(r#""lock_digest":"sha256:aa""#), "{text}");
        let without = s
            .find_log_entry(&t.id, ids[1])
            .await
            .expect("read")
            .expect("found");
        let text = String::from_utf8(without.entry.expect("live")).expect("utf-8");
        assert!(!text.contains("lock_digest"), "{text}");
        let events = s
            .list_events(&t.id, &Default::default(), 10, 0)
            .await
            .expect("events");
        let digests: Vec<_> = events.iter().map(|e| e.event.lock_digest.clone()).collect();
        assert_eq!(
            digests,
            [
                Some("sha256:bb".to_string()),
                Some("sha256:aa".to_string()),
                None,
                Some("sha256:aa".to_string())
            ],
            "{}: newest first",
            db.engine
        );

        let raw = raw_connection(&db.url).await;
        let refused = raw
            .execute_script("UPDATE usage_events SET lock_digest = 'sha256:forged'")
            .await;
        assert!(refused.is_err(), "{}: a lock digest was changed", db.engine);
        raw.close().await;
    }
}
