use std::sync::Arc;

use serde_json::json;
use tollgate_core::{EventSource, Nanos};
use tollgate_receipts::leaf_hash;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{AppendItem, Dedupe, LogFilter, NewConversation, NewMessage, StoreError};
use uuid::Uuid;

use crate::support::{event, item, tenant, with_request};

#[tokio::test]
async fn sequence_numbers_are_gap_free_per_tenant_across_batches() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let first = s
            .append_usage(&[
                item(event(&a, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:00Z")),
                item(event(&b, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:00Z")),
                item(event(&a, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:01Z")),
            ])
            .await
            .expect("append");
        assert_eq!(
            first.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![0, 0, 1],
            "{}",
            db.engine
        );
        let second = s
            .append_usage(&[item(event(&a, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:02Z"))])
            .await
            .expect("append");
        assert_eq!(second[0].seq, 2);
        assert_eq!(
            s.find_tenant(&a.id)
                .await
                .expect("find")
                .expect("a")
                .log_size,
            3
        );
        assert_eq!(
            s.find_tenant(&b.id)
                .await
                .expect("find")
                .expect("b")
                .log_size,
            1
        );
    }
}

#[tokio::test]
async fn each_event_stores_its_canonical_entry_and_leaf_hash() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let e = event(&a, "gpt-4o", 10, 5, 75_000, "2026-01-01T00:00:00Z");
        s.append_usage(&[item(e.clone())]).await.expect("append");
        let entries = s.log_entries(&a.id, 0, 10).await.expect("entries");
        assert_eq!(entries.len(), 1);
        let entry = entries[0].entry.clone().expect("a live entry");
        assert_eq!(entry, e.canonical_entry(0), "{}", db.engine);
        assert_eq!(entries[0].leaf_hash, leaf_hash(&entry).to_vec());
        let parsed: serde_json::Value = serde_json::from_slice(&entry).expect("json");
        assert_eq!(parsed["seq"], json!(0));
        assert_eq!(parsed["cost"], json!("0.000075000"));
    }
}

#[tokio::test]
async fn a_repeated_request_id_records_once_and_returns_the_first_result() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let first = s
            .append_usage(&[item(with_request(
                event(&a, "gpt-4o", 1, 1, 100, "2026-01-01T00:00:00Z"),
                "req-1",
            ))])
            .await
            .expect("append");
        // A retry with a different body still returns the first result.
        let retry = s
            .append_usage(&[
                item(with_request(
                    event(&a, "gpt-4o", 9, 9, 900, "2026-01-01T00:00:00Z"),
                    "req-1",
                )),
                item(with_request(
                    event(&a, "gpt-4o", 1, 1, 100, "2026-01-01T00:00:00Z"),
                    "req-2",
                )),
                item(with_request(
                    event(&a, "gpt-4o", 1, 1, 100, "2026-01-01T00:00:00Z"),
                    "req-2",
                )),
            ])
            .await
            .expect("append");
        assert!(!first[0].duplicate);
        assert!(
            retry[0].duplicate && retry[2].duplicate && !retry[1].duplicate,
            "{}",
            db.engine
        );
        assert_eq!(
            (retry[0].log_id, retry[0].cost),
            (first[0].log_id, Nanos(100))
        );
        assert_eq!(retry[2].log_id, retry[1].log_id);
        let all = s
            .list_events(&a.id, &LogFilter::default(), 100, 0)
            .await
            .expect("list");
        assert_eq!(all.len(), 2, "{}", db.engine);
        // The same request id in another tenant is another call.
        let b = tenant(s, "b").await;
        let other = s
            .append_usage(&[item(with_request(
                event(&b, "gpt-4o", 1, 1, 100, "2026-01-01T00:00:00Z"),
                "req-1",
            ))])
            .await
            .expect("append");
        assert!(!other[0].duplicate);
    }
}

#[tokio::test]
async fn concurrent_duplicates_of_one_request_are_recorded_once() {
    for db in TestDatabase::all().await {
        let a = tenant(&*db.store, "a").await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = Arc::clone(&db.store);
            let e = with_request(
                event(&a, "gpt-4o", 1, 1, 100, "2026-01-01T00:00:00Z"),
                "same",
            );
            tasks.push(tokio::spawn(
                async move { store.append_usage(&[item(e)]).await },
            ));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("task").expect("append")[0].log_id);
        }
        ids.dedup();
        assert_eq!(
            ids.len(),
            1,
            "{}: every duplicate answers with the first log id",
            db.engine
        );
        let all = db
            .store
            .list_events(&a.id, &LogFilter::default(), 100, 0)
            .await
            .expect("list");
        assert_eq!(all.len(), 1, "{}", db.engine);
    }
}

fn conversation_item(e: tollgate_core::UsageEvent, conversation: Uuid) -> AppendItem {
    let answer = Uuid::now_v7();
    let mut e = e;
    e.conversation_id = Some(conversation);
    e.source = EventSource::Conversation;
    AppendItem {
        dedupe: Dedupe::None,
        execution: None,
        conversation: Some(NewConversation {
            id: conversation,
            title: Some("chat conversation".into()),
            system_prompt: None,
            model_alias: "openai:gpt-4o".into(),
            temperature: 0.7,
            max_tokens: None,
            messages: vec![
                NewMessage {
                    id: Uuid::now_v7(),
                    role: "user".into(),
                    content: Some(json!("hello")),
                    content_hash: Some("h".into()),
                    input_tokens: None,
                    output_tokens: None,
                    tool_calls: None,
                    tool_results: None,
                    metadata: Default::default(),
                    ts_us: e.timestamp_us,
                },
                NewMessage {
                    id: answer,
                    role: "assistant".into(),
                    content: Some(json!("hi")),
                    content_hash: Some("h2".into()),
                    input_tokens: Some(e.tokens.input),
                    output_tokens: Some(e.tokens.output),
                    tool_calls: None,
                    tool_results: None,
                    metadata: Default::default(),
                    ts_us: e.timestamp_us,
                },
            ],
            response_message_id: answer,
        }),
        event: e,
        charge: None,
    }
}

#[tokio::test]
async fn the_llmring_second_post_of_a_conversation_call_is_counted_once() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let conv = Uuid::now_v7();
        let logged = s
            .append_usage(&[conversation_item(
                event(&a, "gpt-4o", 10, 8, 500, "2026-01-01T00:00:00Z"),
                conv,
            )])
            .await
            .expect("conversation log");
        assert_eq!(logged[0].conversation_id, Some(conv));
        let companion = AppendItem {
            dedupe: Dedupe::ConversationCall(conv),
            execution: None,
            conversation: None,
            event: event(&a, "gpt-4o", 10, 8, 500, "2026-01-01T00:00:01Z"),
            charge: None,
        };
        let second = s.append_usage(&[companion]).await.expect("usage log");
        assert!(second[0].duplicate, "{}", db.engine);
        assert_eq!(second[0].log_id, logged[0].log_id);
        assert_eq!(second[0].message_id, logged[0].message_id);
        assert_eq!(
            s.list_events(&a.id, &LogFilter::default(), 10, 0)
                .await
                .expect("list")
                .len(),
            1
        );
        // The second post is matched once: a later call naming the same conversation, or one
        // that describes a different call, is recorded.
        let again = AppendItem {
            dedupe: Dedupe::ConversationCall(conv),
            execution: None,
            conversation: None,
            event: event(&a, "gpt-4o", 10, 8, 500, "2026-01-01T00:00:03Z"),
            charge: None,
        };
        assert!(
            !s.append_usage(&[again]).await.expect("append")[0].duplicate,
            "{}",
            db.engine
        );
        let conv2 = Uuid::now_v7();
        s.append_usage(&[conversation_item(
            event(&a, "gpt-4o", 10, 8, 500, "2026-01-01T00:00:04Z"),
            conv2,
        )])
        .await
        .expect("conversation log");
        let different = AppendItem {
            dedupe: Dedupe::ConversationCall(conv2),
            execution: None,
            conversation: None,
            event: event(&a, "gpt-4o-mini", 777, 99, 5, "2026-01-01T00:00:05Z"),
            charge: None,
        };
        assert!(
            !s.append_usage(&[different]).await.expect("append")[0].duplicate,
            "{}",
            db.engine
        );
        assert_eq!(
            s.list_events(&a.id, &LogFilter::default(), 10, 0)
                .await
                .expect("list")
                .len(),
            4
        );
        // A usage post naming a conversation that was never logged is a call of its own.
        let unrelated = AppendItem {
            dedupe: Dedupe::ConversationCall(Uuid::now_v7()),
            execution: None,
            conversation: None,
            event: event(&a, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:02Z"),
            charge: None,
        };
        assert!(!s.append_usage(&[unrelated]).await.expect("append")[0].duplicate);
    }
}

#[tokio::test]
async fn a_batch_naming_an_unknown_tenant_writes_nothing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let mut ghost = a.clone();
        ghost.id = "tnt_ghost".into();
        let result = s
            .append_usage(&[
                item(event(&a, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:00Z")),
                item(event(&ghost, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:00Z")),
            ])
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound(_))),
            "{}",
            db.engine
        );
        assert!(s
            .list_events(&a.id, &LogFilter::default(), 10, 0)
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            s.find_tenant(&a.id)
                .await
                .expect("find")
                .expect("a")
                .log_size,
            0
        );
    }
}

