//! One tab in its own browser context, and what a test does with it: open a URL, wait for an
//! element, read text, fill and submit forms, evaluate JavaScript, take screenshots, emulate a
//! phone, and report the page's JavaScript errors and cookies.
//!
//! Element helpers run JavaScript in the page (`el.click()`, setting `.value`) rather than
//! synthesising input: the console is server-rendered forms, and this keeps every step one
//! round trip with a clear error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use super::{describe_exception, lock, Connection, Event, Inbox};

/// How long a navigation may take to reach its load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Page::wait_for`] polls for a selector.
const SELECTOR_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long after [`Page::submit`]'s click a navigation may take to begin before the click is
/// taken as one that does not navigate.
const NAVIGATION_GRACE: Duration = Duration::from_secs(2);

/// One tab in its own browser context (its own cookies and storage).
pub struct Page {
    connection: Connection,
    session: String,
    /// The target id, which is also the id of the page's main frame.
    target: String,
    context: String,
    inbox: Arc<Inbox>,
    page_events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
}

/// How a navigation that may have begun ended.
enum Navigation {
    NotStarted,
    WithinDocument,
    Loaded,
    Stalled,
}

/// `value` as a JavaScript string literal (JSON strings are valid JavaScript).
fn js_string(value: &str) -> String {
    Value::from(value).to_string()
}

impl Page {
    /// Creates a browser context, a tab in it, and a flattened session attached to the tab.
    pub(super) async fn open(connection: Connection) -> Page {
        let context = json!({ "disposeOnDetach": true });
        let context = connection
            .call_for(
                None,
                "Target.createBrowserContext",
                context,
                "browserContextId",
            )
            .await;
        let target = json!({ "url": "about:blank", "browserContextId": context });
        let target = connection
            .call_for(None, "Target.createTarget", target, "targetId")
            .await;
        let attach = json!({ "targetId": target, "flatten": true });
        let session = connection
            .call_for(None, "Target.attachToTarget", attach, "sessionId")
            .await;

        let (page_events, receiver) = mpsc::unbounded_channel();
        let errors = Mutex::default();
        let inbox = Arc::new(Inbox {
            page_events,
            errors,
        });
        // Registered before the domains are enabled, so that no event is missed.
        lock(&connection.routes.sessions).insert(session.clone(), Arc::clone(&inbox));
        for domain in ["Page.enable", "Runtime.enable", "Network.enable"] {
            connection.call(Some(&session), domain, json!({})).await;
        }
        let page_events = tokio::sync::Mutex::new(receiver);
        Page {
            connection,
            session,
            target,
            context,
            inbox,
            page_events,
        }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.connection
            .call(Some(&self.session), method, params)
            .await
    }

    /// Opens `url` and waits for its load event; panics naming the URL if it fails or takes
    /// longer than 15 s.
    pub async fn goto(&self, url: &str) {
        self.forget_page_events().await;
        let reply = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = reply["errorText"].as_str() {
            panic!("cannot open {url}: {error}");
        }
        // No loader means a same-document navigation: no load event follows.
        if reply.get("loaderId").is_none() {
            return;
        }
        if !matches!(
            self.follow_navigation(LOAD_TIMEOUT).await,
            Navigation::Loaded
        ) {
            panic!("{url} did not finish loading within {LOAD_TIMEOUT:?}");
        }
    }

