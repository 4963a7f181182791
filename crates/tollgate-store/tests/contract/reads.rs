use tollgate_core::time::day_of;
use tollgate_core::Nanos;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{LogFilter, UsageRow};

use crate::support::{at, event, item, tenant};

fn total(rows: &[UsageRow]) -> (i64, i64, i64, Nanos) {
    rows.iter().fold((0, 0, 0, Nanos(0)), |(r, i, o, c), row| {
        (
            r + row.requests,
            i + row.tokens.input,
            o + row.tokens.output,
            Nanos(c.0 + row.cost.0),
        )
    })
}

#[tokio::test]
async fn usage_totals_over_any_range_equal_the_sum_of_its_events() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let times = [
            "2026-01-01T23:59:59Z",
            "2026-01-02T00:00:00Z",
            "2026-01-02T12:00:00Z",
            "2026-01-03T08:00:00Z",
            "2026-01-04T00:00:00.000001Z",
            "2026-01-05T10:00:00Z",
        ];
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                event(
                    &a,
                    if i % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" },
                    10 + i as i64,
                    5,
                    1_000 + i as i64,
                    t,
                )
            })
            .collect();
        s.append_usage(&events.iter().cloned().map(item).collect::<Vec<_>>())
            .await
            .expect("append");
        let ranges = [
            ("2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z"),
            ("2026-01-02T00:00:00Z", "2026-01-03T23:59:59.999999Z"),
            ("2026-01-01T23:59:59Z", "2026-01-04T00:00:00.000001Z"),
            ("2026-01-02T06:00:00Z", "2026-01-05T09:00:00Z"),
            ("2026-01-03T00:00:00Z", "2026-01-03T10:00:00Z"),
            ("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"),
        ];
        for (start, end) in ranges {
            let (s_us, e_us) = (at(start), at(end));
            let expected = events
                .iter()
                .filter(|e| e.timestamp_us >= s_us && e.timestamp_us <= e_us)
                .fold((0, 0, 0, Nanos(0)), |(r, i, o, c), e| {
                    (
                        r + 1,
                        i + e.tokens.input,
                        o + e.tokens.output,
                        Nanos(c.0 + e.cost.0),
                    )
                });
            let rows = s.usage_rows(&a.id, s_us, e_us).await.expect("rows");
            assert_eq!(total(&rows), expected, "{} {start}..{end}", db.engine);
            for row in &rows {
                assert!(row.day >= day_of(s_us) && row.day <= day_of(e_us));
            }
        }
    }
}

#[tokio::test]
async fn listings_filter_paginate_newest_first_and_stay_within_the_tenant() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let mut items = Vec::new();
        for i in 0..5 {
            let mut e = event(
                &a,
                "gpt-4o",
                1,
                1,
                1,
                &format!("2026-01-0{}T00:00:00Z", i + 1),
            );
            e.alias = (i % 2 == 0).then(|| "chat".to_string());
            e.user_id = Some(format!("user-{}", i % 2));
            items.push(item(e));
        }
        items.push(item(event(&b, "gpt-4o", 1, 1, 1, "2026-01-03T00:00:00Z")));
        s.append_usage(&items).await.expect("append");

        let all = s
            .list_events(&a.id, &LogFilter::default(), 100, 0)
            .await
            .expect("list");
        assert_eq!(all.len(), 5, "{}", db.engine);
        assert!(all
            .windows(2)
            .all(|w| w[0].event.timestamp_us >= w[1].event.timestamp_us));
        let page = s
            .list_events(&a.id, &LogFilter::default(), 2, 2)
            .await
            .expect("page");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 1]);
        let chat = LogFilter {
            alias: Some("chat".into()),
            ..Default::default()
        };
        assert_eq!(
            s.list_events(&a.id, &chat, 100, 0)
                .await
                .expect("alias")
                .len(),
            3
        );
        let user = LogFilter {
            user_id: Some("user-1".into()),
            ..Default::default()
        };
        assert_eq!(
            s.list_events(&a.id, &user, 100, 0)
                .await
                .expect("user")
                .len(),
            2
        );
        let range = LogFilter {
            start_us: Some(at("2026-01-02")),
            end_us: Some(at("2026-01-03")),
            ..Default::default()
        };
        assert_eq!(
            s.list_events(&a.id, &range, 100, 0)
                .await
                .expect("range")
                .len(),
            2
        );
        assert_eq!(
            s.list_events(&b.id, &LogFilter::default(), 100, 0)
                .await
                .expect("b")
                .len(),
            1
        );
        assert!(s
            .usage_rows(&b.id, at("2026-01-01"), at("2026-01-02"))
            .await
            .expect("b rows")
            .is_empty());
    }
}

#[tokio::test]
async fn unpriced_events_can_be_listed_alone() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let mut unpriced = event(&a, "mystery-model", 1, 1, 0, "2026-01-01T00:00:00Z");
        unpriced.flags.unpriced = true;
        s.append_usage(&[
            item(unpriced),
            item(event(&a, "gpt-4o", 1, 1, 5, "2026-01-01T00:00:00Z")),
        ])
        .await
        .expect("append");
        let only = LogFilter {
            unpriced_only: true,
            ..Default::default()
        };
        let found = s.list_events(&a.id, &only, 10, 0).await.expect("list");
        assert_eq!(found.len(), 1, "{}", db.engine);
        assert_eq!(found[0].event.model, "mystery-model");
        assert!(found[0].event.flags.unpriced);
        let rows = s
            .usage_rows(&a.id, at("2026-01-01"), at("2026-01-02"))
            .await
            .expect("rows");
        assert_eq!(rows.iter().map(|r| r.unpriced).sum::<i64>(), 1);
    }
}
