//! llmring's MCP registry: servers, tools, resources and prompts stay within their tenant; a
//! refresh updates rows in place (ids and prices kept), marks the ones no longer listed
//! inactive, and counts what is active.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    CatalogPrompt, CatalogResource, CatalogTool, McpCatalog, McpFilter, McpServer, McpServerChange,
    McpToolChange, McpTransport, NewMcpServer, NewMcpTool, Store, StoreError, ToolPrice,
};
use uuid::Uuid;

use crate::support::tenant;

fn object(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

async fn server(s: &dyn Store, tenant_id: &str, name: &str, at: i64) -> McpServer {
    s.create_mcp_server(&NewMcpServer {
        tenant_id: tenant_id.into(),
        id: Uuid::now_v7(),
        name: name.into(),
        url: format!("https://{name}.example/mcp"),
        transport: McpTransport::Http,
        auth_config: Some(object(json!({"bearer_token": "s3cret"}))),
        capabilities: Some(Map::new()),
        created_us: at,
    })
    .await
    .expect("server")
}

fn tool(name: &str, schema: Value) -> CatalogTool {
    CatalogTool {
        name: name.into(),
        description: Some(format!("{name} things")),
        input_schema: schema,
    }
}

fn resource(uri: &str) -> CatalogResource {
    CatalogResource {
        uri: uri.into(),
        name: Some(uri.rsplit('/').next().unwrap_or(uri).into()),
        description: None,
        mime_type: Some("text/plain".into()),
    }
}

fn prompt(name: &str, arguments: Value) -> CatalogPrompt {
    CatalogPrompt {
        name: name.into(),
        description: None,
        arguments: Some(arguments),
    }
}

fn all() -> McpFilter {
    McpFilter::default()
}

#[tokio::test]
async fn servers_are_listed_newest_first_and_only_to_their_tenant() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let first = server(s, &a.id, "first", 1).await;
        let second = server(s, &a.id, "second", 2).await;
        let theirs = server(s, &b.id, "theirs", 3).await;
        assert_eq!(
            first.capabilities, None,
            "an empty object is stored as absent"
        );
        assert_eq!(
            first.auth_config,
            Some(object(json!({"bearer_token": "s3cret"})))
        );
        let listed = s.list_mcp_servers(&a.id, Some(true)).await.expect("list");
        let ids: Vec<Uuid> = listed.iter().map(|x| x.id).collect();
        assert_eq!(ids, vec![second.id, first.id], "{}", db.engine);
        assert_eq!(s.get_mcp_server(&a.id, theirs.id).await.expect("get"), None);
        assert_eq!(
            s.get_mcp_server(&b.id, theirs.id).await.expect("get"),
            Some(theirs.clone())
        );
        let change = McpServerChange {
            name: Some("hijacked".into()),
            ..Default::default()
        };
        assert_eq!(
            s.update_mcp_server(&a.id, theirs.id, &change, 9)
                .await
                .expect("update"),
            None
        );
        assert!(!s.delete_mcp_server(&a.id, theirs.id).await.expect("delete"));
        assert_eq!(
            s.get_mcp_server(&b.id, theirs.id).await.expect("get"),
            Some(theirs),
            "{}: another tenant's server is untouched",
            db.engine
        );
    }
}

#[tokio::test]
async fn an_update_changes_only_what_it_names_and_an_empty_one_changes_nothing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let srv = server(s, &a.id, "one", 1).await;
        let same = s
            .update_mcp_server(&a.id, srv.id, &McpServerChange::default(), 50)
            .await
            .expect("update")
            .expect("found");
        assert_eq!(same, srv, "{}", db.engine);
        let change = McpServerChange {
            url: Some("https://moved.example/mcp".into()),
            auth_config: Some(Some(Map::new())),
            is_active: Some(false),
            ..Default::default()
        };
        let changed = s
            .update_mcp_server(&a.id, srv.id, &change, 50)
            .await
            .expect("update")
            .expect("found");
        assert_eq!(changed.url, "https://moved.example/mcp");
        assert_eq!(changed.auth_config, None, "an empty object clears it");
        assert!(!changed.is_active);
        assert_eq!((changed.name.as_str(), changed.updated_us), ("one", 50));
        assert_eq!(
            s.list_mcp_servers(&a.id, Some(true))
                .await
                .expect("list")
                .len(),
            0
        );
        assert_eq!(
            s.list_mcp_servers(&a.id, None).await.expect("list").len(),
            1
        );
    }
}

