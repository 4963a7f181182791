//! Tollgate's HTTP server: the llmring-compatible routes and Tollgate's own, authentication,
//! the group-commit ingestion path and metrics.
//!
//! Handlers validate and price input, then call the store; they never build SQL and never
//! pick status codes themselves ([`ApiError`] does).
#![forbid(unsafe_code)]

mod auth;
mod batcher;
pub mod billing;
pub mod client_ip;
mod conn_metrics;
mod console;
mod error;
mod extract;
mod ingest;
mod input;
mod jwt;
pub mod keys;
mod live;
mod mcp;
mod metrics;
pub mod notify;
pub mod openapi;
mod prices;
mod receipts;
mod registry;
mod reprice;
mod retention;
mod routes;
mod serve;
pub mod settings;
pub mod signer;
mod state;
mod unknown_field;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tollgate_store::{KeyRole, Scope, Store, StoreError};

pub use error::ApiError;
pub use prices::{Prices, PricesError};
pub use serve::limits::raise_descriptor_limit;
pub use settings::Settings;

/// The OpenAPI document of the HTTP API, generated from the registration that serves the
/// routes (see [`openapi`]).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes::document()
}

use crate::batcher::Batcher;
use crate::billing::{Authorizer, Billing};
use crate::metrics::Metrics;
use crate::signer::{Signer, SignerError};
use crate::state::AppState;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The prices could not be loaded.
    #[error(transparent)]
    Prices(#[from] PricesError),
    /// The signing key could not be loaded or created.
    // Not a `source`: the message already holds the cause, which would otherwise be told
    // twice by an error report that follows the chain.
    #[error("signing key: {0}")]
    Signing(SignerError),
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
}

impl From<SignerError> for StartError {
    fn from(error: SignerError) -> Self {
        StartError::Signing(error)
    }
}

/// A configured server, not yet listening.
pub struct Server {
    state: AppState,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    writer: JoinHandle<()>,
    refresher: JoinHandle<()>,
    checkpointer: Option<JoinHandle<()>>,
    expirer: JoinHandle<()>,
    retainer: Option<JoinHandle<()>>,
    deliverer: JoinHandle<()>,
    mailer: Option<JoinHandle<()>>,
}

impl Server {
    /// Loads prices and starts the writer task.
    pub async fn new(settings: Settings, store: Arc<dyn Store>) -> Result<Server, StartError> {
        if settings.receipts.inline_ids > 100_000 {
            return Err(StartError::Config(
                "receipts.inline_ids must be at most 100000 (the full set is always served by the receipt's logs route)".into(),
            ));
        }
        let mut delivery =
            webhooks::Policy::from_settings(&settings.webhooks).map_err(StartError::Config)?;
        delivery.unusual =
            notify::unusual_rule(&settings.alerts.unusual_spend).map_err(StartError::Config)?;
        let mailer = match &settings.notifications.smtp {
            None => None,
            Some(s) => Some(notify::smtp::Mailer::from_settings(s).map_err(StartError::Config)?),
        };
        let mut billing = Billing::from_settings(&settings.billing).map_err(StartError::Config)?;
        billing.balance_low = delivery.balance_low;
        billing::seed_plans(&*store, &billing)
            .await
            .map_err(StartError::Config)?;
        let billing = Arc::new(billing);
        let retention = settings.retention_policy().map_err(StartError::Config)?;
        settings.checked_dimensions().map_err(StartError::Config)?;
        let proxies = client_ip::Proxies::parse(&settings.http.trusted_proxies)
            .map_err(StartError::Config)?;
        let jwt = match &settings.auth.jwt {
            None => None,
            Some(s) => Some(
                jwt::JwtAuth::from_settings(s, Duration::from_millis(settings.auth_cache_ttl_ms))
                    .map_err(StartError::Config)?,
            ),
        };
        let signer = Arc::new(
            Signer::open(
                settings.signing_key_path(),
                store.clone(),
                settings.receipts.create_signing_key,
            )
            .await?,
        );
        let prices = Prices::load(&settings.pricing, &*store).await?;
        let refresher = prices.refresh_every(
            store.clone(),
            Duration::from_secs(settings.pricing.refresh_seconds),
        );
        let metrics = Arc::new(Metrics::default());
        let (batcher, writer) = Batcher::start(
            store.clone(),
            metrics.clone(),
            settings.ingest.max_commit_events,
            settings.ingest.queue_capacity,
            Duration::from_micros(settings.ingest.linger_us),
            settings.database_max_connections,
        );
        let every = settings.receipts.checkpoint_seconds;
        let retainer = retention::run_every(
            store.clone(),
            metrics.clone(),
            retention,
            Duration::from_secs(settings.retention.run_every_seconds),
        );
        let (authorizer, _) = Authorizer::start(
            store.clone(),
            billing.clone(),
            settings.billing.max_authorize_batch,
        );
        let expirer = billing::expire_every(
            store.clone(),
            metrics.clone(),
            Duration::from_secs(settings.billing.expire_holds_seconds),
        );
        let mailer = mailer.map(|m| notify::start(store.clone(), m, delivery.clone()));
        let deliverer = webhooks::start(store.clone(), delivery, metrics.clone())
            .map_err(StartError::Config)?;
        let state = AppState::new(
            store.clone(),
            settings,
            prices,
            batcher,
            metrics.clone(),
            signer,
            (billing, authorizer),
            jwt,
            proxies,
        );
        let checkpointer = receipts::checkpoint_every(state.clone(), Duration::from_secs(every));
        Ok(Server {
            state,
            store,
            metrics,
            writer,
            refresher,
            checkpointer,
            expirer,
            retainer,
            deliverer,
            mailer,
        })
    }

