//! The conversation routes' writes: opening a conversation, changing it, adding messages
//! after the ones a logged call wrote, and deleting old messages, each for its tenant only.

use serde_json::json;
use tollgate_core::time::{now_us, DAY_US};
use tollgate_core::EventSource;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AppendItem, ConversationChange, ConversationSettings, Dedupe, NewConversation, NewMessage,
    Store, Tenant,
};
use uuid::Uuid;

use crate::support::{event, tenant};

fn settings(title: &str) -> ConversationSettings {
    ConversationSettings {
        id: Uuid::now_v7(),
        title: Some(title.into()),
        system_prompt: Some("Be brief.".into()),
        model_alias: "default".into(),
        temperature: 0.7,
        max_tokens: None,
    }
}

fn message(role: &str, text: &str, tokens: Option<(i64, i64)>, ts_us: i64) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        role: role.into(),
        content: Some(json!(text)),
        content_hash: Some(format!("hash of {text}")),
        input_tokens: tokens.map(|t| t.0),
        output_tokens: tokens.map(|t| t.1),
        tool_calls: None,
        tool_results: None,
        metadata: json!({"model_used": "openai:gpt-4o"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ts_us,
    }
}

/// A call logged with its conversation (two messages, 10 + 8 tokens), as
/// `POST /api/v1/conversations/log` writes it; the conversation's id.
async fn logged(s: &dyn Store, t: &Tenant) -> Uuid {
    let id = Uuid::now_v7();
    let mut e = event(t, "gpt-4o", 10, 8, 1234, "2020-01-01T00:00:00Z");
    e.conversation_id = Some(id);
    e.source = EventSource::Conversation;
    let ts = e.timestamp_us;
    let answer = message("assistant", "hi", Some((10, 8)), ts);
    s.append_usage(&[AppendItem {
        event: e,
        dedupe: Dedupe::None,
        execution: None,
        conversation: Some(NewConversation {
            id,
            title: Some("logged".into()),
            system_prompt: None,
            model_alias: "openai:gpt-4o".into(),
            temperature: 0.7,
            max_tokens: None,
            messages: vec![message("user", "hello", None, ts), answer.clone()],
            response_message_id: answer.id,
        }),
        charge: None,
    }])
    .await
    .expect("append");
    id
}

#[tokio::test]
async fn a_conversation_opened_empty_reads_back_and_changes_for_its_tenant_only() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let opened = s
            .create_conversation(&a.id, &settings("plan a trip"))
            .await
            .expect("create");
        assert_eq!(
            (
                opened.message_count,
                opened.total_input_tokens,
                opened.last_message_us
            ),
            (0, 0, None)
        );
        let got = s.get_conversation(&a.id, opened.id).await.expect("get");
        assert_eq!(got.as_ref(), Some(&opened), "{}", db.engine);

        let same = s
            .update_conversation(&a.id, opened.id, &ConversationChange::default())
            .await
            .expect("empty change");
        assert_eq!(
            same.as_ref(),
            Some(&opened),
            "an empty change changes nothing"
        );

        let change = ConversationChange {
            title: Some(None),
            model_alias: Some("fast".into()),
            temperature: Some(1.5),
            max_tokens: Some(Some(256)),
            ..Default::default()
        };
        let changed = s
            .update_conversation(&a.id, opened.id, &change)
            .await
            .expect("update")
            .expect("found");
        assert_eq!(
            (
                changed.title.as_deref(),
                changed.system_prompt.as_deref(),
                changed.model_alias.as_str(),
                changed.temperature,
                changed.max_tokens
            ),
            (None, Some("Be brief."), "fast", 1.5, Some(256))
        );
        assert!(changed.updated_us >= opened.updated_us);
        let read = s.get_conversation(&a.id, opened.id).await.expect("get");
        assert_eq!(read.as_ref(), Some(&changed), "{}", db.engine);

        assert!(s
            .update_conversation(&b.id, opened.id, &change)
            .await
            .expect("other tenant")
            .is_none());
        assert!(s
            .get_conversation(&b.id, opened.id)
            .await
            .expect("get")
            .is_none());
        assert!(s
            .list_conversations(&b.id, 10, 0)
            .await
            .expect("list")
            .is_empty());
    }
}

