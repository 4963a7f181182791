//! The usage-side answers are exactly their `tollgate-api` types: each decodes into its type
//! and encodes back to the same JSON (no member dropped, none invented), and the client
//! returns them typed.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tollgate_api::conversations::{ConversationDetail, ConversationLogged, Message};
use tollgate_api::operate::{Engine, Health, HealthStatus};
use tollgate_api::usage::{
    DailyCosts, EventFlag, LogBatchBody, LogBatchResponse, LogBatchResult, LogEntry, Logged,
    LogsQuery, MonthlyCosts, PriceList, StatsGroupBy, StatsQuery, UsageLogBody, UsageStats,
};
use tollgate_client::Client;

use crate::support::{usage, Reply, TestApp};

/// Decodes a 200 answer as `T` and checks it encodes back to the very same JSON.
#[track_caller]
fn exactly<T: DeserializeOwned + Serialize>(what: &str, r: &Reply) -> T {
    assert_eq!(r.status, 200, "{what}: {}", r.body);
    let typed: T = serde_json::from_value(r.body.clone())
        .unwrap_or_else(|e| panic!("{what} is not its API type: {e}\n{}", r.body));
    let again = serde_json::to_value(&typed).expect("encodes");
    assert_eq!(again, r.body, "{what} lost or changed a member");
    typed
}

#[tokio::test]
async fn every_usage_and_conversation_answer_is_exactly_its_api_type() {
    for app in TestApp::all().await {
        let logged: Logged = exactly(
            "log",
            &app.post("/api/v1/log", &usage("gpt-4o", 100, 20)).await,
        );
        let batch = json!({"events": [usage("gpt-4o-mini", 5, 1), {"provider": "openai"},
                                      {"provider": "acme", "model": "sparrow", "input_tokens": 1,
                                       "output_tokens": 1}]});
        let answer: LogBatchResponse =
            exactly("batch", &app.post("/api/v1/log/batch", &batch).await);
        assert_eq!((answer.recorded, answer.rejected), (2, 1));
        let conversation: ConversationLogged = exactly(
            "conversation log",
            &app.post(
                "/api/v1/conversations/log",
                &json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                        "response": {"content": "Hello.", "model": "gpt-4o-mini"},
                        "metadata": {"provider": "openai", "model": "gpt-4o-mini",
                                     "input_tokens": 3, "output_tokens": 2}}),
            )
            .await,
        );
        let id = conversation.conversation_id.expect("a conversation id");

        let logs: Vec<LogEntry> = exactly("logs", &app.get("/api/v1/logs").await);
        assert_eq!(logs.len(), 4);
        assert!(logs.iter().any(|l| l.id == logged.log_id));
        assert!(logs.iter().any(|l| l.flags.contains(&EventFlag::Unpriced)));
        for group in ["day", "month", "model", "origin"] {
            let stats: UsageStats = exactly(
                "stats",
                &app.get(&format!("/api/v1/stats?group_by={group}")).await,
            );
            assert_eq!(stats.summary.total_requests, 4);
            assert_eq!(stats.group_by.as_str(), group);
        }
        exactly::<PriceList>("pricing", &app.get("/api/v1/pricing").await);
        exactly::<DailyCosts>("daily costs", &app.get("/api/v1/costs/daily").await);
        exactly::<MonthlyCosts>("monthly costs", &app.get("/api/v1/costs/monthly").await);
        exactly::<Vec<tollgate_api::conversations::Conversation>>(
            "conversations",
            &app.get("/api/v1/conversations/").await,
        );
        let detail: ConversationDetail = exactly(
            "conversation",
            &app.get(&format!("/api/v1/conversations/{id}")).await,
        );
        assert_eq!(detail.messages.len(), 2);
        exactly::<Vec<Message>>(
            "messages",
            &app.get(&format!("/api/v1/conversations/{id}/messages"))
                .await,
        );
        exactly::<Health>("health", &app.get("/health").await);
    }
}

#[tokio::test]
async fn the_client_returns_the_usage_answers_typed() {
    for app in TestApp::all().await {
        let client = Client::new(&app.base, &app.key).expect("a client");
        let logged = client
            .log_usage(&UsageLogBody {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                input_tokens: Some(1000),
                output_tokens: Some(100),
                request_id: Some("typed-1".into()),
                ..Default::default()
            })
            .await
            .expect("logged");
        // gpt-4o: 1000 × $2.50/M + 100 × $10/M
        assert_eq!(logged.cost_exact, "0.003500000");
        assert!(!logged.duplicate);

        let batch = LogBatchBody {
            events: vec![
                UsageLogBody {
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    input_tokens: Some(1000),
                    output_tokens: Some(100),
                    request_id: Some("typed-1".into()),
                    ..Default::default()
                },
                UsageLogBody {
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    input_tokens: Some(-1),
                    output_tokens: Some(1),
                    ..Default::default()
                },
            ],
        };
        let answer = client.log_batch(&batch).await.expect("a batch answer");
        assert_eq!(
            (answer.recorded, answer.duplicates, answer.rejected),
            (0, 1, 1)
        );
        match &answer.results[..] {
            [LogBatchResult::Duplicate(first), LogBatchResult::Rejected(second)] => {
                assert_eq!(
                    first.logged.log_id, logged.log_id,
                    "the repeat is the first call"
                );
                assert_eq!(second.index, 1);
                assert_eq!(
                    second.error.field.as_deref(),
                    Some("events[1].input_tokens")
                );
            }
            other => panic!("{other:?}"),
        }

        let stats = client
            .stats(&StatsQuery {
                group_by: Some("MODEL".into()),
                ..Default::default()
            })
            .await
            .expect("stats");
        assert_eq!(stats.group_by, StatsGroupBy::Model);
        assert_eq!(stats.summary.total_requests, 1);
        assert_eq!(stats.summary.total_cost, "0.003500000");
        assert_eq!(stats.groups[0].key, "gpt-4o");

        let page = client
            .logs(&LogsQuery {
                model: Some("gpt-4o".into()),
                ..Default::default()
            })
            .await
            .expect("logs");
        assert_eq!(page.count, 1);
        assert_eq!(page.logs[0].request_id.as_deref(), Some("typed-1"));
        assert!(page.start_date.is_some(), "a model filter searches a range");

        let health = Client::anonymous(&app.base)
            .expect("a client")
            .health()
            .await
            .expect("healthy");
        assert_eq!(health.status, HealthStatus::Ok);
        let engine = if app.engine() == "sqlite" {
            Engine::Sqlite
        } else {
            Engine::Postgres
        };
        assert_eq!(health.engine, engine);
        assert_eq!(health.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }
}
