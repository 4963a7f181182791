//! Server settings. The binary layers them (defaults, `tollgate.toml`, `TOLLGATE_*` env,
//! flags); this crate only defines them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod auth;
mod billing;
mod changes;
mod console;
mod decimal;
mod http;
mod mcp;
mod notifications;
mod payments;
mod reference;
mod secret;
mod stream;

pub use auth::{AuthSettings, JwtAlgorithm, JwtSettings};
pub use billing::{AccountSettings, BillingSettings, PlanSettings};
pub use changes::changed_settings;
pub use console::ConsoleSettings;
pub use decimal::DecimalText;
pub use http::HttpSettings;
pub use mcp::McpSettings;
pub use notifications::{
    AlertSettings, NotificationSettings, SmtpSettings, SmtpTls, UnusualSpendSettings,
};
pub use payments::{FondySettings, PaddleSettings, PaymentSettings, StripeSettings};
pub use reference::reference_markdown;
pub use stream::BalanceStreamSettings;

/// Everything `tollgate serve` can be told.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    #[schema(value_type = String)]
    pub listen: SocketAddr,
    /// Directory for the SQLite database and other local state.
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default: SQLite in `data_dir`.
    #[serde(serialize_with = "crate::settings::secret::redacted_url")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub database_url: Option<SecretString>,
    /// Pool size (PostgreSQL connections, SQLite readers).
    pub database_max_connections: u32,
    /// SQLite durability: `full` fsyncs every commit (default), `normal` only at checkpoints.
    pub sqlite_synchronous: SqliteSync,
    /// The first key to create on an empty database, instead of a random one.
    #[serde(serialize_with = "crate::settings::secret::redacted")]
    #[schema(value_type = Option<String>, format = Password, default = crate::settings::secret::unset)]
    pub bootstrap_api_key: Option<SecretString>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// What is kept of conversation message content: `full`, `metadata` (hash only), `none`.
    pub message_logging_level: LoggingLevel,
    /// The deployment's own dimensions of calls (`feature`, `team`, ...), besides `kb_id`,
    /// which every deployment has: usage and tool events may name a value for each, and
    /// costs group and filter by them. Lowercase identifiers, at most 16.
    pub dimensions: Vec<String>,
    /// The web console under `/ui/`.
    pub console: ConsoleSettings,
    /// How long an authenticated key is remembered, in milliseconds; also the longest a
    /// revoked key may still be accepted by another instance. 0 disables the cache.
    pub auth_cache_ttl_ms: u64,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// The ingestion path.
    pub ingest: IngestSettings,
    /// Pricing.
    pub pricing: PricingSettings,
    /// Receipts and the signed tenant logs.
    pub receipts: ReceiptSettings,
    /// Plans, billing accounts, authorization and holds.
    pub billing: BillingSettings,
    /// How end users (not API keys) authenticate.
    pub auth: AuthSettings,
    /// How long usage events, archives and message content are kept.
    pub retention: RetentionSettings,
    /// Alert webhooks: delivery and thresholds.
    pub webhooks: WebhookSettings,
    /// Connections: timeouts and the connection cap.
    pub http: HttpSettings,
    /// How the MCP registry reaches tenants' MCP servers.
    pub mcp: McpSettings,
    /// Payment providers whose webhooks credit accounts.
    pub payments: PaymentSettings,
    /// Alerts by email (the SMTP server).
    pub notifications: NotificationSettings,
    /// Alert rules beyond the billing thresholds (unusual spend).
    pub alerts: AlertSettings,
}

/// Retention settings. An age of 0 turns that part off.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Usage events move to archive files once their whole UTC month is older than this.
    pub archive_after_days: u32,
    /// Archive files are deleted once their month is older than this.
    pub delete_after_days: u32,
    /// Conversation messages older than this lose their content (hash and counts stay).
    pub message_content_days: u32,
    /// Where archive files go; default `<data_dir>/archive`. Instances sharing a database
    /// must share it.
    #[schema(value_type = Option<String>)]
    pub archive_dir: Option<PathBuf>,
    /// Archive a month even when some of its events no receipt certifies yet. Receipts read
    /// live events only, so later receipts leave those archived events out; off (the
    /// default), such a month stays live until a receipt certifies it.
    pub archive_uncertified: bool,
    /// How often the server runs retention, in seconds (0: never; `tollgate retention run`
    /// runs it by hand).
    pub run_every_seconds: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            archive_after_days: 90,
            delete_after_days: 365,
            message_content_days: 30,
            archive_dir: None,
            archive_uncertified: false,
            run_every_seconds: 0,
        }
    }
}

