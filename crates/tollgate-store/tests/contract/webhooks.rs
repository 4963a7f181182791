//! Webhook deliveries: a claim is a lease, and only the claim that holds the lease records an
//! outcome; the delivery log pages with a total.

use serde_json::json;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{Attempt, DeliveryStatus, EventType, NewAlert, NewWebhook, Store};

use crate::support::tenant;

/// A tenant with one endpoint for `receipt.generated` and `n` alerts fanned out to it at
/// `t = 0`: `n` pending deliveries due now. Returns (tenant id, endpoint id).
async fn pending(s: &dyn Store, n: usize) -> (String, String) {
    let t = tenant(s, "acme").await;
    let w = s
        .create_webhook(&NewWebhook {
            tenant_id: t.id.clone(),
            id: "whk_1".into(),
            url: "https://hooks.example.com/x".into(),
            secret: "whsec_AAAA".into(),
            event_types: vec![EventType::ReceiptGenerated],
            description: None,
            created_us: 0,
        })
        .await
        .expect("endpoint");
    let alerts: Vec<NewAlert> = (0..n)
        .map(|i| NewAlert {
            tenant_id: t.id.clone(),
            event_type: EventType::ReceiptGenerated,
            dedupe_key: format!("receipt:r{i}"),
            data: json!({"receipt_id": format!("r{i}")}),
            created_us: 0,
        })
        .collect();
    assert_eq!(s.raise_alerts(&alerts).await.expect("raise"), n);
    assert_eq!(s.dispatch_alerts(100, 0).await.expect("dispatch"), n);
    (t.id, w.id)
}

fn failed_attempt(retry_at_us: i64) -> Attempt {
    Attempt {
        status_code: Some(503),
        error: Some("HTTP 503".into()),
        retry_at_us: Some(retry_at_us),
    }
}

#[tokio::test]
async fn an_attempt_finished_after_its_lease_lapsed_and_another_claim_took_it_changes_nothing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let (tenant, endpoint) = pending(s, 1).await;

        let first = s.claim_deliveries(10, 100, 10).await.expect("claim");
        assert_eq!(first.len(), 1, "{}", db.engine);
        assert!(
            s.claim_deliveries(50, 150, 10)
                .await
                .expect("claim")
                .is_empty(),
            "a leased delivery is not claimed again while its lease runs"
        );
        let second = s.claim_deliveries(100, 200, 10).await.expect("claim");
        assert_eq!(second.len(), 1, "the lapsed lease is claimed again");
        assert_eq!(second[0].id, first[0].id);

        let late = s
            .finish_delivery(&first[0], &failed_attempt(1_000), 150)
            .await
            .expect("finish");
        assert!(
            !late,
            "{}: the first claim no longer holds the lease",
            db.engine
        );
        let (log, _) = s
            .webhook_deliveries(&tenant, &endpoint, 10, 0)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!(log[0].attempts, 0, "{}", db.engine);
        assert_eq!(log[0].last_error, None);

        let done = Attempt {
            status_code: Some(200),
            error: None,
            retry_at_us: None,
        };
        assert!(s
            .finish_delivery(&second[0], &done, 160)
            .await
            .expect("finish"));
        let (log, _) = s
            .webhook_deliveries(&tenant, &endpoint, 10, 0)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!(log[0].status, DeliveryStatus::Delivered, "{}", db.engine);
        assert_eq!(log[0].attempts, 1);
        assert!(
            !s.finish_delivery(&first[0], &failed_attempt(1_000), 170)
                .await
                .expect("finish"),
            "a delivered delivery stays delivered"
        );
    }
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first_and_counts_every_delivery() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let (tenant, endpoint) = pending(s, 3).await;
        let (page, total) = s
            .webhook_deliveries(&tenant, &endpoint, 2, 0)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!((page.len(), total), (2, 3), "{}", db.engine);
        let (rest, total) = s
            .webhook_deliveries(&tenant, &endpoint, 2, 2)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!((rest.len(), total), (1, 3), "{}", db.engine);
        assert!(page.iter().all(|d| d.id > rest[0].id), "newest first");
        assert!(s
            .webhook_deliveries(&tenant, "whk_other", 2, 0)
            .await
            .expect("log")
            .is_none());
    }
}

#[tokio::test]
async fn retention_prunes_finished_deliveries_and_their_alerts_past_the_delete_age_only() {
    const DAY_US: i64 = 86_400_000_000;
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let (tenant, endpoint) = pending(s, 3).await;
        let claimed = s.claim_deliveries(10, 100, 10).await.expect("claim");
        assert_eq!(claimed.len(), 3);
        let delivered = Attempt {
            status_code: Some(204),
            error: None,
            retry_at_us: None,
        };
        for (i, d) in claimed.iter().enumerate() {
            let attempt = if i < 2 {
                delivered.clone()
            } else {
                failed_attempt(1_000)
            };
            assert!(s.finish_delivery(d, &attempt, 20).await.expect("finish"));
        }
        let dir = tempfile::tempdir().expect("dir");
        let policy = tollgate_store::RetentionPolicy {
            archive_after_days: 0,
            delete_after_days: 365,
            message_content_days: 0,
            archive_dir: dir.path().to_path_buf(),
            archive_uncertified: false,
        };
        let pruned = |r: &tollgate_store::RetentionReport| -> i64 {
            r.tenants.iter().map(|t| t.webhook_history_pruned).sum()
        };
        let run = |dry_run: bool, now: i64| {
            let policy = policy.clone();
            async move {
                let opts = tollgate_store::RetentionOptions {
                    dry_run,
                    ..Default::default()
                };
                s.run_retention(&policy, &opts, now).await.expect("run")
            }
        };
        assert_eq!(
            pruned(&run(false, 300 * DAY_US).await),
            0,
            "not old enough yet"
        );
        let counted = run(true, 400 * DAY_US).await;
        assert_eq!(
            pruned(&counted),
            4,
            "{}: two deliveries and their alerts: {counted:?}",
            db.engine
        );
        let (_, total) = s
            .webhook_deliveries(&tenant, &endpoint, 10, 0)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!(total, 3, "a dry run removes nothing");

        assert_eq!(pruned(&run(false, 400 * DAY_US).await), 4, "{}", db.engine);
        let (log, total) = s
            .webhook_deliveries(&tenant, &endpoint, 10, 0)
            .await
            .expect("log")
            .expect("endpoint");
        assert_eq!(total, 1, "{}: the pending delivery stays", db.engine);
        assert_eq!(log[0].status, DeliveryStatus::Pending);
        assert_eq!(pruned(&run(false, 400 * DAY_US).await), 0, "nothing new");
    }
}
