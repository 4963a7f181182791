//! Dimensions: a call's `kb_id` and the deployment's own dimensions are stored with the event,
//! and their totals per day and value come from the dimension rollup for whole days and from
//! the events for the partial days at either end, the same either way.

use std::collections::BTreeMap;

use tollgate_store::testing::TestDatabase;

use crate::support::{at, event, item};

#[tokio::test]
async fn dimension_totals_are_the_same_from_the_rollup_and_from_the_events() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = s.create_tenant("a").await.expect("tenant");
        let b = s.create_tenant("b").await.expect("tenant");
        let mut events = Vec::new();
        for (i, (kb, team, ts)) in [
            (Some("kb_1"), Some("search"), "2026-01-01T10:00:00Z"),
            (Some("kb_1"), None, "2026-01-02T01:00:00Z"),
            (Some("kb_2"), Some("search"), "2026-01-02T23:00:00Z"),
            (None, Some("chat"), "2026-01-03T05:00:00Z"),
            (Some("kb_2"), None, "2026-01-04T12:00:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = event(&a, "gpt-4o", 100, 10, 1_000 * (i as i64 + 1), ts);
            if let Some(kb) = kb {
                e.dimensions.insert("kb_id".into(), kb.into());
            }
            if let Some(team) = team {
                e.dimensions.insert("team".into(), team.into());
            }
            events.push(e);
        }
        // Another tenant's call with the same value stays its own.
        let mut other = event(&b, "gpt-4o", 1, 1, 7, "2026-01-02T12:00:00Z");
        other.dimensions.insert("kb_id".into(), "kb_1".into());
        events.push(other);
        s.append_usage(&events.iter().cloned().map(item).collect::<Vec<_>>())
            .await
            .expect("append");

        let stored = s
            .list_events(&a.id, &Default::default(), 100, 0)
            .await
            .expect("events");
        assert!(
            stored
                .iter()
                .any(|l| l.event.dimensions.get("kb_id").map(String::as_str) == Some("kb_2")),
            "{}",
            db.engine
        );

        for (start, end) in [
            ("2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z"),
            ("2026-01-01T12:00:00Z", "2026-01-04T06:00:00Z"),
            ("2026-01-02T00:00:00Z", "2026-01-02T23:59:59.999999Z"),
            ("2026-01-02T02:00:00Z", "2026-01-02T22:00:00Z"),
        ] {
            let (s_us, e_us) = (at(start), at(end));
            let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for e in events
                .iter()
                .filter(|e| e.tenant_id == a.id && e.timestamp_us >= s_us && e.timestamp_us <= e_us)
            {
                if let Some(kb) = e.dimensions.get("kb_id") {
                    let t = expected.entry(kb.clone()).or_default();
                    t.0 += 1;
                    t.1 += e.cost.0;
                }
            }
            let mut got: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for (value, row) in s
                .dimension_rows(&a.id, "kb_id", s_us, e_us)
                .await
                .expect("rows")
            {
                let t = got.entry(value).or_default();
                t.0 += row.requests;
                t.1 += row.cost.0;
            }
            assert_eq!(got, expected, "{} {start}..{end}", db.engine);
        }
        let teams = s
            .dimension_rows(&a.id, "team", at("2026-01-01"), at("2026-02-01"))
            .await
            .expect("rows");
        let search: i64 = teams
            .iter()
            .filter(|(v, _)| v == "search")
            .map(|(_, r)| r.requests)
            .sum();
        assert_eq!(search, 2, "{}", db.engine);
    }
}
