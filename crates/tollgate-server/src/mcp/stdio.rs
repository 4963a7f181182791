//! MCP's stdio transport: the server's `url` is a command line (split as a POSIX shell
//! would, without running a shell), run as a child process that reads newline-delimited
//! JSON-RPC on stdin and writes it on stdout. Its stderr is discarded; the process is killed
//! when the session ends (or is dropped). Only when `mcp.allow_stdio` is set.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{auth, response_to, upstream};
use crate::error::ApiError;
use crate::settings::McpSettings;

/// A running server process.
pub(super) struct StdioConn {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    timeout: Duration,
    max_bytes: usize,
}

impl StdioConn {
    /// Starts the command line with `auth_config.env` added to the server's environment.
    pub(super) fn spawn(
        command_line: &str,
        config: &Map<String, Value>,
        settings: &McpSettings,
    ) -> Result<StdioConn, ApiError> {
        let words = shlex::split(command_line)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "url",
                    "url must be a command line for transport stdio (unbalanced quotes, or empty)",
                )
            })?;
        let (program, args) = words.split_first().ok_or_else(|| {
            ApiError::invalid_field("url", "url must be a command line for transport stdio")
        })?;
        let mut child = Command::new(program)
            .args(args)
            .envs(auth::env(config)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| upstream(format!("could not start '{program}': {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ApiError::internal("a child process without its pipes"));
        };
        Ok(StdioConn {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            max_bytes: settings.max_response_bytes,
        })
    }

    async fn write(&mut self, message: &Value) -> Result<(), ApiError> {
        let mut line = message.to_string();
        line.push('\n');
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        };
        tokio::time::timeout(self.timeout, written)
            .await
            .map_err(|_| upstream("the process does not read its input"))?
            .map_err(|_| upstream("the process closed its input"))
    }

    /// Reads one line, at most `max_bytes`; None at the end of its output.
    async fn read_line(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let mut line = Vec::new();
        let limit = self.max_bytes as u64 + 1;
        let n = (&mut self.stdout)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|_| upstream("reading the process's output failed"))?;
        if n == 0 {
            return Ok(None);
        }
        if line.len() > self.max_bytes {
            return Err(upstream(format!(
                "a message is larger than {} bytes (mcp.max_response_bytes)",
                self.max_bytes
            )));
        }
        Ok(Some(line))
    }

    /// Sends request `id` and answers the response to it. Requests the process makes
    /// meanwhile are answered (`ping` with an empty result, others "method not found");
    /// notifications and lines that are not JSON are skipped.
    pub(super) async fn request(
        &mut self,
        method: &str,
        message: &Value,
        id: i64,
    ) -> Result<Value, ApiError> {
        self.write(message).await?;
        let timeout = self.timeout;
        let exchange = async {
            loop {
                let Some(line) = self.read_line().await? else {
                    return Err(upstream(format!(
                        "{method}: the process ended without an answer"
                    )));
                };
                let Ok(incoming) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                if let Some(answer) = response_to(incoming.clone(), id) {
                    return Ok(answer);
                }
                if let (Some(asked), Some(their_id)) = (
                    incoming.get("method").and_then(Value::as_str),
                    incoming.get("id"),
                ) {
                    let reply = if asked == "ping" {
                        json!({"jsonrpc": "2.0", "id": their_id, "result": {}})
                    } else {
                        json!({"jsonrpc": "2.0", "id": their_id,
                               "error": {"code": -32601, "message": "Tollgate does not offer this"}})
                    };
                    self.write(&reply).await?;
                }
            }
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            upstream(format!(
                "{method}: no answer within {} ms (mcp.timeout_ms)",
                timeout.as_millis()
            ))
        })?
    }

    /// Sends a notification.
    pub(super) async fn notify(&mut self, message: &Value) -> Result<(), ApiError> {
        self.write(message).await
    }

    /// Stops the process.
    pub(super) async fn close(mut self) {
        drop(self.stdin);
        let _ = self.child.kill().await;
    }
}
