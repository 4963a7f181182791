//! What every handler shares.

use std::sync::Arc;

use tollgate_store::Store;

use crate::batcher::Batcher;
use crate::billing::{Authorizer, Billing};
use crate::jwt::JwtAuth;
use crate::keys::AuthCache;
use crate::live::Hub;
use crate::metrics::Metrics;
use crate::prices::Prices;
use crate::settings::Settings;
use crate::signer::Signer;

/// The application state, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    settings: Settings,
    prices: Prices,
    batcher: Batcher,
    metrics: Arc<Metrics>,
    auth_cache: AuthCache,
    pending: tokio::sync::Semaphore,
    bodies: Arc<tokio::sync::Semaphore>,
    signer: Arc<Signer>,
    billing: Arc<Billing>,
    authorizer: Authorizer,
    jwt: Option<JwtAuth>,
    proxies: crate::client_ip::Proxies,
    live: Hub,
}

impl AppState {
    /// Assembles the state.
    // Each part is built, and may fail, in `Server::new`; this only puts them together.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        prices: Prices,
        batcher: Batcher,
        metrics: Arc<Metrics>,
        signer: Arc<Signer>,
        (billing, authorizer): (Arc<Billing>, Authorizer),
        jwt: Option<JwtAuth>,
        proxies: crate::client_ip::Proxies,
    ) -> AppState {
        let auth_cache =
            AuthCache::new(std::time::Duration::from_millis(settings.auth_cache_ttl_ms));
        let pending = tokio::sync::Semaphore::new(settings.ingest.max_pending_events.max(1));
        let bodies = Arc::new(tokio::sync::Semaphore::new(kib(settings
            .ingest
            .max_pending_body_bytes)));
        let live = Hub::new(settings.billing.stream.clone());
        AppState(Arc::new(Inner {
            store,
            settings,
            prices,
            batcher,
            metrics,
            auth_cache,
            pending,
            bodies,
            signer,
            billing,
            authorizer,
            jwt,
            proxies,
            live,
        }))
    }

    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub fn proxies(&self) -> &crate::client_ip::Proxies {
        &self.0.proxies
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.0.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The price book.
    pub fn prices(&self) -> &Prices {
        &self.0.prices
    }

    /// The group-commit writer.
    pub fn batcher(&self) -> &Batcher {
        &self.0.batcher
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Waits until `events` more events may be parsed and queued (see
    /// `IngestSettings::max_pending_events`); the permit is returned when dropped.
    pub async fn pending(
        &self,
        events: usize,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, crate::ApiError> {
        let total = self.0.settings.ingest.max_pending_events.max(1);
        let n = u32::try_from(events.clamp(1, total)).unwrap_or(u32::MAX);
        self.0
            .pending
            .acquire_many(n)
            .await
            .map_err(|_| crate::ApiError::internal("the ingestion gate closed"))
    }

    /// Waits until a body of `declared` bytes (`max_body_bytes` when the request declares no
    /// length) may be read (see `IngestSettings::max_pending_body_bytes`); the permit is
    /// returned when dropped. A body larger than the whole gate waits for all of it. A body
    /// declaring at most [`SMALL_BODY`] bytes needs no permit (None).
    pub async fn body_permit(
        &self,
        declared: Option<usize>,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, crate::ApiError> {
        let settings = &self.0.settings;
        if declared.is_some_and(|n| n <= SMALL_BODY) {
            return Ok(None);
        }
        let bytes = declared
            .unwrap_or(settings.max_body_bytes)
            .min(settings.max_body_bytes);
        let n = kib(bytes).min(kib(settings.ingest.max_pending_body_bytes));
        Arc::clone(&self.0.bodies)
            .acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX))
            .await
            .map(Some)
            .map_err(|_| crate::ApiError::internal("the ingestion body gate closed"))
    }

    /// Plans and account defaults.
    pub fn billing(&self) -> &Billing {
        &self.0.billing
    }

    /// The authorization queue.
    pub fn authorizer(&self) -> &Authorizer {
        &self.0.authorizer
    }

    /// The receipt signer.
    pub fn signer(&self) -> &Signer {
        &self.0.signer
    }

    /// The end-user token checker, when end-user tokens are configured.
    pub fn jwt(&self) -> Option<&JwtAuth> {
        self.0.jwt.as_ref()
    }

    /// The live balance streams.
    pub(crate) fn live(&self) -> &Hub {
        &self.0.live
    }

    /// The key cache.
    pub fn auth_cache(&self) -> &AuthCache {
        &self.0.auth_cache
    }
}

/// Bodies of at most this many bytes (single calls, small batches) are read without waiting
/// for the body gate: their memory is bounded by the connections, and a client trickling one
/// holds back nobody else.
pub(crate) const SMALL_BODY: usize = 64 * 1024;

/// Body bytes as permits of the body gate: whole KiB, rounded up, at least one, and few
/// enough for a semaphore.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024).clamp(1, u32::MAX as usize)
}
