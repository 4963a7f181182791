//! The test server and request helpers.

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tollgate_server::{keys, Server, Settings};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{KeyRole, Scope};

/// A running server with its own database and its bootstrap key (an operator key).
pub struct TestApp {
    pub base: String,
    pub key: String,
    pub tenant_id: String,
    pub db: TestDatabase,
    pub http: reqwest::Client,
    /// The data directory (the signing key lives there).
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The settings of a test server: an ephemeral port, no key cache, its own data directory.
fn test_settings(data_dir: &tempfile::TempDir) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        auth_cache_ttl_ms: 0,
        data_dir: data_dir.path().to_path_buf(),
        ..Settings::default()
    }
}

/// A reply: status and JSON body (Null when the body is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl TestApp {
    /// A server per engine (SQLite, and PostgreSQL when configured).
    pub async fn all() -> Vec<TestApp> {
        Self::all_with(|_| {}).await
    }

    /// As [`TestApp::all`], with settings adjusted by `tweak`.
    pub async fn all_with(tweak: impl Fn(&mut Settings)) -> Vec<TestApp> {
        let mut apps = Vec::new();
        for db in TestDatabase::all().await {
            apps.push(TestApp::start(db, &tweak).await);
        }
        apps
    }

    /// One server on SQLite, with settings adjusted by `tweak`: for behaviour that does not
    /// depend on the engine, such as how connections are handled.
    pub async fn sqlite_with(tweak: impl Fn(&mut Settings)) -> TestApp {
        TestApp::start(TestDatabase::sqlite().await, &tweak).await
    }

    /// A server per engine on a database an older Tollgate left (see
    /// [`TestDatabase::all_upgraded`]), acting with `key` (a key those rows hold) in `tenant_id`.
    pub async fn all_upgraded(version: i64, sql: &str, key: &str, tenant_id: &str) -> Vec<TestApp> {
        Self::all_upgraded_with(version, sql, key, tenant_id, |_| {}).await
    }

    /// As [`TestApp::all_upgraded`], the first start after the upgrade with settings adjusted
    /// by `tweak`.
    pub async fn all_upgraded_with(
        version: i64,
        sql: &str,
        key: &str,
        tenant_id: &str,
        tweak: impl Fn(&mut Settings),
    ) -> Vec<TestApp> {
        let mut apps = Vec::new();
        for db in TestDatabase::all_upgraded(version, sql).await {
            let data_dir = tempfile::tempdir().expect("data dir");
            let mut settings = test_settings(&data_dir);
            tweak(&mut settings);
            apps.push(TestApp::launch(db, settings, data_dir, key.into(), tenant_id.into()).await);
        }
        apps
    }

    /// A second server on this one's database, with settings of its own (adjusted by
    /// `tweak`), a store and data directory of its own, and the same key: another instance of
    /// the deployment. It must not outlive `self`, which owns the database.
    pub async fn beside(&self, tweak: impl Fn(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("data dir");
        let mut settings = test_settings(&data_dir);
        // Instances of one deployment share its signing key file.
        settings.receipts.signing_key_file = Some(self.data_dir.path().join("signing-key.pem"));
        tweak(&mut settings);
        let db = self.db.another().await;
        TestApp::launch(
            db,
            settings,
            data_dir,
            self.key.clone(),
            self.tenant_id.clone(),
        )
        .await
    }

    async fn start(db: TestDatabase, tweak: &impl Fn(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("data dir");
        let mut settings = test_settings(&data_dir);
        tweak(&mut settings);
        let boot = tollgate_server::bootstrap(&*db.store, &settings)
            .await
            .expect("bootstrap")
            .expect("empty database");
        let key = boot.secret.expect("generated key");
        TestApp::launch(db, settings, data_dir, key, boot.tenant.id).await
    }

    async fn launch(
        db: TestDatabase,
        settings: Settings,
        data_dir: tempfile::TempDir,
        key: String,
        tenant_id: String,
    ) -> TestApp {
        let listener = tollgate_server::bind(&settings).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = Server::new(settings, db.store.clone())
            .await
            .expect("server");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            key,
            tenant_id,
            db,
            http: reqwest::Client::new(),
            data_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The engine's name, for assertion messages.
    pub fn engine(&self) -> &'static str {
        self.db.engine
    }

    /// A new tenant and a key of it with `scopes`.
    pub async fn tenant_key(&self, name: &str, scopes: &[Scope]) -> (String, String) {
        let t = self.db.store.create_tenant(name).await.expect("tenant");
        let k = keys::generate(&t.id, scopes.to_vec(), None);
        self.db.store.create_key(k.record).await.expect("key");
        (t.id, k.secret)
    }

    /// A new tenant and an operator key of it, as `tollgate keys create --operator` makes one.
    pub async fn operator_key(&self, name: &str) -> (String, String) {
        let t = self.db.store.create_tenant(name).await.expect("tenant");
        let mut k = keys::generate(&t.id, Scope::ALL.to_vec(), None);
        k.record.role = KeyRole::Operator;
        self.db.store.create_key(k.record).await.expect("key");
        (t.id, k.secret)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(&self.key.clone(), path, body).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: &Value) -> Reply {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", key)
            .json(body)
            .send()
            .await
            .expect("send");
        reply(resp).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Reply {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        reply(resp).await
    }

    /// Any method, with `key` and an optional JSON body.
    pub async fn request_as(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", key);
        if let Some(b) = body {
            req = req.json(b);
        }
        reply(req.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_as(&self.key.clone(), path).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Reply {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", key)
            .send()
            .await
            .expect("send");
        reply(resp).await
    }

    /// A successful reply's body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-API-Key", &self.key)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.text().await.expect("text")
    }

    /// Stops the server and starts a new one on the same database and data directory with a
    /// store of its own, as a restarted process would.
    pub async fn restart(&mut self, tweak: impl Fn(&mut Settings)) {
        self.stop().await;
        let opts = tollgate_store::ConnectOptions::new(self.db.url.clone());
        self.db.store = tollgate_store::open(&opts)
            .await
            .expect("reopen the database");
        let mut settings = test_settings(&self.data_dir);
        tweak(&mut settings);
        let listener = tollgate_server::bind(&settings).await.expect("bind");
        self.base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = Server::new(settings, self.db.store.clone())
            .await
            .expect("server");
        let (stop, stopped) = oneshot::channel::<()>();
        self.task = Some(tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        })));
        self.stop = Some(stop);
    }

    /// Tells the server to shut down gracefully, without waiting for it ([`TestApp::stop`]
    /// waits).
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Stops the server gracefully and waits for it; the database stays.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server run");
        }
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A minimal llmring usage log body.
pub fn usage(model: &str, input: i64, output: i64) -> Value {
    serde_json::json!({"provider": "openai", "model": model, "input_tokens": input, "output_tokens": output})
}

