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

const BEFORE_CHECKS_WITHOUT_IN_LISTS: i64 = 20261210000001;

#[tokio::test]
async fn the_ledger_holds_and_rate_windows_keep_every_row_and_constraint_through_the_rebuild_of_their_checks(
) {
    let rows = "INSERT INTO tenants (id, name, created_us, log_size) \
                VALUES ('tnt_old', 'old', 1000000, 0);\n\
                INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
                limit_currency, total_requests, created_us, updated_us) \
                VALUES ('tnt_old', 'alice', 1, 1, 'USD', 1, 1000000, 1000000);\n\
                INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, \
                held_nanos, spent_nanos) VALUES ('tnt_old', 'alice', 'USD', 700, 50, 300);\n\
                INSERT INTO ledger_entries (tenant_id, id, user_id, kind, amount_nanos, \
                delta_nanos, currency, balance_before_nanos, balance_after_nanos, \
                description, created_us) VALUES \
                ('tnt_old', 'txn_1', 'alice', 'topup', 1000, 1000, 'USD', 0, 1000, 'first', 1000001), \
                ('tnt_old', 'txn_2', 'alice', 'charge', 300, -300, 'USD', 1000, 700, NULL, 1000002), \
                ('tnt_old', 'txn_3', 'alice', 'hold', 50, 0, 'USD', 700, 700, NULL, 1000003);\n\
                INSERT INTO holds (tenant_id, id, user_id, currency, amount_nanos, day, month, \
                status, created_us, expires_us) \
                VALUES ('tnt_old', 'hold_1', 'alice', 'USD', 50, 0, 197001, 'open', 1000003, 2000000);\n\
                INSERT INTO rate_windows (tenant_id, kind, subject, minute, requests, tokens) \
                VALUES ('tnt_old', 'user', 'alice', 16, 3, 900);";
    for db in TestDatabase::all_upgraded(BEFORE_CHECKS_WITHOUT_IN_LISTS, rows).await {
        let s = &*db.store;
        let (entries, total) = s
            .ledger("tnt_old", "alice", &Default::default(), 10, 0)
            .await
            .expect("the ledger");
        assert_eq!(total, 3, "{}", db.engine);
        let kept: Vec<(&str, &str, i64, i64, i64)> = entries
            .iter()
            .map(|e| {
                (
                    e.id.as_str(),
                    e.kind.as_str(),
                    e.delta.0,
                    e.balance_after.0,
                    e.created_us,
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("txn_3", "hold", 0, 700, 1000003),
                ("txn_2", "charge", -300, 700, 1000002),
                ("txn_1", "topup", 1000, 1000, 1000001),
            ],
            "{}: newest first, as written",
            db.engine
        );
        assert_eq!(entries[2].description.as_deref(), Some("first"));
        let audit = s.audit().await.expect("audit");
        assert_eq!(
            (audit.checked, audit.findings.len()),
            (1, 0),
            "{}: the balance is still its ledger and the open hold",
            db.engine
        );
        assert_eq!(
            s.open_holds().await.expect("open holds"),
            1,
            "{}",
            db.engine
        );
        assert_eq!(
            s.expire_holds(3_000_000, 10).await.expect("expiry"),
            1,
            "{}: the hold can still close",
            db.engine
        );
        assert_eq!(
            s.open_holds().await.expect("open holds"),
            0,
            "{}",
            db.engine
        );
        let store = db.sql_store().await;
        for refused in [
            "INSERT INTO ledger_entries (tenant_id, id, user_id, kind, amount_nanos, delta_nanos, \
             currency, balance_before_nanos, balance_after_nanos, created_us) \
             VALUES ('tnt_old', 'txn_9', 'alice', 'gift', 1, 1, 'USD', 700, 701, 1000009)",
            "UPDATE holds SET status = 'lost' WHERE id = 'hold_1'",
            "INSERT INTO rate_windows (tenant_id, kind, subject, minute, requests, tokens) \
             VALUES ('tnt_old', 'team', 'x', 16, 1, 1)",
            "UPDATE ledger_entries SET description = 'changed' WHERE id = 'txn_1'",
        ] {
            assert!(
                store.execute_script(refused).await.is_err(),
                "{}: {refused}",
                db.engine
            );
        }
    }
}
