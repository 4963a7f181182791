//! A small headless-Chromium driver for the console's browser tests, speaking the Chrome
//! DevTools Protocol (CDP) over the browser's WebSocket.
//!
//! This module owns the Chromium process (a throwaway profile; the whole process group is killed
//! on drop) and the connection: one task writes, one reads and routes each reply to its caller by
//! `id` and each event to its page by `sessionId`. [`page`] owns what a test does with a tab.
//!
//! It is test support, not an automation library: every wait has a timeout, and a failure panics
//! with what was awaited, the URL and what the page says, which is what a failing test should
//! print.

mod page;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub use page::Page;

/// How long Chromium may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long any one command may wait for its reply (a full-page screenshot is the slowest).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// A reply to one command: its `result`, or the protocol's error message.
type Reply = Result<Value, String>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not turn every later lock into a second, misleading panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A page-domain event (`Page.*`), kept for the navigation waits.
struct Event {
    method: String,
    params: Value,
}

/// Where the reader task delivers what arrives for one page's session.
struct Inbox {
    page_events: mpsc::UnboundedSender<Event>,
    /// Uncaught exceptions and `console.error` calls, recorded as they arrive so that a test can
    /// ask at any time without the page having to be waiting.
    errors: Mutex<Vec<String>>,
}

/// What the reader task shares with the callers: who awaits which reply, which page owns
/// which session.
#[derive(Default)]
struct Routes {
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    sessions: Mutex<HashMap<String, Arc<Inbox>>>,
    /// Set once the socket has closed, so that later calls fail at once rather than time out.
    closed: AtomicBool,
}

/// The sending side of the DevTools connection, shared by the browser and its pages.
#[derive(Clone)]
struct Connection {
    outgoing: mpsc::UnboundedSender<Message>,
    routes: Arc<Routes>,
    next_id: Arc<AtomicU64>,
}

/// A headless Chromium with its own profile; the process (and its helpers) die with it.
pub struct Browser {
    connection: Connection,
    child: Child,
    // Dropped after `child` is killed, so Chromium is no longer writing into it.
    _profile: tempfile::TempDir,
}

impl Connection {
    /// Sends a command without waiting; its reply, if any, is dropped by the reader.
    fn send(&self, session: Option<&str>, method: &str, params: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.send_as(id, session, method, params);
    }

    fn send_as(&self, id: u64, session: Option<&str>, method: &str, params: Value) {
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = Value::from(session);
        }
        // A closed writer means the browser is gone; the caller's wait reports that.
        let _ = self.outgoing.send(Message::text(command.to_string()));
    }

    async fn try_call(&self, session: Option<&str>, method: &str, params: Value) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_to, reply) = oneshot::channel();
        // Registered before sending, so that a fast reply cannot arrive to nobody.
        lock(&self.routes.pending).insert(id, reply_to);
        // Checked after registering: the reader sets `closed` before it drops the callers.
        if self.routes.closed.load(Ordering::SeqCst) {
            lock(&self.routes.pending).remove(&id);
            return Err(format!("the browser connection closed before {method}"));
        }
        self.send_as(id, session, method, params);
        let outcome = timeout(CALL_TIMEOUT, reply).await;
        lock(&self.routes.pending).remove(&id);
        match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(format!(
                "the browser connection closed before {method} replied"
            )),
            Err(_) => Err(format!("no reply to {method} within {CALL_TIMEOUT:?}")),
        }
    }

    /// Calls `method` and returns the string `field` of its reply (an id the next call needs).
    async fn call_for(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        field: &str,
    ) -> String {
        let reply = self.call(session, method, params).await;
        let value = reply[field].as_str();
        value
            .unwrap_or_else(|| panic!("{method} replied without {field}: {reply}"))
            .to_owned()
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .await
            .unwrap_or_else(|error| panic!("{method} failed: {error}"))
    }
}

/// Reads the socket until it closes, routing each reply and page event.
async fn read_loop<S>(mut socket: S, routes: Arc<Routes>)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(mut message) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if let Some(id) = message["id"].as_u64() {
            let reply = match message.get("error") {
                Some(error) => Err(error["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned()),
                None => Ok(message["result"].take()),
            };
            if let Some(caller) = lock(&routes.pending).remove(&id) {
                let _ = caller.send(reply);
            }
        } else {
            let params = message["params"].take();
            let (Some(session), Some(method)) =
                (message["sessionId"].as_str(), message["method"].as_str())
            else {
                continue;
            };
            let inbox = lock(&routes.sessions).get(session).cloned();
            if let Some(inbox) = inbox {
                inbox.receive(method, params);
            }
        }
    }
    routes.closed.store(true, Ordering::SeqCst);
    // Dropping the waiting senders wakes every caller with "connection closed".
    lock(&routes.pending).clear();
}