/// Asserts the error shape: status, stable code, a message, and llmring's `detail`.
#[track_caller]
pub fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    let message = r.body["error"]["message"].as_str().expect("message");
    assert!(!message.is_empty());
    assert_eq!(r.body["detail"].as_str(), Some(message));
}

/// Credits `amount` (a decimal string, USD) to `user`'s account straight through the store,
/// creating the account with a $10 daily and $100 monthly limit.
pub async fn top_up(app: &TestApp, user: &str, amount: &str) {
    use tollgate_core::{Currency, Nanos};
    use tollgate_store::{AccountDefaults, LedgerKind, NewCredit};
    let a = Nanos::parse_exact(amount).expect("amount");
    let defaults = AccountDefaults {
        is_active: true,
        billing_enabled: true,
        limit_currency: Currency::usd(),
        daily_limit: Some(Nanos::parse_exact("10").expect("limit")),
        monthly_limit: Some(Nanos::parse_exact("100").expect("limit")),
    };
    let credit = NewCredit {
        tenant_id: app.tenant_id.clone(),
        user_id: user.into(),
        kind: LedgerKind::Topup,
        amount: a,
        delta: a,
        currency: Currency::usd(),
        description: None,
        payment_provider: None,
        payment_id: None,
        log_id: None,
        metadata: serde_json::Map::new(),
        idempotency_key: None,
        request_hash: String::new(),
        balance_low: None,
    };
    app.db
        .store
        .post_credit(&credit, &defaults)
        .await
        .expect("top up");
}
