//! A small MCP server on 127.0.0.1 speaking Streamable HTTP (MCP 2025-06-18), for the refresh,
//! resource content and prompt rendering tests: `initialize` issues an `Mcp-Session-Id` that
//! every later request must carry (with `MCP-Protocol-Version`), `notifications/initialized`
//! is answered 202, `tools/list` pages with `nextCursor` and answers as an event stream, the
//! rest as JSON; `resources/read` and `prompts/get` answer from the lists; `DELETE` ends the
//! session. Every request is logged for the tests to inspect.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{json, Value};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST` or `DELETE`.
    pub http_method: String,
    /// The JSON-RPC method (empty for a `DELETE`).
    pub method: String,
    pub session: Option<String>,
    pub protocol_version: Option<String>,
    pub accept: Option<String>,
    pub authorization: Option<String>,
    pub params: Value,
}

#[derive(Default)]
struct State {
    tools: Vec<Value>,
    resources: Vec<Value>,
    prompts: Vec<Value>,
    sessions: HashSet<String>,
    issued: usize,
    seen: Vec<Seen>,
}

/// The running server; it stops when dropped.
pub struct FakeMcp {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMcp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(String::from)
}

fn reply(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn json_response(message: Value) -> Response {
    ([("content-type", "application/json")], message.to_string()).into_response()
}

/// An event stream with a progress notification before the response, as a server streaming
/// its answer may send.
fn stream_response(message: Value) -> Response {
    let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                      "params": {"level": "info", "data": "listing"}});
    let body = format!(
        ": hello\nevent: message\ndata: {note}\n\nid: 7\nevent: message\ndata: {message}\n\n"
    );
    ([("content-type", "text/event-stream")], body).into_response()
}

impl FakeMcp {
    /// Starts a server offering three tools (`alpha`, `beta`, `gamma`; two pages), two
    /// resources and two prompts.
    pub async fn start() -> FakeMcp {
        let state = Arc::new(Mutex::new(State {
            tools: ["alpha", "beta", "gamma"]
                .iter()
                .map(|n| {
                    json!({"name": n, "title": format!("The {n} tool"), "description": format!("{n} things"),
                           "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
                           "annotations": {"readOnlyHint": true}, "aFutureMember": [1]})
                })
                .collect(),
            resources: vec![
                json!({"uri": "file:///notes.txt", "name": "notes", "mimeType": "text/plain", "size": 5}),
                json!({"uri": "file:///readme.md", "name": "readme", "description": "Read me",
                       "mimeType": "text/markdown"}),
            ],
            prompts: vec![
                json!({"name": "summarize", "description": "Summarize a text",
                       "arguments": [{"name": "text", "description": "The text", "required": true}]}),
                json!({"name": "greet", "arguments": []}),
            ],
            ..State::default()
        }));
        let s = state.clone();
        let d = state.clone();
        let app = axum::Router::new().route(
            "/mcp",
            post(move |headers: HeaderMap, body: String| {
                let s = s.clone();
                async move { handle(&s, &headers, &body) }
            })
            .delete(move |headers: HeaderMap| {
                let d = d.clone();
                async move {
                    let mut st = d.lock().expect("lock");
                    let session = header(&headers, "mcp-session-id");
                    st.seen.push(Seen {
                        http_method: "DELETE".into(),
                        method: String::new(),
                        session: session.clone(),
                        protocol_version: header(&headers, "mcp-protocol-version"),
                        accept: None,
                        authorization: header(&headers, "authorization"),
                        params: Value::Null,
                    });
                    match session {
                        Some(id) if st.sessions.remove(&id) => StatusCode::OK,
                        _ => StatusCode::NOT_FOUND,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMcp { url, state, task }
    }

    /// Stops offering the tool `name`.
    pub fn drop_tool(&self, name: &str) {
        self.state
            .lock()
            .expect("lock")
            .tools
            .retain(|t| t["name"] != name);
    }

    /// What it received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    /// Stops answering: the port refuses connections from now on.
    pub async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

fn handle(state: &Mutex<State>, headers: &HeaderMap, body: &str) -> Response {
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let method = message["method"].as_str().unwrap_or_default().to_string();
    let id = message.get("id").cloned();
    let session = header(headers, "mcp-session-id");
    let version = header(headers, "mcp-protocol-version");
    let accept = header(headers, "accept");
    let mut st = state.lock().expect("lock");
    st.seen.push(Seen {
        http_method: "POST".into(),
        method: method.clone(),
        session: session.clone(),
        protocol_version: version.clone(),
        accept: accept.clone(),
        authorization: header(headers, "authorization"),
        params: message["params"].clone(),
    });
    let accepts = accept
        .as_deref()
        .is_some_and(|a| a.contains("application/json") && a.contains("text/event-stream"));
    if !accepts {
        return (StatusCode::NOT_ACCEPTABLE, "accept both").into_response();
    }
    if method == "initialize" {
        let Some(id) = id else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        st.issued += 1;
        let session = format!("session-{}", st.issued);
        st.sessions.insert(session.clone());
        let result = json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": false}, "resources": {}, "prompts": {}},
            "serverInfo": {"name": "fake", "version": "1.0.0"},
        });
        let mut resp = json_response(reply(&id, result));
        resp.headers_mut()
            .insert("mcp-session-id", session.parse().expect("a header value"));
        return resp;
    }
    match &session {
        None => return (StatusCode::BAD_REQUEST, "no session").into_response(),
        Some(s) if !st.sessions.contains(s) => return StatusCode::NOT_FOUND.into_response(),
        Some(_) => {}
    }
    if version.as_deref() != Some("2025-06-18") {
        return (StatusCode::BAD_REQUEST, "MCP-Protocol-Version").into_response();
    }
    let Some(id) = id else {
        // A notification.
        return StatusCode::ACCEPTED.into_response();
    };
    let params = &message["params"];
    match method.as_str() {
        "tools/list" => {
            let result = if params["cursor"] == "page-2" {
                json!({"tools": st.tools.iter().skip(1).cloned().collect::<Vec<_>>()})
            } else {
                json!({"tools": st.tools.iter().take(1).cloned().collect::<Vec<_>>(),
                       "nextCursor": "page-2"})
            };
            stream_response(reply(&id, result))
        }
        "resources/list" => json_response(reply(&id, json!({"resources": st.resources}))),
        "prompts/list" => json_response(reply(&id, json!({"prompts": st.prompts}))),
        "resources/read" => {
            let uri = params["uri"].as_str().unwrap_or_default();
            if st.resources.iter().any(|r| r["uri"] == uri) {
                let text = format!("the content of {uri}");
                json_response(reply(
                    &id,
                    json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": text}]}),
                ))
            } else {
                json_response(error(&id, -32002, &format!("Resource not found: {uri}")))
            }
        }
        "prompts/get" => {
            let name = params["name"].as_str().unwrap_or_default();
            if !st.prompts.iter().any(|p| p["name"] == name) {
                return json_response(error(&id, -32602, &format!("Unknown prompt: {name}")));
            }
            let text = params["arguments"]["text"].as_str().unwrap_or("nothing");
            json_response(reply(
                &id,
                json!({"description": format!("{name} prompt"),
                       "messages": [{"role": "user",
                                     "content": {"type": "text", "text": format!("Please {name}: {text}")}}]}),
            ))
        }
        _ => json_response(error(&id, -32601, "Method not found")),
    }
}
