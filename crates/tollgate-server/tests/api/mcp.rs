//! llmring's MCP registry (`/api/v1/mcp`), driven with the requests llmring 1.3.0 and 1.4.0
//! send (llmring-mcp §3): `X-API-Key`, `Authorization: Bearer` and `Content-Type:
//! application/json` on every request, GETs included; the CLI's bodies and queries. Everything
//! is per tenant: another tenant's server, tool, resource or prompt is a 404 on every route and
//! is left as it was.
//!
//! Discovery from a real MCP server, resource content and prompt rendering: `mcp_refresh.rs`.

use reqwest::Method;
use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::support::{assert_error, Reply, TestApp};

/// A client sending what llmring's `MCPHttpClient` and CLI send.
pub struct Llmring<'a> {
    pub app: &'a TestApp,
    pub key: String,
}

impl<'a> Llmring<'a> {
    pub fn new(app: &'a TestApp) -> Llmring<'a> {
        Llmring::with_key(app, &app.key)
    }

    pub fn with_key(app: &'a TestApp, key: &str) -> Llmring<'a> {
        Llmring {
            app,
            key: key.to_string(),
        }
    }

    /// The status and the body's text.
    pub async fn raw(&self, method: Method, path: &str, body: Option<&str>) -> (u16, String) {
        let mut req = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.base))
            .header("X-API-Key", &self.key)
            .header("Authorization", format!("Bearer {}", self.key))
            .header("Content-Type", "application/json");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("text"))
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let text = body.map(Value::to_string);
        let (status, text) = self.raw(method, path, text.as_deref()).await;
        Reply {
            status: reqwest::StatusCode::from_u16(status).expect("a status"),
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// `llmring mcp servers register`: 200 and the server's id.
    pub async fn register(&self, name: &str, url: &str, transport: &str) -> String {
        let r = self
            .post(
                "/api/v1/mcp/servers",
                &json!({"name": name, "url": url, "transport_type": transport,
                        "auth_config": null, "capabilities": null, "project_id": null}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        id(&r.body)
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// Asserts each key appears in `text` after the one before it: the members' order.
#[track_caller]
pub fn in_order(text: &str, keys: &[&str]) {
    let mut at = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let found = text[at..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} missing or out of order in {text}"));
        at += found + needle.len();
    }
}

pub fn key_set(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

const SERVER_KEYS: [&str; 10] = [
    "name",
    "url",
    "transport_type",
    "auth_config",
    "capabilities",
    "is_active",
    "id",
    "api_key_id",
    "created_at",
    "updated_at",
];

#[tokio::test]
async fn servers_register_as_llmrings_cli_sends_them_and_list_newest_first_in_its_shape() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let (status, text) = c
            .raw(
                Method::POST,
                "/api/v1/mcp/servers",
                Some(r#"{"name":"files","url":"https://files.example/mcp","transport_type":"http","auth_config":null,"capabilities":null,"project_id":null}"#),
            )
            .await;
        assert_eq!(status, 200, "{}: {text}", app.engine());
        in_order(&text, &SERVER_KEYS);
        let first: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(first["api_key_id"], app.tenant_id.as_str());
        assert_eq!(first["is_active"], true);
        assert_eq!(
            (&first["auth_config"], &first["capabilities"]),
            (&Value::Null, &Value::Null)
        );
        assert!(first["created_at"].as_str().expect("a time").ends_with('Z'));
        assert!(uuid::Uuid::parse_str(&id(&first)).is_ok());
        let second = c.register("local", "python -m server", "stdio").await;
        let r = c
            .post(
                "/api/v1/mcp/servers",
                &json!({"name": "ws", "url": "wss://ws.example", "transport_type": "websocket",
                        "auth_config": {}, "capabilities": {"tools": 1}, "is_active": false,
                        "api_key_id": "someone-else"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let third = id(&r.body);
        assert_eq!(r.body["auth_config"], Value::Null, "{{}} is stored as null");
        assert_eq!(r.body["capabilities"], json!({"tools": 1}));
        assert_eq!(r.body["is_active"], true, "ignored: a new server is active");
        assert_eq!(r.body["api_key_id"], app.tenant_id.as_str());

        let listed = c.get("/api/v1/mcp/servers?is_active=true").await;
        let ids: Vec<String> = listed
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(id)
            .collect();
        assert_eq!(ids, vec![third.clone(), second, id(&first)], "newest first");
        let same = c
            .get("/api/v1/mcp/servers?is_active=true&project_id=")
            .await;
        assert_eq!(
            same.body, listed.body,
            "an empty project_id filters nothing"
        );
        let ignored = c
            .get("/api/v1/mcp/servers?is_active=true&project_id=p1")
            .await;
        assert_eq!(ignored.body, listed.body, "project_id is ignored");

        c.patch(
            &format!("/api/v1/mcp/servers/{third}"),
            &json!({"is_active": false}),
        )
        .await;
        let inactive = c.get("/api/v1/mcp/servers?is_active=false").await;
        assert_eq!(inactive.body.as_array().expect("a list").len(), 1);
        assert_eq!(inactive.body[0]["id"], third.as_str());
        assert_eq!(
            c.get("/api/v1/mcp/servers")
                .await
                .body
                .as_array()
                .expect("a list")
                .len(),
            2,
            "{}: active by default",
            app.engine()
        );
        assert_error(
            &c.get("/api/v1/mcp/servers?is_active=maybe").await,
            400,
            "INVALID_QUERY",
        );
    }
}

#[tokio::test]
async fn a_bad_server_is_refused_naming_the_field_and_nothing_is_stored() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let long = "x".repeat(256);
        for (body, field) in [
            (
                json!({"name": "", "url": "https://a.example", "transport_type": "http"}),
                "name",
            ),
            (
                json!({"name": long, "url": "https://a.example", "transport_type": "http"}),
                "name",
            ),
            (
                json!({"name": "a", "url": "", "transport_type": "http"}),
                "url",
            ),
            (
                json!({"name": "a", "url": "not a url", "transport_type": "http"}),
                "url",
            ),
            (
                json!({"name": "a", "url": "ftp://a.example", "transport_type": "http"}),
                "url",
            ),
            (
                json!({"name": "a", "url": "https://a.example", "transport_type": "smtp"}),
                "transport_type",
            ),
            (json!({"name": "a", "url": "https://a.example"}), ""),
            (
                json!({"name": "a", "url": "https://a.example", "transport_type": "http",
                    "auth_config": []}),
                "auth_config",
            ),
            (
                json!({"name": "a", "url": "https://a.example", "transport_type": "http",
                    "auth_config": {"headers": {"X-Team": 7}}}),
                "auth_config.headers.X-Team",
            ),
            (
                json!({"name": "a", "url": "https://a.example", "transport_type": "http",
                    "auth_config": {"bearer_token": false}}),
                "auth_config.bearer_token",
            ),
        ] {
            let r = c.post("/api/v1/mcp/servers", &body).await;
            assert_error(&r, 422, "INVALID_FIELD");
            if !field.is_empty() {
                assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
            }
        }
        let r = c
            .post(
                "/api/v1/mcp/servers",
                &json!({"name": "a", "url": "https://a.example", "transport_type": "http",
                        "trasport": "x"}),
            )
            .await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(r.body["error"]["field"], "trasport");
        assert_eq!(
            c.get("/api/v1/mcp/servers").await.body,
            json!([]),
            "{}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn a_server_is_read_changed_by_patch_or_put_and_deleted_with_what_it_offers() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let s = c
            .register("files", "https://files.example/mcp", "http")
            .await;
        let path = format!("/api/v1/mcp/servers/{s}");
        let got = c.get(&path).await;
        assert_eq!(got.status, 200, "{}", got.body);

        let same = c.patch(&path, &json!({})).await;
        assert_eq!(same.status, 200, "{}: {}", app.engine(), same.body);
        assert_eq!(
            same.body, got.body,
            "{{}} changes nothing, updated_at included"
        );

        // MCPHttpClient.update_server: PUT with the members it sets.
        let put = c
            .put(
                &path,
                &json!({"name": "renamed", "auth_config": {"bearer_token": "t0k"}}),
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.body["name"], "renamed");
        assert_eq!(
            put.body["url"], "https://files.example/mcp",
            "left as it was"
        );
        assert_eq!(put.body["auth_config"], json!({"bearer_token": "t0k"}));
        assert!(put.body["updated_at"].as_str() > got.body["updated_at"].as_str());
        assert_eq!(put.body["created_at"], got.body["created_at"]);

        let cleared = c
            .patch(
                &path,
                &json!({"auth_config": null, "capabilities": {}, "transport_type": "stdio",
                        "url": "npx -y @modelcontextprotocol/server-everything"}),
            )
            .await;
        assert_eq!(cleared.status, 200, "{}", cleared.body);
        assert_eq!(cleared.body["auth_config"], Value::Null);
        assert_eq!(cleared.body["transport_type"], "stdio");
        let r = c.patch(&path, &json!({"transport_type": "http"})).await;
        assert_error(&r, 422, "INVALID_FIELD");
        assert_eq!(
            r.body["error"]["field"], "url",
            "a command line is no http URL"
        );
        assert_error(
            &c.patch(&path, &json!({"name": ""})).await,
            422,
            "INVALID_FIELD",
        );

        let t = c
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": s, "name": "search", "input_schema": {"type": "object"}}),
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.body);
        let deleted = c.delete(&path).await;
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        assert_eq!(
            deleted.body,
            json!({"message": "Server deleted successfully"})
        );
        let r = c.get(&path).await;
        assert_error(&r, 404, "NOT_FOUND");
        assert_eq!(r.body["detail"], "Server not found");
        assert_error(&c.delete(&path).await, 404, "NOT_FOUND");
        assert_error(
            &c.get(&format!("/api/v1/mcp/tools/{}", id(&t.body))).await,
            404,
            "NOT_FOUND",
        );
        assert_error(
            &c.get("/api/v1/mcp/servers/not-a-uuid").await,
            422,
            "INVALID_FIELD",
        );
    }
}

#[tokio::test]
async fn another_tenants_objects_are_missing_on_every_route_and_left_as_they_were() {
    for app in TestApp::all().await {
        let a = Llmring::new(&app);
        let s = a
            .register("files", "https://files.example/mcp", "http")
            .await;
        let t = id(&a
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": s, "name": "search", "input_schema": {}, "price_per_call": "1"}),
            )
            .await
            .body);
        let refreshed = a
            .post(
                &format!("/api/v1/mcp/servers/{s}/refresh"),
                &json!({"resources": [{"uri": "file:///a", "name": "a", "mimeType": "text/plain"}],
                        "prompts": [{"name": "p", "arguments": [{"name": "x"}]}]}),
            )
            .await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        let r = id(&refreshed.body["resources"][0]);
        let p = id(&refreshed.body["prompts"][0]);
        let before = (
            a.get(&format!("/api/v1/mcp/servers/{s}")).await.body,
            a.get("/api/v1/mcp/tools").await.body,
            a.get("/api/v1/mcp/resources").await.body,
            a.get("/api/v1/mcp/prompts").await.body,
        );

        let (_, key) = app
            .tenant_key("other", &[Scope::Ingest, Scope::Read, Scope::Admin])
            .await;
        let b = Llmring::with_key(&app, &key);
        let server = format!("/api/v1/mcp/servers/{s}");
        for (method, path, body) in [
            (Method::GET, server.clone(), None),
            (
                Method::PATCH,
                server.clone(),
                Some(json!({"name": "hijacked"})),
            ),
            (
                Method::PUT,
                server.clone(),
                Some(json!({"name": "hijacked"})),
            ),
            (Method::PATCH, server.clone(), Some(json!({}))),
            (Method::DELETE, server.clone(), None),
            (
                Method::POST,
                format!("{server}/refresh"),
                Some(json!({"tools": []})),
            ),
            (Method::POST, format!("{server}/refresh"), Some(json!({}))),
            (Method::GET, format!("/api/v1/mcp/tools/{t}"), None),
            (
                Method::PATCH,
                format!("/api/v1/mcp/tools/{t}"),
                Some(json!({"price_per_call": null})),
            ),
            (Method::GET, format!("/api/v1/mcp/resources/{r}"), None),
            (
                Method::GET,
                format!("/api/v1/mcp/resources/{r}/content"),
                None,
            ),
            (Method::GET, format!("/api/v1/mcp/prompts/{p}"), None),
            (
                Method::POST,
                format!("/api/v1/mcp/prompts/{p}/render"),
                Some(json!({"x": "1"})),
            ),
            (
                Method::POST,
                "/api/v1/mcp/tools".into(),
                Some(json!({"server_id": s, "name": "planted", "input_schema": {}})),
            ),
        ] {
            let reply = b.send(method.clone(), &path, body.as_ref()).await;
            assert_error(&reply, 404, "NOT_FOUND");
            assert!(
                reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.ends_with("not found")),
                "{method} {path}: {}",
                reply.body
            );
        }
        for list in [
            "/api/v1/mcp/servers?is_active=true".to_string(),
            "/api/v1/mcp/tools?is_active=true".to_string(),
            format!("/api/v1/mcp/tools?is_active=true&server_id={s}"),
            "/api/v1/mcp/resources?is_active=true".to_string(),
            format!(
                "/api/v1/mcp/prompts?is_active=true&server_id={s}&api_key_id={}",
                app.tenant_id
            ),
        ] {
            let reply = b.get(&list).await;
            assert_eq!(reply.status, 200, "{list}: {}", reply.body);
            assert_eq!(reply.body, json!([]), "{}: {list}", app.engine());
        }
        let after = (
            a.get(&format!("/api/v1/mcp/servers/{s}")).await.body,
            a.get("/api/v1/mcp/tools").await.body,
            a.get("/api/v1/mcp/resources").await.body,
            a.get("/api/v1/mcp/prompts").await.body,
        );
        assert_eq!(before, after, "{}: nothing of theirs changed", app.engine());
    }
}

#[tokio::test]
async fn a_read_key_reads_but_only_an_ingest_or_admin_key_writes() {
    for app in TestApp::all().await {
        let (_, reader) = app.tenant_key("readers", &[Scope::Read]).await;
        let (_, admin) = app.tenant_key("admins", &[Scope::Admin, Scope::Read]).await;
        let r = Llmring::with_key(&app, &reader);
        assert_eq!(r.get("/api/v1/mcp/servers").await.status, 200);
        assert_error(
            &r.post(
                "/api/v1/mcp/servers",
                &json!({"name": "a", "url": "https://a.example", "transport_type": "http"}),
            )
            .await,
            403,
            "FORBIDDEN",
        );
        let a = Llmring::with_key(&app, &admin);
        a.register("a", "https://a.example", "http").await;
        let (_, ingest) = app.tenant_key("ingesters", &[Scope::Ingest]).await;
        let i = Llmring::with_key(&app, &ingest);
        i.register("b", "https://b.example", "http").await;
        assert_error(&i.get("/api/v1/mcp/servers").await, 403, "FORBIDDEN");
        let none = app
            .http
            .get(format!("{}/api/v1/mcp/tools", app.base))
            .send()
            .await
            .expect("send");
        assert_eq!(none.status(), 401);
    }
}
