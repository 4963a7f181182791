//! A refresh with `{}` discovers what a server offers from the MCP server itself (Streamable
//! HTTP, or a `stdio` command when allowed), and a resource's content and a prompt's rendering
//! are fetched from it: here against a real MCP server on 127.0.0.1 (`fake_mcp.rs`), which
//! requires the session it issued. A server that cannot be reached is a 502 that changes
//! nothing; one on the server's own networks is refused unless `mcp.allow_private_networks`.

use serde_json::{json, Value};
use tollgate_server::Settings;

use crate::fake_mcp::FakeMcp;
use crate::mcp::{id, Llmring};
use crate::support::{assert_error, TestApp};

fn loopback(s: &mut Settings) {
    s.mcp.allow_private_networks = true;
    s.mcp.timeout_ms = 5_000;
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v["name"].as_str().expect("a name"))
        .collect()
}

/// Registers the fake server with a bearer token.
async fn register(c: &Llmring<'_>, mcp: &FakeMcp) -> String {
    let r = c
        .post(
            "/api/v1/mcp/servers",
            &json!({"name": "fake", "url": mcp.url, "transport_type": "http",
                    "auth_config": {"bearer_token": "t0k", "headers": {"X-Team": "ledger"}},
                    "capabilities": null, "project_id": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id(&r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_refresh_discovers_tools_resources_and_prompts_over_streamable_http() {
    for app in TestApp::all_with(loopback).await {
        let mcp = FakeMcp::start().await;
        let c = Llmring::new(&app);
        let s = register(&c, &mcp).await;
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(
            names(&r.body["tools"]),
            vec!["alpha", "beta", "gamma"],
            "both pages"
        );
        assert_eq!(r.body["tools"][0]["description"], "alpha things");
        assert_eq!(
            r.body["tools"][0]["input_schema"],
            json!({"type": "object", "properties": {"q": {"type": "string"}}})
        );
        assert_eq!(names(&r.body["resources"]), vec!["notes", "readme"]);
        assert_eq!(r.body["resources"][1]["mime_type"], "text/markdown");
        assert_eq!(names(&r.body["prompts"]), vec!["greet", "summarize"]);
        assert_eq!(
            r.body["prompts"][1]["arguments"],
            json!([{"name": "text", "description": "The text", "required": true}])
        );
        assert_eq!(
            r.body["server"]["capabilities"],
            json!({"tools": 3, "resources": 2, "prompts": 2})
        );
        // Visible to the next GETs under the same key.
        let listed = c
            .get(&format!("/api/v1/mcp/tools?is_active=true&server_id={s}"))
            .await;
        assert_eq!(names(&listed.body), vec!["alpha", "beta", "gamma"]);

        let seen = mcp.seen();
        let methods: Vec<&str> = seen.iter().map(|x| x.method.as_str()).collect();
        assert_eq!(
            methods,
            vec![
                "initialize",
                "notifications/initialized",
                "tools/list",
                "tools/list",
                "resources/list",
                "prompts/list",
                ""
            ],
            "{}",
            app.engine()
        );
        let init = &seen[0];
        assert_eq!(init.params["protocolVersion"], "2025-06-18");
        assert_eq!(init.params["clientInfo"]["name"], "tollgate");
        assert_eq!(init.session, None);
        assert_eq!(seen[3].params["cursor"], "page-2");
        for sent in &seen[..seen.len() - 1] {
            assert_eq!(
                sent.accept.as_deref(),
                Some("application/json, text/event-stream")
            );
        }
        for later in &seen[1..] {
            assert_eq!(later.session.as_deref(), Some("session-1"), "{later:?}");
            assert_eq!(later.protocol_version.as_deref(), Some("2025-06-18"));
            assert_eq!(later.authorization.as_deref(), Some("Bearer t0k"));
        }
        assert_eq!(
            seen.last().map(|x| x.http_method.as_str()),
            Some("DELETE"),
            "the session is ended"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_server_drops_is_marked_inactive_keeping_its_id_and_price() {
    for app in TestApp::all_with(loopback).await {
        let mcp = FakeMcp::start().await;
        let c = Llmring::new(&app);
        let s = register(&c, &mcp).await;
        let path = format!("/api/v1/mcp/servers/{s}/refresh");
        let first = c.post(&path, &json!({})).await;
        let beta = first.body["tools"][1].clone();
        assert_eq!(beta["name"], "beta");
        let priced = c
            .patch(
                &format!("/api/v1/mcp/tools/{}", id(&beta)),
                &json!({"price_per_call": "0.003"}),
            )
            .await;
        assert_eq!(priced.status, 200, "{}", priced.body);

        mcp.drop_tool("beta");
        let second = c.post(&path, &json!({})).await;
        assert_eq!(second.status, 200, "{}", second.body);
        assert_eq!(names(&second.body["tools"]), vec!["alpha", "gamma"]);
        assert_eq!(second.body["tools"][0]["id"], first.body["tools"][0]["id"]);
        assert_eq!(
            second.body["server"]["capabilities"]["tools"],
            2,
            "{}",
            app.engine()
        );
        let inactive = c
            .get(&format!("/api/v1/mcp/tools?is_active=false&server_id={s}"))
            .await;
        assert_eq!(names(&inactive.body), vec!["beta"]);
        assert_eq!(inactive.body[0]["id"], beta["id"], "the same row");
        assert_eq!(inactive.body[0]["price_per_call"], "0.003");
        assert_eq!(inactive.body[0]["is_active"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_content_and_prompt_renderings_are_fetched_from_the_server() {
    for app in TestApp::all_with(loopback).await {
        let mcp = FakeMcp::start().await;
        let c = Llmring::new(&app);
        let s = register(&c, &mcp).await;
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        let notes = id(&r.body["resources"][0]);
        let summarize = id(&r.body["prompts"][1]);

        let got = c
            .get(&format!("/api/v1/mcp/resources/{notes}/content"))
            .await;
        assert_eq!(got.status, 200, "{}: {}", app.engine(), got.body);
        assert_eq!(
            got.body["content"],
            json!({"contents": [{"uri": "file:///notes.txt", "mimeType": "text/plain",
                                 "text": "the content of file:///notes.txt"}]})
        );
        let resource = &got.body["resource"];
        assert_eq!(resource["id"], notes.as_str());
        assert_eq!(resource["server_name"], "fake");
        assert_eq!(resource["server_url"], mcp.url.as_str());
        assert_eq!(resource["uri"], "file:///notes.txt");

        let rendered = c
            .post(
                &format!("/api/v1/mcp/prompts/{summarize}/render"),
                &json!({"text": "the ledger"}),
            )
            .await;
        assert_eq!(rendered.status, 200, "{}", rendered.body);
        assert_eq!(rendered.body["arguments"], json!({"text": "the ledger"}));
        assert_eq!(
            rendered.body["rendered"]["messages"][0]["content"]["text"],
            "Please summarize: the ledger"
        );
        assert_eq!(rendered.body["prompt"]["name"], "summarize");
        assert_eq!(rendered.body["prompt"]["server_name"], "fake");
        assert_eq!(
            rendered.body["prompt"]["arguments"][0]["name"], "text",
            "arguments as JSON"
        );
        let get = mcp
            .seen()
            .into_iter()
            .find(|x| x.method == "prompts/get")
            .expect("prompts/get");
        assert_eq!(
            get.params,
            json!({"name": "summarize", "arguments": {"text": "the ledger"}})
        );
        let r = c
            .post(
                &format!("/api/v1/mcp/prompts/{summarize}/render"),
                &json!([]),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_be_reached_is_a_502_that_changes_nothing() {
    for app in TestApp::all_with(loopback).await {
        let mut mcp = FakeMcp::start().await;
        let c = Llmring::new(&app);
        let s = register(&c, &mcp).await;
        let path = format!("/api/v1/mcp/servers/{s}/refresh");
        let before = c.post(&path, &json!({})).await;
        assert_eq!(before.status, 200, "{}", before.body);
        let resource = id(&before.body["resources"][0]);
        let prompt = id(&before.body["prompts"][0]);

        // A resource the server no longer has: its JSON-RPC error, passed on.
        let r = c
            .post(
                &path,
                &json!({"resources": [{"uri": "file:///gone.txt", "name": "gone"}]}),
            )
            .await;
        let gone = id(&r.body["resources"][0]);
        let r = c
            .get(&format!("/api/v1/mcp/resources/{gone}/content"))
            .await;
        assert_error(&r, 502, "MCP_SERVER_ERROR");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Resource not found: file:///gone.txt"),
            "{message}"
        );

        mcp.stop().await;
        let listed = c.get("/api/v1/mcp/tools").await.body;
        let server = c.get(&format!("/api/v1/mcp/servers/{s}")).await.body;
        let r = c.post(&path, &json!({})).await;
        assert_error(&r, 502, "MCP_SERVER_ERROR");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("could not connect"), "{message}");
        assert_error(
            &c.get(&format!("/api/v1/mcp/resources/{resource}/content"))
                .await,
            502,
            "MCP_SERVER_ERROR",
        );
        assert_error(
            &c.post(&format!("/api/v1/mcp/prompts/{prompt}/render"), &json!({}))
                .await,
            502,
            "MCP_SERVER_ERROR",
        );
        assert_eq!(
            c.get("/api/v1/mcp/tools").await.body,
            listed,
            "{}",
            app.engine()
        );
        assert_eq!(
            c.get(&format!("/api/v1/mcp/servers/{s}")).await.body,
            server
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_servers_are_refused_unless_private_networks_are_allowed() {
    for app in TestApp::all().await {
        let mcp = FakeMcp::start().await;
        let c = Llmring::new(&app);
        let s = register(&c, &mcp).await;
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        assert_error(&r, 400, "INVALID_URL");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("mcp.allow_private_networks"), "{message}");
        assert!(mcp.seen().is_empty(), "{}: nothing was sent", app.engine());

        let by_name = mcp.url.replace("127.0.0.1", "localhost");
        let named = c
            .patch(
                &format!("/api/v1/mcp/servers/{s}"),
                &json!({"url": by_name}),
            )
            .await;
        assert_eq!(named.status, 200, "{}", named.body);
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        assert_error(&r, 400, "INVALID_URL");
        assert!(mcp.seen().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_servers_and_stdio_ones_without_the_setting_are_not_connected_to() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let ws = c.register("ws", "wss://ws.example/mcp", "websocket").await;
        let r = c
            .post(&format!("/api/v1/mcp/servers/{ws}/refresh"), &json!({}))
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(
            r.body["error"]["message"]
                .as_str()
                .map(|m| m.starts_with("refresh over websocket is not supported")),
            Some(true),
            "{}",
            r.body
        );
        let stdio = c.register("local", "sh -c 'exit 1'", "stdio").await;
        let r = c
            .post(&format!("/api/v1/mcp/servers/{stdio}/refresh"), &json!({}))
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("mcp.allow_stdio"), "{message}");

        // A body still stores lists, and content is null where Tollgate does not connect.
        let r = c
            .post(
                &format!("/api/v1/mcp/servers/{ws}/refresh"),
                &json!({"resources": [{"uri": "file:///a"}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let content = c
            .get(&format!(
                "/api/v1/mcp/resources/{}/content",
                id(&r.body["resources"][0])
            ))
            .await;
        assert_eq!(content.status, 200, "{}", content.body);
        assert_eq!(content.body["content"], Value::Null);
    }
}

/// A stdio MCP server in POSIX sh: answers `initialize` (declaring tools only) and
/// `tools/list` with one tool described by `$GREETING` (from `auth_config.env`).
const STDIO_SERVER: &str = r#"
while IFS= read -r line; do
  case "$line" in
    *'"method":"initialize"'*)
      echo 'not JSON: a log line on stdout'
      echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"sh","version":"1"}}}' ;;
    *'"method":"tools/list"'*)
      echo '{"jsonrpc":"2.0","method":"notifications/message","params":{}}'
      echo '{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":"'"$GREETING"'","inputSchema":{"type":"object"}}]}}' ;;
  esac
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_setting_a_stdio_servers_command_is_run_to_discover_it() {
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("server.sh");
    std::fs::write(&script, STDIO_SERVER).expect("script");
    for app in TestApp::all_with(|s| s.mcp.allow_stdio = true).await {
        let c = Llmring::new(&app);
        let r = c
            .post(
                "/api/v1/mcp/servers",
                &json!({"name": "local", "url": format!("sh '{}'", script.display()),
                        "transport_type": "stdio", "auth_config": {"env": {"GREETING": "hello"}}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let s = id(&r.body);
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(names(&r.body["tools"]), vec!["echo"]);
        assert_eq!(r.body["tools"][0]["description"], "hello");
        assert_eq!(
            r.body["server"]["capabilities"],
            json!({"tools": 1, "resources": 0, "prompts": 0}),
            "undeclared capabilities are empty lists"
        );
        let missing = c
            .patch(
                &format!("/api/v1/mcp/servers/{s}"),
                &json!({"url": "/nonexistent/mcp-server --stdio"}),
            )
            .await;
        assert_eq!(missing.status, 200);
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &json!({}))
            .await;
        assert_error(&r, 502, "MCP_SERVER_ERROR");
        assert_eq!(
            c.get(&format!("/api/v1/mcp/tools?server_id={s}"))
                .await
                .body[0]["name"],
            "echo",
            "{}: nothing changed",
            app.engine()
        );
    }
}
