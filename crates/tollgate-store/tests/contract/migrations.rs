//! Every migration can be rolled back: its down step leaves the schema exactly as a database
//! migrated only that far has it, and applying it again gives the latest schema back. A
//! rollback that would lose data is refused unless forced.

use tollgate_store::migrate::versions;
use tollgate_store::testing::TestDatabase;
use tollgate_store::StoreError;

use crate::support::{event, item, tenant};

const BEFORE_LOCK_DIGEST: i64 = 20261205000003;

#[tokio::test]
async fn rolling_back_to_each_version_gives_the_schema_that_version_had_and_reapplying_gives_the_latest(
) {
    let all = versions();
    let latest = *all.last().expect("migrations");
    for db in TestDatabase::all_at(latest).await {
        let store = db.sql_store().await;
        let full = store.schema().await.expect("schema");
        let mut targets: Vec<i64> = all[..all.len() - 1].iter().rev().copied().collect();
        targets.push(0);
        for target in targets {
            let report = store.migrate_to(target, false).await.unwrap_or_else(|e| {
                panic!(
                    "{}: roll back an empty database to {target}: {e}",
                    db.engine
                )
            });
            assert_eq!(report.rolled_back.len(), 1, "{}: {report:?}", db.engine);
            let fresh = TestDatabase::all_at(target)
                .await
                .into_iter()
                .find(|d| d.engine == db.engine)
                .expect("the same engine");
            let want = fresh.sql_store().await.schema().await.expect("schema");
            let got = store.schema().await.expect("schema");
            assert_eq!(
                difference(&got, &want),
                (vec![], vec![]),
                "{}: rolled back to {target} (got-only, want-only)",
                db.engine
            );
        }
        let report = store.migrate_to(latest, false).await.expect("reapply");
        assert_eq!(report.applied.len(), all.len(), "{}", db.engine);
        assert_eq!(
            difference(&store.schema().await.expect("schema"), &full),
            (vec![], vec![]),
            "{}: reapplied to the latest",
            db.engine
        );
    }
}

#[tokio::test]
async fn rolling_back_past_data_is_refused_without_force_and_done_with_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "acme").await;
        let mut call = event(&t, "gpt-4o", 10, 5, 1_000, "2026-12-01T00:00:00Z");
        call.lock_digest = Some("sha256:abc".into());
        s.append_usage(&[item(call)]).await.expect("append");
        let store = db.sql_store().await;
        let before = store.schema().await.expect("schema");

        let refused = store.migrate_to(BEFORE_LOCK_DIGEST, false).await;
        match refused {
            Err(StoreError::Rejected(message)) => {
                assert!(
                    message.contains("20261206000001_lock_digest")
                        && message.contains("usage_events"),
                    "{}: {message}",
                    db.engine
                );
            }
            other => panic!("{}: a rollback losing lock digests: {other:?}", db.engine),
        }
        assert_eq!(
            store.schema().await.expect("schema"),
            before,
            "{}: a refused rollback rolls back nothing",
            db.engine
        );

        let report = store
            .migrate_to(BEFORE_LOCK_DIGEST, true)
            .await
            .expect("forced rollback");
        assert_eq!(
            report.rolled_back.last().map(String::as_str),
            Some("20261206000001_lock_digest"),
            "{}",
            db.engine
        );
        let report = store.migrate_to(*versions().last().unwrap(), false).await;
        assert_eq!(
            report.expect("reapply").applied.len(),
            report_len_after(BEFORE_LOCK_DIGEST),
            "{}",
            db.engine
        );
        let usage = s
            .find_tenant("acme")
            .await
            .expect("read")
            .expect("the tenant outlives the rollback");
        assert_eq!(
            usage.log_size, 1,
            "{}: the event is still logged",
            db.engine
        );
    }
}

#[tokio::test]
async fn a_version_this_build_does_not_have_is_refused_by_name() {
    for db in TestDatabase::all().await {
        let store = db.sql_store().await;
        match store.migrate_to(20261121000002, false).await {
            Err(StoreError::Rejected(message)) => {
                assert!(
                    message.contains("20261121000002"),
                    "{}: {message}",
                    db.engine
                )
            }
            other => panic!("{}: {other:?}", db.engine),
        }
    }
}

fn report_len_after(version: i64) -> usize {
    versions().iter().filter(|v| **v > version).count()
}

/// The lines only in `got`, and those only in `want`.
fn difference(got: &[String], want: &[String]) -> (Vec<String>, Vec<String>) {
    (
        got.iter().filter(|l| !want.contains(l)).cloned().collect(),
        want.iter().filter(|l| !got.contains(l)).cloned().collect(),
    )
}
