use serde_json::json;
use tollgate_core::EventSource;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{AppendItem, Dedupe, NewConversation, NewMessage};
use uuid::Uuid;

use crate::support::{event, tenant};

fn message(role: &str, content: serde_json::Value, ts: i64) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        role: role.into(),
        content: Some(content),
        content_hash: None,
        input_tokens: None,
        output_tokens: None,
        tool_calls: None,
        tool_results: None,
        metadata: Default::default(),
        ts_us: ts,
    }
}

#[tokio::test]
async fn a_conversation_is_stored_with_its_messages_in_order_and_only_for_its_tenant() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let id = Uuid::now_v7();
        let mut e = event(&a, "gpt-4o", 10, 8, 1234, "2026-01-01T00:00:00Z");
        e.conversation_id = Some(id);
        e.source = EventSource::Conversation;
        let ts = e.timestamp_us;
        let answer = message("assistant", json!("hi"), ts);
        let messages = vec![
            message("developer", json!("be brief"), ts),
            message(
                "user",
                json!([{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "x"}}]),
                ts,
            ),
            answer.clone(),
        ];
        s.append_usage(&[AppendItem {
            event: e,
            dedupe: Dedupe::None,
            execution: None,
            conversation: Some(NewConversation {
                id,
                title: Some("t".into()),
                system_prompt: None,
                model_alias: "openai:gpt-4o".into(),
                temperature: 0.7,
                max_tokens: None,
                messages,
                response_message_id: answer.id,
            }),
            charge: None,
        }])
        .await
        .expect("append");

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
                c.total_cost.0
            ),
            (3, 10, 8, 1234)
        );
        let got = s
            .list_messages(&a.id, id, 100, 0)
            .await
            .expect("messages")
            .expect("found");
        assert_eq!(
            got.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(),
            vec!["developer", "user", "assistant"]
        );
        assert_eq!(
            got[1]
                .content
                .as_ref()
                .and_then(|c| c.as_array())
                .map(Vec::len),
            Some(2),
            "{}",
            db.engine
        );
        let page = s
            .list_messages(&a.id, id, 1, 1)
            .await
            .expect("page")
            .expect("found");
        assert_eq!(page[0].role, "user");
        assert_eq!(
            s.list_conversations(&a.id, 10, 0)
                .await
                .expect("list")
                .len(),
            1
        );

        assert!(
            s.get_conversation(&b.id, id).await.expect("get").is_none(),
            "{}",
            db.engine
        );
        assert!(s
            .list_messages(&b.id, id, 10, 0)
            .await
            .expect("messages")
            .is_none());
        assert!(s
            .list_conversations(&b.id, 10, 0)
            .await
            .expect("list")
            .is_empty());
    }
}