    /// The id of the key receipts are signed with (for the start-up log).
    pub async fn signing_key_id(&self) -> Result<String, SignerError> {
        Ok(self.state.signer().current().await?.1)
    }

    /// The router, for tests that call it without a socket.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting, lets requests
    /// in flight finish (a request head still arriving gets one second to become one; every
    /// connection is closed by `http.drain_timeout_ms`), waits for their writes to commit
    /// and closes the database. The `http` settings bound each connection's head, silence,
    /// body and stalled writes, and how many are open at once.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            state,
            store,
            metrics,
            writer,
            refresher,
            checkpointer,
            expirer,
            retainer,
            deliverer,
            mailer,
        } = self;
        let limits = serve::Limits::new(
            &state.settings().http,
            state.settings().database_max_connections,
        );
        let notices = state.live().start(&*store);
        // Open balance streams end as shutdown begins, so that they do not hold it up.
        let live = state.live().clone();
        let shutdown = async move {
            shutdown.await;
            live.close();
        };
        let router = routes::router(state);
        serve::serve(listener, router, limits, metrics, shutdown).await;
        notices.abort();
        refresher.abort();
        expirer.abort();
        // An attempt cut off here is retried when its lease ends.
        deliverer.abort();
        if let Some(m) = mailer {
            m.abort();
        }
        if let Some(c) = checkpointer {
            c.abort();
        }
        if let Some(r) = retainer {
            r.abort();
        }
        // The router (and every handle on the writer) is gone: the writer drains and ends.
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "the writer task failed");
        }
        store.close().await;
        Ok(())
    }
}

/// The key created when a server starts on an empty database.
pub struct Bootstrapped {
    /// The tenant created (`default`).
    pub tenant: tollgate_store::Tenant,
    /// The key's id.
    pub key_id: String,
    /// The secret, when Tollgate generated it (None when it came from the settings).
    pub secret: Option<String>,
}

/// On an empty database, creates the tenant `default` and one operator key (deployment-wide,
/// every scope): the configured `bootstrap_api_key`, or a random one returned so it can be
/// shown once.
pub async fn bootstrap(
    store: &dyn Store,
    settings: &Settings,
) -> Result<Option<Bootstrapped>, StoreError> {
    let (mut record, secret) = match &settings.bootstrap_api_key {
        Some(chosen) => {
            let chosen = chosen.expose_secret();
            keys::check_shape(chosen).map_err(|why| {
                StoreError::Conflict(format!("bootstrap_api_key is not a usable key ({why}): at most 255 characters, no spaces"))
            })?;
            (
                keys::record_for(chosen, "", Scope::ALL.to_vec(), Some("bootstrap".into())),
                None,
            )
        }
        None => {
            let g = keys::generate("", Scope::ALL.to_vec(), Some("bootstrap".into()));
            (g.record, Some(g.secret))
        }
    };
    record.role = KeyRole::Operator;
    let key_id = record.id.clone();
    Ok(store
        .bootstrap("default", record)
        .await?
        .map(|(tenant, _)| Bootstrapped {
            tenant,
            key_id,
            secret,
        }))
}

/// Binds `settings.listen`.
pub async fn bind(settings: &Settings) -> std::io::Result<TcpListener> {
    TcpListener::bind(settings.listen).await
}
