//! MCP tool executions: a metered one is written by the append with its event, once per
//! request id, and never fails the batch it rides in; an unmetered one is recorded once per
//! request id; a tool's history is its tenant's only.

use serde_json::json;
use tollgate_core::EventSource;
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    McpTransport, NewExecution, NewMcpServer, NewMcpTool, Store, StoreError, Tenant, ToolPrice,
};
use uuid::Uuid;

use crate::support::{at, event, item, tenant, with_request};

async fn tool(s: &dyn Store, t: &Tenant) -> Uuid {
    let server = s
        .create_mcp_server(&NewMcpServer {
            tenant_id: t.id.clone(),
            id: Uuid::now_v7(),
            name: "courts".into(),
            url: "https://courts.example/mcp".into(),
            transport: McpTransport::Http,
            auth_config: None,
            capabilities: None,
            created_us: 1,
        })
        .await
        .expect("server");
    s.create_mcp_tool(&NewMcpTool {
        tenant_id: t.id.clone(),
        id: Uuid::now_v7(),
        server_id: server.id,
        name: "lookup".into(),
        description: None,
        input_schema: json!({"type": "object"}),
        price: ToolPrice::default(),
        created_us: 1,
    })
    .await
    .expect("tool")
    .expect("the tenant's server")
    .id
}

fn execution(tool_id: Uuid, request_id: Option<&str>, ts: &str) -> NewExecution {
    NewExecution {
        id: Uuid::now_v7(),
        tool_id,
        conversation_id: None,
        input: Some(json!({"case": "C-1"})),
        output: Some(json!({"found": true})),
        error: None,
        duration_ms: Some(12),
        units: Some(2),
        user_id: Some("u".into()),
        request_id: request_id.map(str::to_string),
        executed_us: at(ts),
    }
}

#[tokio::test]
async fn a_metered_execution_is_written_with_its_event_once_and_a_gone_tool_fails_nothing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let tool_id = tool(s, &t).await;
        let gone = Uuid::now_v7();

        let metered = |tool_id: Uuid, request: &str| {
            let mut e = with_request(event(&t, "courts/lookup", 0, 0, 20, "2026-03-01"), request);
            e.provider = "mcp".into();
            e.source = EventSource::Tool;
            e.units = Some(2);
            let mut i = item(e);
            i.execution = Some(execution(tool_id, Some(request), "2026-03-01"));
            i
        };
        let plain = item(event(&t, "gpt-4o", 10, 5, 7, "2026-03-01"));
        let first = metered(tool_id, "r1");
        let recorded = s
            .append_usage(&[first.clone(), metered(gone, "r2"), plain])
            .await
            .expect("the batch commits");
        assert_eq!(recorded.len(), 3, "{}", db.engine);
        assert!(recorded.iter().all(|r| !r.duplicate));

        let found = s
            .find_execution(&t.id, "r1")
            .await
            .expect("read")
            .expect("written with its event");
        assert_eq!(found.log_id, Some(recorded[0].log_id));
        assert_eq!(found.recorded.units, Some(2));
        assert_eq!(found.recorded.input, Some(json!({"case": "C-1"})));
        assert!(
            s.find_execution(&t.id, "r2").await.expect("read").is_none(),
            "no execution for a tool that is gone; its event stands"
        );

        let again = s.append_usage(&[first]).await.expect("append");
        assert!(again[0].duplicate, "{}", db.engine);
        let history = s
            .tool_executions(&t.id, tool_id, 10)
            .await
            .expect("read")
            .expect("the tenant's tool");
        assert_eq!(history.len(), 1, "written once");
        let events = s
            .list_events(&t.id, &Default::default(), 10, 0)
            .await
            .expect("read");
        assert_eq!(events.len(), 3, "{}: one event per call", db.engine);
    }
}

#[tokio::test]
async fn an_unmetered_execution_is_recorded_once_per_request_id_and_only_against_the_tenants_tool()
{
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let tool_id = tool(s, &a).await;
        let e = execution(tool_id, Some("x1"), "2026-03-01");
        let (first, repeated) = s.record_execution(&a.id, &e).await.expect("record");
        assert!(!repeated);
        assert_eq!(first.log_id, None);
        let again = execution(tool_id, Some("x1"), "2026-03-02");
        let (second, repeated) = s.record_execution(&a.id, &again).await.expect("record");
        assert!(repeated, "{}", db.engine);
        assert_eq!(second.recorded.id, e.id, "the first is returned");

        let theirs = s
            .record_execution(&b.id, &execution(tool_id, None, "2026-03-01"))
            .await;
        assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
        assert_eq!(
            s.tool_executions(&b.id, tool_id, 10).await.expect("read"),
            None
        );
        let newest_first = s
            .record_execution(&a.id, &execution(tool_id, None, "2026-03-05"))
            .await
            .expect("record")
            .0;
        let history = s
            .tool_executions(&a.id, tool_id, 10)
            .await
            .expect("read")
            .expect("the tenant's tool");
        assert_eq!(history[0].recorded.id, newest_first.recorded.id);
        assert_eq!(history.len(), 2);
    }
}