#[tokio::test]
async fn messages_added_to_a_logged_conversation_follow_its_own_and_count_in_its_totals() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let id = logged(s, &a).await;
        let now = now_us();
        let added = vec![
            message("user", "and then?", None, now),
            message("assistant", "then this", Some((30, 5)), now),
        ];
        let stored = s
            .add_messages(&a.id, id, &added)
            .await
            .expect("add")
            .expect("found");
        let all = s
            .list_messages(&a.id, id, 100, 0)
            .await
            .expect("list")
            .expect("found");
        assert_eq!(
            all.iter()
                .map(|m| m.content.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            vec![
                json!("hello"),
                json!("hi"),
                json!("and then?"),
                json!("then this")
            ],
            "{}",
            db.engine
        );
        assert_eq!(stored, all[2..].to_vec(), "returned as stored");
        let c = s
            .get_conversation(&a.id, id)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(
            (
                c.message_count,
                c.total_input_tokens,
                c.total_output_tokens,
                c.total_cost.0,
                c.last_message_us
            ),
            (4, 40, 13, 1234, Some(now)),
            "{}",
            db.engine
        );

        assert!(s
            .add_messages(&b.id, id, &[message("user", "intruder", None, now)])
            .await
            .expect("other tenant")
            .is_none());
        assert!(s
            .add_messages(&a.id, Uuid::now_v7(), &[message("user", "lost", None, now)])
            .await
            .expect("missing")
            .is_none());
        let after = s
            .list_messages(&a.id, id, 100, 0)
            .await
            .expect("list")
            .expect("found");
        assert_eq!(after.len(), 4, "nothing written for the others");
    }
}

#[tokio::test]
async fn deleting_old_messages_keeps_conversations_and_recounts_what_remains() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let now = now_us();
        let old = now - 40 * DAY_US;
        let mixed = s
            .create_conversation(&a.id, &settings("mixed"))
            .await
            .expect("create")
            .id;
        s.add_messages(
            &a.id,
            mixed,
            &[
                message("user", "old question", None, old),
                message("assistant", "old answer", Some((7, 3)), old),
            ],
        )
        .await
        .expect("add old");
        s.add_messages(&a.id, mixed, &[message("user", "new", None, now)])
            .await
            .expect("add new");
        // A logged call, all of whose messages are old (2020).
        let all_old = logged(s, &a).await;
        let theirs = logged(s, &b).await;

        let cutoff = now - 30 * DAY_US;
        let deleted = s.delete_old_messages(&a.id, cutoff).await.expect("delete");
        assert_eq!(deleted, 4, "{}", db.engine);

        let m = s
            .get_conversation(&a.id, mixed)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(
            (
                m.message_count,
                m.last_message_us,
                m.total_input_tokens,
                m.total_output_tokens
            ),
            (1, Some(now), 7, 3),
            "counts what remains, totals stay: {}",
            db.engine
        );
        let left = s
            .list_messages(&a.id, mixed, 100, 0)
            .await
            .expect("list")
            .expect("found");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].content, Some(json!("new")));

        let l = s
            .get_conversation(&a.id, all_old)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(
            (
                l.message_count,
                l.last_message_us,
                l.total_input_tokens,
                l.total_cost.0
            ),
            (0, None, 10, 1234)
        );
        // The emptied conversation takes new messages.
        s.add_messages(&a.id, all_old, &[message("user", "again", None, now)])
            .await
            .expect("add")
            .expect("found");
        let l = s
            .get_conversation(&a.id, all_old)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(l.message_count, 1);

        let other = s
            .list_messages(&b.id, theirs, 100, 0)
            .await
            .expect("list")
            .expect("found");
        assert_eq!(other.len(), 2, "another tenant's messages stay");
        assert_eq!(
            s.delete_old_messages(&a.id, cutoff).await.expect("again"),
            0,
            "{}",
            db.engine
        );
    }
}
