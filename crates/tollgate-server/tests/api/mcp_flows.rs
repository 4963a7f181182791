//! llmring's CLI flows that store a server's offer through a refresh with a body (llmring-mcp
//! §3.2): `mcp prompts register` and `mcp resources register` rebuild the lists from the GETs
//! and add one item, `mcp apply` registers the servers of a manifest and refreshes each. What a
//! refresh stores is the tenant's and visible to the next GET under the same key (§3.3), and
//! rows keep their ids, so registering twice neither loses nor duplicates anything.

use serde_json::{json, Value};

use crate::mcp::{id, Llmring};
use crate::support::{assert_error, TestApp};

/// The lists as `llmring mcp prompts register` rebuilds them (`cli.py`): the GETs' items
/// converted to MCP's camelCase, `arguments or {}`.
async fn rebuilt(c: &Llmring<'_>, server: &str) -> Value {
    let q = format!("?is_active=true&server_id={server}");
    let tools = c.get(&format!("/api/v1/mcp/tools{q}")).await.body;
    let resources = c.get(&format!("/api/v1/mcp/resources{q}")).await.body;
    let prompts = c.get(&format!("/api/v1/mcp/prompts{q}")).await.body;
    let list = |v: &Value| v.as_array().expect("a list").clone();
    json!({
        "tools": list(&tools).iter().map(|t| json!({
            "name": t["name"], "description": t["description"], "inputSchema": t["input_schema"]
        })).collect::<Vec<_>>(),
        "resources": list(&resources).iter().map(|r| json!({
            "uri": r["uri"], "name": r["name"], "description": r["description"], "mimeType": r["mime_type"]
        })).collect::<Vec<_>>(),
        "prompts": list(&prompts).iter().map(|p| json!({
            "name": p["name"], "description": p["description"],
            "arguments": if p["arguments"].is_null() { json!({}) } else { p["arguments"].clone() }
        })).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn prompts_register_and_resources_register_add_to_what_the_server_offers() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let s = c
            .register("files", "https://files.example/mcp", "http")
            .await;
        let tool = c
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": s, "name": "search", "input_schema": {"type": "object"},
                        "price_per_call": "0.02"}),
            )
            .await;
        assert_eq!(tool.status, 200, "{}", tool.body);

        // `llmring mcp prompts register --server-id S --name summarize --arguments '{...}'`
        let mut body = rebuilt(&c, &s).await;
        body["prompts"]
            .as_array_mut()
            .expect("a list")
            .push(json!({"name": "summarize", "description": null,
                         "arguments": {"text": {"type": "string"}}}));
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &body)
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
        assert_eq!(
            r.body["server"]["capabilities"],
            json!({"tools": 1, "resources": 0, "prompts": 1})
        );

        // `llmring mcp resources register --server-id S --uri file:///notes.txt ...`
        let mut body = rebuilt(&c, &s).await;
        body["resources"].as_array_mut().expect("a list").push(
            json!({"uri": "file:///notes.txt", "name": "notes", "description": null,
                         "mimeType": "text/plain"}),
        );
        let r = c
            .post(&format!("/api/v1/mcp/servers/{s}/refresh"), &body)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let q = format!("?is_active=true&server_id={s}");
        let tools = c.get(&format!("/api/v1/mcp/tools{q}")).await.body;
        assert_eq!(
            tools.as_array().expect("a list").len(),
            1,
            "{}",
            app.engine()
        );
        assert_eq!(tools[0]["id"], tool.body["id"], "the tool kept its id");
        assert_eq!(tools[0]["price_per_call"], "0.02", "and its price");
        let prompts = c.get(&format!("/api/v1/mcp/prompts{q}")).await.body;
        assert_eq!(prompts.as_array().expect("a list").len(), 1);
        assert_eq!(prompts[0]["name"], "summarize");
        assert_eq!(prompts[0]["arguments"], json!({"text": {"type": "string"}}));
        assert_eq!(prompts[0]["api_key_id"], app.tenant_id.as_str());
        let resources = c.get(&format!("/api/v1/mcp/resources{q}")).await.body;
        assert_eq!(resources[0]["mime_type"], "text/plain");
        assert_eq!(resources[0]["server_id"], s.as_str());
        let one = c
            .get(&format!("/api/v1/mcp/prompts/{}", id(&prompts[0])))
            .await;
        assert_eq!(one.body, prompts[0]);
        let one = c
            .get(&format!("/api/v1/mcp/resources/{}", id(&resources[0])))
            .await;
        assert_eq!(one.body, resources[0]);
    }
}

/// `llmring mcp apply -f manifest.json` (`mcp/apply.py`): list the servers, register the
/// manifest's servers no listed one matches by name or URL, refresh each with its lists.
async fn apply(c: &Llmring<'_>, manifest: &Value) -> Vec<String> {
    let listed = c.get("/api/v1/mcp/servers?is_active=true").await.body;
    let mut ids = Vec::new();
    for m in manifest["servers"].as_array().expect("servers") {
        let found = listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|s| s["name"] == m["name"] || s["url"] == m["url"]);
        let server = match found {
            Some(s) => id(s),
            None => {
                let transport = m["transport"].as_str().unwrap_or("http");
                c.register(
                    m["name"].as_str().expect("a name"),
                    m["url"].as_str().expect("a url"),
                    transport,
                )
                .await
            }
        };
        let tools: Vec<Value> = m["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                let schema = t.get("inputSchema").or(t.get("input_schema")).cloned();
                json!({"name": t["name"], "description": t.get("description"),
                       "inputSchema": schema.unwrap_or(json!({}))})
            })
            .collect();
        let resources: Vec<Value> = m["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                json!({"uri": r["uri"], "name": r.get("name"), "description": r.get("description"),
                       "mimeType": r.get("mimeType").or(r.get("mime_type"))})
            })
            .collect();
        let prompts: Vec<Value> = m["prompts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                json!({"name": p["name"], "description": p.get("description"),
                       "arguments": p.get("arguments").cloned().unwrap_or(json!({}))})
            })
            .collect();
        let r = c
            .post(
                &format!("/api/v1/mcp/servers/{server}/refresh"),
                &json!({"tools": tools, "resources": resources, "prompts": prompts}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(server);
    }
    ids
}