/// Alert webhook settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// How often the delivery worker looks for alerts and due deliveries, in milliseconds.
    pub poll_ms: u64,
    /// How long one delivery attempt may take, in milliseconds.
    pub timeout_ms: u64,
    /// The wait before the first retry, in milliseconds; each retry waits twice the last.
    pub retry_base_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    pub retry_max_ms: u64,
    /// How long after an alert its deliveries are retried before they are marked failed, in
    /// seconds. A delivery whose first attempt fails is always retried once, even past the
    /// horizon (after downtime longer than it, say).
    pub retry_horizon_seconds: u64,
    /// How often tenants' monthly request counts are checked against their plans, in seconds
    /// (0: every round).
    pub quota_scan_seconds: u64,
    /// `balance.low` fires when a charge takes a balance below this amount (in the
    /// balance's currency); absent or "": never.
    pub balance_low: Option<DecimalText>,
    /// Whether endpoints may be on the server's own networks: loopback, private (10/8,
    /// 172.16/12, 192.168/16), link-local (169.254/16, fe80::/10), shared (100.64/10),
    /// unique-local (fc00::/7) and unspecified addresses, and `localhost`. Off: such endpoints
    /// are refused when created, and a delivery to a name resolving only to them fails.
    pub allow_private_networks: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            poll_ms: 1000,
            timeout_ms: 10_000,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            retry_horizon_seconds: 86_400,
            quota_scan_seconds: 60,
            balance_low: None,
            allow_private_networks: false,
        }
    }
}

/// Ingestion settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Most events one commit gathers from concurrent requests.
    pub max_commit_events: usize,
    /// Requests that may wait for a commit before new ones are refused with 503.
    pub queue_capacity: usize,
    /// Most events in one `POST /api/v1/log/batch`.
    pub max_batch_events: usize,
    /// How long, in microseconds, a commit may wait after its first request for others to
    /// join it (0: commit whatever is queued at once).
    pub linger_us: u64,
    /// Most events parsed and waiting for a commit at once; further requests wait. This
    /// bounds the server's memory under load.
    pub max_pending_events: usize,
    /// Most bytes of ingestion request bodies (`POST /api/v1/log` and `/api/v1/log/batch`)
    /// over 64 KiB read and not yet parsed at once; further requests wait before their bodies
    /// are read, by their `Content-Length` (`max_body_bytes` when they send none). This bounds
    /// the server's memory when many large batches arrive at once. Bodies of 64 KiB or less
    /// are read at once. The wait counts towards `http.body_timeout_ms`.
    pub max_pending_body_bytes: usize,
}

/// Pricing settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PricingSettings {
    /// A price file (TOML) that overrides the built-in prices.
    #[schema(value_type = Option<String>)]
    pub file: Option<PathBuf>,
    /// When a client-sent `cost` is used.
    pub client_cost: ClientCostPolicy,
    /// How often prices imported into the database are reloaded, in seconds.
    pub refresh_seconds: u64,
}

/// Receipt settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiptSettings {
    /// The Ed25519 signing key, a PKCS#8 PEM file; by default `signing-key.pem` in the data
    /// directory, created at first start.
    #[schema(value_type = Option<String>)]
    pub signing_key_file: Option<PathBuf>,
    /// Create a new signing key when the key file is missing although the database already
    /// has signing keys (another instance's, or those of a lost key file). Off (the default),
    /// such a start is refused: instances sharing a database share one key file, so that
    /// every receipt is signed by the deployment's one current key. A new database always
    /// gets its key. `tollgate serve --new-signing-key` sets this for one start.
    pub create_signing_key: bool,
    /// How many log and conversation ids a receipt's `batch_summary` lists inline; beyond
    /// it the summary says the list is partial (the Merkle root still fixes the whole set).
    pub inline_ids: usize,
    /// Names each tenant's log in its checkpoints: the origin is `<log_origin>/<tenant id>`
    /// (ideally a host name of the deployment, without a scheme).
    pub log_origin: String,
    /// How often every tenant log that grew gets a signed checkpoint, in seconds (0: only on
    /// demand and with receipts). Each run also brings the log's stored tiles up to date.
    pub checkpoint_seconds: u64,
}

impl Default for ReceiptSettings {
    fn default() -> Self {
        ReceiptSettings {
            signing_key_file: None,
            create_signing_key: false,
            inline_ids: 1000,
            log_origin: "tollgate".into(),
            checkpoint_seconds: 300,
        }
    }
}