#[tokio::test]
async fn one_commit_of_several_tenants_adds_each_tenants_calls_to_its_own_rollups() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let c = tenant(s, "c").await;
        // The same provider, model and day in every tenant: one rollup key per tenant.
        let recorded = s
            .append_usage(&[
                item(event(&b, "gpt-4o", 10, 1, 100, "2026-01-01T00:00:00Z")),
                item(event(&a, "gpt-4o", 20, 2, 200, "2026-01-01T00:00:01Z")),
                item(event(&c, "gpt-4o", 30, 3, 300, "2026-01-01T00:00:02Z")),
                item(event(&b, "gpt-4o", 40, 4, 400, "2026-01-01T00:00:03Z")),
            ])
            .await
            .expect("append");
        assert_eq!(
            recorded.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![0, 0, 0, 1],
            "{}",
            db.engine
        );
        for (t, requests, input, cost, size) in [
            (&a, 1, 20, 200, 1),
            (&b, 2, 50, 500, 2),
            (&c, 1, 30, 300, 1),
        ] {
            let rows = s.monthly_rows(&t.id, 202601).await.expect("monthly rows");
            assert_eq!(rows.len(), 1, "{}: {}", db.engine, t.name);
            assert_eq!(
                (rows[0].requests, rows[0].tokens.input, rows[0].cost),
                (requests, input, Nanos(cost)),
                "{}: {}",
                db.engine,
                t.name
            );
            let head = s.find_tenant(&t.id).await.expect("find").expect("tenant");
            assert_eq!(head.log_size, size, "{}: {}", db.engine, t.name);
        }
    }
}