#[tokio::test]
async fn applying_a_manifest_twice_registers_each_server_once_and_keeps_every_id() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let manifest = json!({"servers": [
            {"name": "files", "url": "https://files.example/mcp",
             "tools": [{"name": "read", "input_schema": {"type": "object"}},
                       {"name": "write", "description": "Write a file", "inputSchema": {"type": "object"}}],
             "resources": [{"uri": "file:///etc/motd", "mime_type": "text/plain"}],
             "prompts": [{"name": "review", "arguments": [{"name": "path", "required": true}]}]},
            {"name": "search", "url": "https://search.example/mcp", "transport": "http",
             "tools": [{"name": "query"}]}
        ]});
        let first = apply(&c, &manifest).await;
        let tools_before = c.get("/api/v1/mcp/tools?is_active=true").await.body;
        let prompts_before = c.get("/api/v1/mcp/prompts?is_active=true").await.body;
        let second = apply(&c, &manifest).await;
        assert_eq!(
            first,
            second,
            "{}: matched, not registered again",
            app.engine()
        );
        let servers = c.get("/api/v1/mcp/servers?is_active=true").await.body;
        assert_eq!(servers.as_array().expect("a list").len(), 2);
        assert_eq!(
            c.get("/api/v1/mcp/tools?is_active=true").await.body,
            tools_before,
            "same tools, same ids"
        );
        assert_eq!(
            c.get("/api/v1/mcp/prompts?is_active=true").await.body,
            prompts_before
        );
        let names: Vec<&str> = tools_before
            .as_array()
            .expect("a list")
            .iter()
            .map(|t| t["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, vec!["query", "read", "write"]);
        assert_eq!(tools_before[0]["input_schema"], json!({}), "absent: {{}}");
        assert_eq!(
            prompts_before[0]["arguments"],
            json!([{"name": "path", "required": true}]),
            "MCP's array, returned unchanged"
        );
        let files = servers
            .as_array()
            .expect("a list")
            .iter()
            .find(|s| s["name"] == "files")
            .expect("files");
        assert_eq!(
            files["capabilities"],
            json!({"tools": 2, "resources": 1, "prompts": 1})
        );
    }
}

#[tokio::test]
async fn a_refresh_body_must_be_an_object_with_good_items_and_a_bad_one_changes_nothing() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let s = c
            .register("files", "https://files.example/mcp", "http")
            .await;
        let path = format!("/api/v1/mcp/servers/{s}/refresh");
        let ok = c
            .post(
                &path,
                &json!({"tools": [{"name": "keep", "inputSchema": {}}]}),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);

        let (status, text) = c.raw(reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 422, "no body: {text}");
        let r = c.post(&path, &json!([])).await;
        assert_error(&r, 422, "INVALID_FIELD");
        let r = c.post(&path, &json!({"tool": []})).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["suggestion"], "tools");
        for (body, field) in [
            (
                json!({"tools": [{"name": "a"}, {"name": "a"}]}),
                "tools[1].name",
            ),
            (json!({"tools": [{"name": ""}]}), "tools[0].name"),
            (
                json!({"tools": [{"name": "a", "inputSchema": [1]}]}),
                "tools[0].inputSchema",
            ),
            (json!({"resources": [{"uri": ""}]}), "resources[0].uri"),
            (
                json!({"resources": [{"uri": "x"}, {"uri": "x"}]}),
                "resources[1].uri",
            ),
            (
                json!({"prompts": [{"name": "p"}, {"name": "p"}]}),
                "prompts[1].name",
            ),
            (
                json!({"prompts": [{"description": "no name"}]}),
                "prompts[0]",
            ),
        ] {
            let r = c.post(&path, &body).await;
            assert_error(&r, 422, "INVALID_FIELD");
            let got = r.body["error"]["field"].as_str().unwrap_or_default();
            assert!(got.starts_with(field), "{body}: {}", r.body);
        }
        let tools = c
            .get(&format!("/api/v1/mcp/tools?server_id={s}"))
            .await
            .body;
        assert_eq!(
            tools.as_array().expect("a list").len(),
            1,
            "{}",
            app.engine()
        );
        assert_eq!(tools[0]["name"], "keep");

        // A kind left out is left as it is; an empty list deactivates all of that kind.
        let r = c.post(&path, &json!({"prompts": []})).await;
        assert_eq!(r.body["tools"].as_array().expect("a list").len(), 1);
        let r = c.post(&path, &json!({"tools": []})).await;
        assert_eq!(r.body["tools"], json!([]));
        let gone = c
            .get(&format!("/api/v1/mcp/tools?is_active=false&server_id={s}"))
            .await
            .body;
        assert_eq!(gone[0]["id"], tools[0]["id"], "inactive, not deleted");
    }
}