    /// Evaluates `js` (awaiting a promise) and returns its value as JSON; `Err` carries a thrown
    /// exception's message, or the protocol error.
    pub async fn try_eval(&self, js: &str) -> Result<Value, String> {
        let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true });
        let reply = self
            .connection
            .try_call(Some(&self.session), "Runtime.evaluate", params)
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(describe_exception(details));
        }
        Ok(reply["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Evaluates `js` like [`Page::try_eval`], panicking with the exception if it throws.
    pub async fn eval(&self, js: &str) -> Value {
        self.try_eval(js)
            .await
            .unwrap_or_else(|error| panic!("evaluating `{js}` failed: {error}"))
    }

    /// Waits until `selector` matches, polling every 50 ms for up to 10 s; panics with the
    /// selector, the URL and the start of the page's text if it never does.
    pub async fn wait_for(&self, selector: &str) {
        let probe = format!("document.querySelector({}) !== null", js_string(selector));
        let deadline = Instant::now() + SELECTOR_TIMEOUT;
        loop {
            // Errors are expected mid-navigation, while the old document's context is gone.
            if self.try_eval(&probe).await == Ok(Value::Bool(true)) {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let seen = self
            .try_eval("[location.href, document.body ? document.body.innerText.slice(0, 500) : '']")
            .await
            .unwrap_or_default();
        panic!(
            "nothing matched `{selector}` within {SELECTOR_TIMEOUT:?} on {}; the page reads: {:?}",
            seen[0].as_str().unwrap_or("an unknown URL"),
            seen[1].as_str().unwrap_or_default()
        );
    }

    /// Runs `body` with `el` bound to the first match of `selector`, after waiting for one.
    async fn on_element(&self, selector: &str, body: &str) -> Value {
        self.wait_for(selector).await;
        let selector = js_string(selector);
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({selector}); \
             if (!el) throw new Error('nothing matches ' + {selector}); {body} }})()"
        ))
        .await
    }

    /// The `innerText` of the first match of `selector`, once there is one.
    pub async fn text(&self, selector: &str) -> String {
        let text = self.on_element(selector, "return el.innerText;").await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The `innerText` of every match of `selector`, in document order (none waited for).
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let js = format!(
            "Array.from(document.querySelectorAll({}), el => el.innerText)",
            js_string(selector)
        );
        serde_json::from_value(self.eval(&js).await).expect("an array of strings")
    }

    /// Whether `selector` matches now (no waiting).
    pub async fn exists(&self, selector: &str) -> bool {
        let js = format!("document.querySelector({}) !== null", js_string(selector));
        self.eval(&js).await == Value::Bool(true)
    }

    /// The page's current URL.
    pub async fn url(&self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Sets the `value` of the first match of `selector` and fires `input` and `change`, as
    /// typing would.
    pub async fn fill(&self, selector: &str, value: &str) {
        let body = format!(
            "el.value = {}; \
             el.dispatchEvent(new Event('input', {{ bubbles: true }})); \
             el.dispatchEvent(new Event('change', {{ bubbles: true }}));",
            js_string(value)
        );
        self.on_element(selector, &body).await;
    }

    /// Clicks the first match of `selector` (`el.click()`) without waiting for a navigation;
    /// use [`Page::submit`] for a click that leaves the page.
    pub async fn click(&self, selector: &str) {
        self.on_element(selector, "el.click();").await;
    }

    /// Submits a form (`requestSubmit`, so validation and submit handlers run) or clicks a
    /// button, then waits for the next page's load event if a navigation begins within 2 s.
    pub async fn submit(&self, selector: &str) {
        self.wait_for(selector).await;
        self.forget_page_events().await;
        let body = "if (el instanceof HTMLFormElement) el.requestSubmit(); else el.click();";
        self.on_element(selector, body).await;
        if let Navigation::Stalled = self.follow_navigation(NAVIGATION_GRACE).await {
            panic!(
                "submitting `{selector}` began a navigation that did not load within {LOAD_TIMEOUT:?}"
            );
        }
    }

    /// Drops page events from before the action about to be awaited.
    async fn forget_page_events(&self) {
        let mut events = self.page_events.lock().await;
        while events.try_recv().is_ok() {}
    }

    /// Follows the main frame's next navigation: it must begin within `start_within`, then
    /// commit a new document and fire that document's load event within [`LOAD_TIMEOUT`].
    async fn follow_navigation(&self, start_within: Duration) -> Navigation {
        let mut events = self.page_events.lock().await;
        let mut deadline = Instant::now() + start_within;
        let (mut started, mut committed) = (false, false);
        loop {
            let Ok(Some(event)) = timeout_at(deadline, events.recv()).await else {
                return if started {
                    Navigation::Stalled
                } else {
                    Navigation::NotStarted
                };
            };
            let frame = event.params["frameId"]
                .as_str()
                .or(event.params["frame"]["id"].as_str());
            let main_frame = frame == Some(self.target.as_str());
            match event.method.as_str() {
                "Page.frameRequestedNavigation"
                | "Page.frameStartedNavigating"
                | "Page.frameStartedLoading"
                    if main_frame => {}
                "Page.frameNavigated" if main_frame => committed = true,
                "Page.navigatedWithinDocument" if main_frame && !committed => {
                    return Navigation::WithinDocument
                }
                "Page.loadEventFired" if committed => return Navigation::Loaded,
                _ => continue,
            }
            if !started {
                started = true;
                deadline = Instant::now() + LOAD_TIMEOUT;
            }
        }
    }

    /// Captures the whole page (beyond the viewport) as a PNG named `<name>.png` in
    /// `target/console-screenshots/`, and returns its path. The directory is the sibling of
    /// `CARGO_TARGET_TMPDIR` (`target/tmp`, which cargo sets when building integration tests),
    /// else `$CARGO_TARGET_DIR/console-screenshots`, else the workspace's `target/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let (content, viewport) = (&metrics["cssContentSize"], &metrics["cssLayoutViewport"]);
        let extent = |content: &Value, viewport: &Value| {
            content
                .as_f64()
                .unwrap_or(0.0)
                .max(viewport.as_f64().unwrap_or(1.0))
                .max(1.0)
        };
        let clip = json!({
            "x": 0, "y": 0, "scale": 1,
            "width": extent(&content["width"], &viewport["clientWidth"]),
            "height": extent(&content["height"], &viewport["clientHeight"]),
        });
        let params = json!({ "format": "png", "captureBeyondViewport": true, "clip": clip });
        let shot = self.call("Page.captureScreenshot", params).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("captureScreenshot returns base64");
        let path = screenshot_dir().join(format!("{name}.png"));
        let dir = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        path
    }

    /// Emulates a `width` x `height` CSS-pixel screen; `mobile` also emulates a phone's
    /// viewport handling, which honours the page's `<meta name="viewport">`.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        let params = json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        });
        self.call("Emulation.setDeviceMetricsOverride", params)
            .await;
    }

    /// Uncaught exceptions and `console.error` calls since the page was opened.
    pub fn console_errors(&self) -> Vec<String> {
        lock(&self.inbox.errors).clone()
    }

    /// The cookies the page's current URL would send (`Network.getCookies`), as CDP reports
    /// them: `name`, `value`, `httpOnly`, `sameSite` ("Strict", "Lax", "None" or absent), ...
    pub async fn cookies(&self) -> Vec<Value> {
        let mut reply = self.call("Network.getCookies", json!({})).await;
        serde_json::from_value(reply["cookies"].take()).expect("an array of cookies")
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        lock(&self.connection.routes.sessions).remove(&self.session);
        // Closes the tab and forgets its cookies; no one needs to wait for that.
        let params = json!({ "browserContextId": self.context });
        self.connection
            .send(None, "Target.disposeBrowserContext", params);
    }
}

/// See [`Page::screenshot`].
fn screenshot_dir() -> PathBuf {
    if let Some(tmp) = option_env!("CARGO_TARGET_TMPDIR").map(Path::new) {
        if let Some(target) = tmp.parent() {
            return target.join("console-screenshots");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("console-screenshots")
}
