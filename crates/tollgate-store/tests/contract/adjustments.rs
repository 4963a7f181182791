//! Adjustments (source `adjustment`, naming the call they price in `adjusts`): appended like
//! any event, counted by the rollups and by the event sums alike (their cost, no request, and
//! the call they price no longer unpriced), found by the repricing's query, never changed.

use tollgate_core::{EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{LogFilter, Store, Tenant, UsageRow};
use uuid::Uuid;

use crate::support::{at, event, item, raw_connection, tenant};

fn unpriced(t: &Tenant, model: &str, ts: &str) -> UsageEvent {
    let mut e = event(t, model, 1000, 10, 0, ts);
    e.flags = EventFlags {
        unpriced: true,
        ..Default::default()
    };
    e
}

fn adjustment(of: &UsageEvent, cost: i64) -> UsageEvent {
    let mut a = of.clone();
    a.log_id = Uuid::now_v7();
    a.request_id = Some(format!("reprice:{}", of.log_id));
    a.tokens = TokenCounts::default();
    a.cost = Nanos(cost);
    a.flags = EventFlags::default();
    a.source = EventSource::Adjustment;
    a.adjusts = Some(of.log_id);
    a.price_version = Some("db:openai/x@2026-01-01".into());
    a
}

/// Requests, cost, unpriced calls and input tokens summed over rows.
fn sums(rows: &[UsageRow]) -> (i64, i64, i64, i64) {
    rows.iter().fold((0, 0, 0, 0), |(r, c, u, t), row| {
        (
            r + row.requests,
            c + row.cost.0,
            u + row.unpriced,
            t + row.tokens.input,
        )
    })
}

async fn candidates(s: &dyn Store, t: &Tenant, from: &str, to: &str) -> Vec<Uuid> {
    s.reprice_candidates(&t.id, at(from), at(to), -1, 100)
        .await
        .expect("candidates")
        .into_iter()
        .map(|c| c.event.log_id)
        .collect()
}

#[tokio::test]
async fn an_adjustment_adds_its_cost_but_no_request_and_its_call_is_no_longer_unpriced() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "t").await;
        let call = unpriced(&t, "x", "2026-01-10T10:00:00Z");
        let other = unpriced(&t, "x", "2026-01-10T11:00:00Z");
        s.append_usage(&[item(call.clone()), item(other.clone())])
            .await
            .expect("append");
        let whole = (at("2026-01-10"), at("2026-01-11") - 1);
        let part = (at("2026-01-10T09:00:00Z"), at("2026-01-10T23:00:00Z"));
        for (start, end) in [whole, part] {
            let rows = s.usage_rows(&t.id, start, end).await.expect("rows");
            assert_eq!(sums(&rows), (2, 0, 2, 2000), "{}", db.engine);
        }

        let recorded = s
            .append_usage(&[item(adjustment(&call, 1_500_004))])
            .await
            .expect("append");
        assert!(!recorded[0].duplicate);
        for (start, end) in [whole, part] {
            let rows = s.usage_rows(&t.id, start, end).await.expect("rows");
            assert_eq!(
                sums(&rows),
                (2, 1_500_004, 1, 2000),
                "{}: rollups and events count alike",
                db.engine
            );
        }
        let month = s.monthly_rows(&t.id, 202601).await.expect("month");
        assert_eq!(sums(&month), (2, 1_500_004, 1, 2000), "{}", db.engine);

        // The repricing's query: the other call only; a rerun's adjustment is a repeat.
        let left = candidates(s, &t, "2026-01-01", "2026-02-01").await;
        assert_eq!(left, vec![other.log_id], "{}", db.engine);
        let again = s
            .append_usage(&[item(adjustment(&call, 1_500_004))])
            .await
            .expect("append");
        assert!(again[0].duplicate, "{}", db.engine);
        assert_eq!(again[0].log_id, recorded[0].log_id);
        let unpriced_logs = s
            .list_events(
                &t.id,
                &LogFilter {
                    unpriced_only: true,
                    ..Default::default()
                },
                10,
                0,
            )
            .await
            .expect("list");
        assert_eq!(unpriced_logs.len(), 1, "{}", db.engine);
        let coverage = s
            .unpriced_models(&t.id, whole.0, whole.1)
            .await
            .expect("coverage");
        assert_eq!(coverage[0].requests, 1, "{}", db.engine);

        // Read back with what it adjusts, and never changed.
        let back = s
            .find_log_entry(&t.id, recorded[0].log_id)
            .await
            .expect("find")
            .expect("found");
        let entry = String::from_utf8(back.entry.expect("live")).expect("utf-8");
        assert!(
            entry.starts_with(&format!("{{\"adjusts\":\"{}\",", call.log_id)),
            "{entry}"
        );
        let listed = s
            .list_events(&t.id, &LogFilter::default(), 10, 0)
            .await
            .expect("list");
        let a = listed
            .iter()
            .find(|e| e.event.log_id == recorded[0].log_id)
            .expect("listed");
        assert_eq!(a.event.adjusts, Some(call.log_id));
        assert_eq!(a.event.source, EventSource::Adjustment);
        assert_eq!(a.event.tokens, TokenCounts::default());
        assert_eq!(a.event.cost, Nanos(1_500_004));
        let raw = raw_connection(&db.url).await;
        let refused = raw
            .execute_script("UPDATE usage_events SET adjusts = NULL")
            .await;
        assert!(refused.is_err(), "{}: an adjustment was changed", db.engine);
        raw.close().await;
    }
}

#[tokio::test]
async fn the_repricing_query_leaves_out_cached_answers_other_tenants_and_the_range_end() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "t").await;
        let u = tenant(s, "u").await;
        let mut cached = unpriced(&t, "x", "2026-01-10T10:00:00Z");
        cached.flags.cached_response = true;
        let priced = event(&t, "x", 1, 1, 5, "2026-01-10T10:00:00Z");
        let first = unpriced(&t, "x", "2026-01-10T00:00:00Z");
        let at_end = unpriced(&t, "x", "2026-01-11T00:00:00Z");
        let theirs = unpriced(&u, "x", "2026-01-10T10:00:00Z");
        s.append_usage(&[
            item(cached),
            item(priced),
            item(first.clone()),
            item(at_end.clone()),
            item(theirs),
        ])
        .await
        .expect("append");
        assert_eq!(
            candidates(s, &t, "2026-01-10", "2026-01-11").await,
            vec![first.log_id],
            "{}: [since, until)",
            db.engine
        );
        assert_eq!(
            candidates(s, &t, "2026-01-01", "2026-02-01").await,
            vec![first.log_id, at_end.log_id],
            "{}: in log order",
            db.engine
        );
        let page = s
            .reprice_candidates(&t.id, i64::MIN, i64::MAX, -1, 1)
            .await
            .expect("page");
        assert_eq!(page.len(), 1);
        let next = s
            .reprice_candidates(&t.id, i64::MIN, i64::MAX, page[0].seq, 10)
            .await
            .expect("next page");
        assert_eq!(
            next.iter().map(|c| c.event.log_id).collect::<Vec<_>>(),
            vec![at_end.log_id],
            "{}",
            db.engine
        );
    }
}