impl Settings {
    /// The configured dimensions, checked: lowercase identifiers, not `kb_id` (always
    /// there), each once, at most 16.
    pub fn checked_dimensions(&self) -> Result<Vec<String>, String> {
        if self.dimensions.len() > 16 {
            return Err(format!(
                "dimensions: at most 16 are allowed, {} are set",
                self.dimensions.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in &self.dimensions {
            tollgate_core::event::dimension_name(name).map_err(|e| format!("dimensions: {e}"))?;
            if name == tollgate_core::event::KB_ID {
                return Err("dimensions: kb_id is always a dimension; leave it out".into());
            }
            if !seen.insert(name) {
                return Err(format!("dimensions: '{name}' is named twice"));
            }
        }
        Ok(self.dimensions.clone())
    }

    /// The retention policy the settings describe; an error when deleting would come before
    /// archiving.
    pub fn retention_policy(&self) -> Result<tollgate_store::RetentionPolicy, String> {
        let r = &self.retention;
        if r.delete_after_days > 0 && r.delete_after_days < r.archive_after_days {
            return Err(format!(
                "retention.delete_after_days ({}) must be at least retention.archive_after_days ({})",
                r.delete_after_days, r.archive_after_days
            ));
        }
        Ok(tollgate_store::RetentionPolicy {
            archive_after_days: r.archive_after_days,
            delete_after_days: r.delete_after_days,
            message_content_days: r.message_content_days,
            archive_dir: r
                .archive_dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("archive")),
            archive_uncertified: r.archive_uncertified,
        })
    }

    /// Where the signing key lives.
    pub fn signing_key_path(&self) -> PathBuf {
        self.receipts
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-key.pem"))
    }
}

/// When a client-sent cost counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientCostPolicy {
    /// Only for models the price book does not know (default).
    WhenUnpriced,
    /// Never: unknown models are recorded unpriced.
    Never,
}

/// How much of a message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoggingLevel {
    /// Content and its hash.
    Full,
    /// The hash only.
    Metadata,
    /// Neither.
    None,
}

/// SQLite `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSync {
    /// fsync every commit.
    Full,
    /// fsync at checkpoints.
    Normal,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./tollgate-data"),
            database_url: None,
            database_max_connections: 16,
            sqlite_synchronous: SqliteSync::Full,
            bootstrap_api_key: None,
            max_body_bytes: 1024 * 1024,
            dimensions: Vec::new(),
            console: ConsoleSettings::default(),
            message_logging_level: LoggingLevel::Full,
            auth_cache_ttl_ms: 2000,
            log_format: LogFormat::Text,
            ingest: IngestSettings::default(),
            pricing: PricingSettings::default(),
            receipts: ReceiptSettings::default(),
            billing: BillingSettings::default(),
            auth: AuthSettings::default(),
            retention: RetentionSettings::default(),
            webhooks: WebhookSettings::default(),
            http: HttpSettings::default(),
            mcp: McpSettings::default(),
            payments: PaymentSettings::default(),
            notifications: NotificationSettings::default(),
            alerts: AlertSettings::default(),
        }
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            max_commit_events: 4096,
            queue_capacity: 8192,
            max_batch_events: 1000,
            linger_us: 0,
            max_pending_events: 4096,
            max_pending_body_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Default for PricingSettings {
    fn default() -> Self {
        PricingSettings {
            file: None,
            client_cost: ClientCostPolicy::WhenUnpriced,
            refresh_seconds: 60,
        }
    }
}

impl Settings {
    /// The database URL in force: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}", self.data_dir.join("tollgate.db").display()),
        }
    }
}

impl fmt::Debug for Settings {
    /// Secrets are redacted: the database URL's password, the bootstrap key and the JWT
    /// secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &tollgate_store::redact(&self.database_url()),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field(
                "bootstrap_api_key",
                &self.bootstrap_api_key.as_ref().map(|_| "***"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("message_logging_level", &self.message_logging_level)
            .field("dimensions", &self.dimensions)
            .field("auth_cache_ttl_ms", &self.auth_cache_ttl_ms)
            .field("log_format", &self.log_format)
            .field("ingest", &self.ingest)
            .field("pricing", &self.pricing)
            .field("receipts", &self.receipts)
            .field("billing", &self.billing)
            .field("auth", &self.auth)
            .field("retention", &self.retention)
            .field("webhooks", &self.webhooks)
            .field("http", &self.http)
            .field("mcp", &self.mcp)
            .field("payments", &self.payments)
            .field("notifications", &self.notifications)
            .field("alerts", &self.alerts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = Settings {
            database_url: Some(SecretString::from("postgres://u:hunter2@h/db")),
            bootstrap_api_key: Some(SecretString::from("tg_supersecret")),
            auth: AuthSettings {
                jwt: Some(JwtSettings {
                    issuer: "https://id.example".into(),
                    audience: "tollgate".into(),
                    algorithm: JwtAlgorithm::Hs256,
                    secret: Some(SecretString::from("jwt-hmac-topsecret")),
                    public_key_file: None,
                    tenant_claim: auth::default_tenant_claim(),
                    leeway_seconds: auth::default_leeway_seconds(),
                }),
            },
            notifications: NotificationSettings {
                smtp: Some(SmtpSettings {
                    host: "smtp.example.com".into(),
                    port: None,
                    tls: SmtpTls::Starttls,
                    username: Some("mailer".into()),
                    password: Some(SecretString::from("smtp-pa55word")),
                    from: "alerts@example.com".into(),
                    ehlo_name: None,
                    timeout_ms: 1000,
                }),
            },
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("hunter2")
                && !text.contains("supersecret")
                && !text.contains("topsecret")
                && !text.contains("pa55word"),
            "{text}"
        );
        assert!(text.contains("https://id.example"), "{text}");
        assert!(text.contains("smtp.example.com"), "{text}");
        assert!(text.contains("postgres://u:***@h/db"));
    }
}