#[tokio::test]
async fn a_tool_needs_its_tenants_server_and_a_name_new_on_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let mine = server(s, &a.id, "mine", 1).await;
        let theirs = server(s, &b.id, "theirs", 1).await;
        let new = |server_id: Uuid, name: &str| NewMcpTool {
            tenant_id: a.id.clone(),
            id: Uuid::now_v7(),
            server_id,
            name: name.into(),
            description: None,
            input_schema: json!({"type": "object"}),
            price: ToolPrice {
                per_call: Some(Decimal::from_str("0.010").expect("decimal")),
                per_unit: None,
                currency: Some("EUR".into()),
            },
            created_us: 5,
        };
        let t = s
            .create_mcp_tool(&new(mine.id, "search"))
            .await
            .expect("create")
            .expect("my server");
        assert_eq!(t.server.name, "mine");
        assert_eq!(
            t.price.per_call.map(|d| d.to_string()).as_deref(),
            Some("0.010")
        );
        assert_eq!(t.price.currency.as_deref(), Some("EUR"));
        assert_eq!(
            s.create_mcp_tool(&new(theirs.id, "search"))
                .await
                .expect("create"),
            None,
            "{}: another tenant's server is missing",
            db.engine
        );
        match s.create_mcp_tool(&new(mine.id, "search")).await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("search"), "{m}"),
            other => panic!("{}: a second 'search' is a conflict: {other:?}", db.engine),
        }
        assert_eq!(s.get_mcp_tool(&b.id, t.id).await.expect("get"), None);
        let listed = s.list_mcp_tools(&a.id, &all()).await.expect("list");
        assert_eq!(listed, vec![t.clone()], "{}", db.engine);
        assert!(s
            .list_mcp_tools(&b.id, &all())
            .await
            .expect("list")
            .is_empty());
    }
}

#[tokio::test]
async fn a_tool_change_sets_and_clears_prices_with_their_currency() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let srv = server(s, &a.id, "one", 1).await;
        s.refresh_mcp_server(
            &a.id,
            srv.id,
            &McpCatalog {
                tools: Some(vec![tool("search", json!({}))]),
                ..Default::default()
            },
            2,
        )
        .await
        .expect("refresh")
        .expect("found");
        let id = s.list_mcp_tools(&a.id, &all()).await.expect("list")[0].id;
        let priced = s
            .update_mcp_tool(
                &a.id,
                id,
                &McpToolChange {
                    price_per_unit: Some(Some(Decimal::from_str("0.0000015").expect("d"))),
                    description: Some(None),
                    ..Default::default()
                },
            )
            .await
            .expect("update")
            .expect("found");
        assert_eq!(priced.price.currency.as_deref(), Some("USD"), "the default");
        assert_eq!(
            priced.price.per_unit.map(|d| d.to_string()).as_deref(),
            Some("0.0000015")
        );
        assert_eq!(priced.description, None);
        assert_eq!(priced.input_schema, json!({}), "{}: untouched", db.engine);
        let cleared = s
            .update_mcp_tool(
                &a.id,
                id,
                &McpToolChange {
                    price_per_unit: Some(None),
                    ..Default::default()
                },
            )
            .await
            .expect("update")
            .expect("found");
        assert_eq!(cleared.price, ToolPrice::default(), "{}", db.engine);
        let other = tenant(s, "b").await;
        assert_eq!(
            s.update_mcp_tool(&other.id, id, &McpToolChange::default())
                .await
                .expect("update"),
            None
        );
    }
}