impl Inbox {
    fn receive(&self, method: &str, params: Value) {
        match method {
            "Runtime.exceptionThrown" => {
                lock(&self.errors).push(describe_exception(&params["exceptionDetails"]));
            }
            "Runtime.consoleAPICalled" if params["type"] == "error" => {
                let args = params["args"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let words: Vec<String> = args.iter().map(describe_remote_object).collect();
                lock(&self.errors).push(format!("console.error: {}", words.join(" ")));
            }
            _ if method.starts_with("Page.") => {
                let event = Event {
                    method: method.to_owned(),
                    params,
                };
                let _ = self.page_events.send(event);
            }
            // Network and the rest of Runtime are enabled for their commands, not their events.
            _ => {}
        }
    }
}

/// An exception's message and stack as the console would print it.
fn describe_exception(details: &Value) -> String {
    details["exception"]["description"]
        .as_str()
        .or_else(|| details["text"].as_str())
        .unwrap_or("unknown exception")
        .to_owned()
}

fn describe_remote_object(object: &Value) -> String {
    match &object["value"] {
        Value::String(text) => text.clone(),
        Value::Null => object["description"].as_str().unwrap_or("null").to_owned(),
        value => value.to_string(),
    }
}

/// The Chromium to run: `TOLLGATE_CHROMIUM` if set, else the first of the usual names on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(chosen) = std::env::var_os("TOLLGATE_CHROMIUM").filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(chosen));
    }
    let path = std::env::var_os("PATH")?;
    CHROMIUM_NAMES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|binary| binary.is_file())
    })
}

impl Browser {
    /// Starts Chromium, panicking if none is found (see [`Browser::launch_or_skip`]).
    #[allow(
        dead_code,
        reason = "for a test that must not skip; every test may skip so far"
    )]
    pub async fn launch() -> Browser {
        let binary = find_chromium().unwrap_or_else(|| {
            panic!("chromium not found: install chromium or set TOLLGATE_CHROMIUM to its path")
        });
        Self::start(&binary).await
    }

    /// Starts Chromium, or prints "chromium not found: skipping browser test" and returns `None`
    /// when there is none, so that the browser tests skip on a machine without it. Under CI
    /// (`CI=true`) a missing Chromium panics instead: there a skip would hide the tests.
    pub async fn launch_or_skip() -> Option<Browser> {
        match find_chromium() {
            Some(binary) => Some(Self::start(&binary).await),
            None if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("chromium not found and CI=true: install chromium or set TOLLGATE_CHROMIUM")
            }
            None => {
                eprintln!("chromium not found: skipping browser test");
                None
            }
        }
    }

    async fn start(binary: &Path) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("tollgate-chromium-")
            .tempdir()
            .expect("a temporary directory for the Chromium profile");
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so that dropping the browser can kill the helpers too.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));

        let stderr = child.stderr.take().expect("stderr is piped above");
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        let address = timeout(LAUNCH_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("DevTools listening on ws://") {
                    let address = &line[at + "DevTools listening on ".len()..];
                    return Some(address.trim().to_owned());
                }
                said.push(line);
            }
            None
        })
        .await;
        let Ok(Some(address)) = address else {
            panic!(
                "{} printed no DevTools address within {LAUNCH_TIMEOUT:?}; it said:\n{}",
                binary.display(),
                said.join("\n")
            )
        };
        // Chromium blocks once a full stderr pipe stops being read.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        // Full-page screenshots arrive as one large message.
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(None);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(&address, Some(config), true)
                .await
                .unwrap_or_else(|error| panic!("cannot connect to Chromium at {address}: {error}"));
        let (mut sink, stream) = socket.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let routes = Arc::new(Routes::default());
        tokio::spawn(read_loop(stream, Arc::clone(&routes)));

        let connection = Connection {
            outgoing,
            routes,
            next_id: Arc::new(AtomicU64::new(1)),
        };
        Browser {
            connection,
            child,
            _profile: profile,
        }
    }

    /// Opens `about:blank` in a new browser context (its own cookies and storage), with the
    /// Page, Runtime and Network domains enabled.
    pub async fn new_page(&self) -> Page {
        Page::open(self.connection.clone()).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            if let Some(group) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        let _ = self.child.start_kill();
        // Briefly, so that the profile directory is removed after Chromium stops writing it.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