#[tokio::test]
async fn an_instance_numbers_its_calls_after_those_another_instance_appended_meanwhile() {
    for db in TestDatabase::all().await {
        let other = db.another().await;
        let (s, o) = (&*db.store, &*other.store);
        let a = tenant(s, "a").await;
        let at = |n: u32| format!("2026-01-01T00:00:{n:02}Z");
        let plain = |n: u32| item(event(&a, "gpt-4o", 1, 1, 1, &at(n)));
        // Each instance learns where the log ends, then the other moves it on.
        assert_eq!(s.append_usage(&[plain(0)]).await.expect("append")[0].seq, 0);
        assert_eq!(o.append_usage(&[plain(1)]).await.expect("append")[0].seq, 1);
        assert_eq!(s.append_usage(&[plain(2)]).await.expect("append")[0].seq, 2);
        let seqs = o.append_usage(&[plain(3), plain(4)]).await.expect("append");
        assert_eq!(
            seqs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![3, 4],
            "{}",
            db.engine
        );
        assert_eq!(s.append_usage(&[plain(5)]).await.expect("append")[0].seq, 5);
        // Nothing moved the log since: the next call follows on at once.
        assert_eq!(s.append_usage(&[plain(6)]).await.expect("append")[0].seq, 6);
        let head = s.find_tenant(&a.id).await.expect("find").expect("a");
        assert_eq!(head.log_size, 7, "{}", db.engine);
        let listed = s
            .list_events(&a.id, &LogFilter::default(), 10, 0)
            .await
            .expect("list");
        assert_eq!(listed.len(), 7, "{}: every call recorded once", db.engine);
    }
}

#[tokio::test]
async fn a_batch_of_tenants_one_of_which_another_instance_moved_writes_each_call_once() {
    for db in TestDatabase::all().await {
        let other = db.another().await;
        let (s, o) = (&*db.store, &*other.store);
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let both = |n: u32| {
            let ts = format!("2026-01-01T00:00:{n:02}Z");
            [
                item(event(&a, "gpt-4o", 1, 1, 1, &ts)),
                item(event(&b, "gpt-4o", 1, 1, 1, &ts)),
            ]
        };
        s.append_usage(&both(0)).await.expect("append");
        // Only b's log moves elsewhere: this instance still has a's head right.
        o.append_usage(&[item(event(&b, "gpt-4o", 1, 1, 1, "2026-01-01T00:00:01Z"))])
            .await
            .expect("append");
        let seqs = s.append_usage(&both(2)).await.expect("append");
        assert_eq!(
            seqs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2],
            "{}",
            db.engine
        );
        for (t, size) in [(&a, 2), (&b, 3)] {
            let head = s.find_tenant(&t.id).await.expect("find").expect("tenant");
            assert_eq!(head.log_size, size, "{}: {}", db.engine, t.name);
            let listed = s
                .list_events(&t.id, &LogFilter::default(), 10, 0)
                .await
                .expect("list");
            assert_eq!(listed.len() as i64, size, "{}: {}", db.engine, t.name);
            let rows = s.monthly_rows(&t.id, 202601).await.expect("monthly rows");
            assert_eq!(rows[0].requests, size, "{}: {}", db.engine, t.name);
        }
    }
}