#[tokio::test]
async fn a_refresh_keeps_ids_and_prices_deactivates_what_is_gone_and_counts_what_is_active() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let srv = server(s, &a.id, "one", 1).await;
        let catalog = McpCatalog {
            tools: Some(vec![
                tool("search", json!({"type": "object"})),
                tool("fetch", json!({})),
            ]),
            resources: Some(vec![resource("file:///a.txt"), resource("file:///b.txt")]),
            prompts: Some(vec![prompt(
                "summarize",
                json!([{"name": "text", "required": true}]),
            )]),
        };
        let first = s
            .refresh_mcp_server(&a.id, srv.id, &catalog, 10)
            .await
            .expect("refresh")
            .expect("found");
        let names: Vec<&str> = first.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["fetch", "search"], "{}: by name", db.engine);
        assert_eq!(
            first.server.capabilities,
            Some(object(json!({"tools": 2, "resources": 2, "prompts": 1})))
        );
        assert_eq!(first.server.updated_us, 10);
        assert_eq!(
            first.prompts[0].arguments,
            Some(json!([{"name": "text", "required": true}]))
        );
        let search = first.tools[1].clone();
        s.update_mcp_tool(
            &a.id,
            search.id,
            &McpToolChange {
                price_per_call: Some(Some(Decimal::from_str("0.5").expect("d"))),
                ..Default::default()
            },
        )
        .await
        .expect("price")
        .expect("found");

        // The server drops `fetch` and one resource, changes a description, adds a prompt;
        // this refresh leaves resources out, so they stay as they are.
        let second = s
            .refresh_mcp_server(
                &a.id,
                srv.id,
                &McpCatalog {
                    tools: Some(vec![CatalogTool {
                        description: Some("better".into()),
                        ..tool("search", json!({"type": "object", "required": ["q"]}))
                    }]),
                    resources: None,
                    prompts: Some(vec![
                        prompt("summarize", json!({})),
                        prompt("translate", json!([])),
                    ]),
                },
                20,
            )
            .await
            .expect("refresh")
            .expect("found");
        assert_eq!(second.tools.len(), 1, "{}", db.engine);
        let kept = &second.tools[0];
        assert_eq!(kept.id, search.id, "the id survives");
        assert_eq!(kept.description.as_deref(), Some("better"));
        assert_eq!(kept.input_schema["required"], json!(["q"]));
        assert_eq!(
            kept.price.per_call.map(|d| d.to_string()).as_deref(),
            Some("0.5"),
            "{}: the price survives",
            db.engine
        );
        assert_eq!(second.resources.len(), 2, "resources were not listed");
        assert_eq!(second.prompts[0].id, first.prompts[0].id);
        assert_eq!(second.prompts[0].arguments, Some(json!({})));
        assert_eq!(
            second.server.capabilities,
            Some(object(json!({"tools": 1, "resources": 2, "prompts": 2})))
        );
        let inactive = s
            .list_mcp_tools(
                &a.id,
                &McpFilter {
                    server_id: Some(srv.id),
                    is_active: Some(false),
                },
            )
            .await
            .expect("list");
        assert_eq!(inactive.len(), 1);
        assert_eq!(
            (inactive[0].id, inactive[0].name.as_str()),
            (first.tools[0].id, "fetch"),
            "{}: marked inactive, not deleted",
            db.engine
        );

        // Offered again, it comes back active with its old id.
        let third = s
            .refresh_mcp_server(
                &a.id,
                srv.id,
                &McpCatalog {
                    tools: Some(vec![tool("fetch", json!({}))]),
                    resources: Some(vec![]),
                    prompts: None,
                },
                30,
            )
            .await
            .expect("refresh")
            .expect("found");
        assert_eq!(third.tools[0].id, first.tools[0].id, "{}", db.engine);
        assert!(third.resources.is_empty());
        assert_eq!(
            s.list_mcp_resources(&a.id, &all())
                .await
                .expect("list")
                .len(),
            2,
            "{}: kept, inactive",
            db.engine
        );
    }
}

#[tokio::test]
async fn another_tenants_refresh_changes_nothing_and_deleting_a_server_takes_its_rows() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let srv = server(s, &a.id, "one", 1).await;
        let catalog = McpCatalog {
            tools: Some(vec![tool("search", json!({}))]),
            resources: Some(vec![resource("file:///a.txt")]),
            prompts: Some(vec![prompt("p", json!([]))]),
        };
        let refreshed = s
            .refresh_mcp_server(&a.id, srv.id, &catalog, 2)
            .await
            .expect("refresh")
            .expect("found");
        let empty = McpCatalog {
            tools: Some(vec![]),
            resources: Some(vec![]),
            prompts: Some(vec![]),
        };
        assert_eq!(
            s.refresh_mcp_server(&b.id, srv.id, &empty, 3)
                .await
                .expect("refresh"),
            None,
            "{}",
            db.engine
        );
        let resource = refreshed.resources[0].clone();
        let prompt_id = refreshed.prompts[0].id;
        assert_eq!(
            s.get_mcp_resource(&a.id, resource.id).await.expect("get"),
            Some(resource.clone())
        );
        assert_eq!(
            s.get_mcp_resource(&b.id, resource.id).await.expect("get"),
            None
        );
        assert_eq!(s.get_mcp_prompt(&b.id, prompt_id).await.expect("get"), None);
        assert!(s
            .list_mcp_prompts(&b.id, &all())
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            s.list_mcp_tools(&a.id, &all()).await.expect("list").len(),
            1,
            "{}: untouched by the other tenant",
            db.engine
        );
        assert!(s.delete_mcp_server(&a.id, srv.id).await.expect("delete"));
        assert!(s
            .list_mcp_tools(&a.id, &all())
            .await
            .expect("list")
            .is_empty());
        assert!(s
            .list_mcp_resources(&a.id, &all())
            .await
            .expect("list")
            .is_empty());
        assert_eq!(s.get_mcp_prompt(&a.id, prompt_id).await.expect("get"), None);
        assert!(!s.delete_mcp_server(&a.id, srv.id).await.expect("delete"));
    }
}
