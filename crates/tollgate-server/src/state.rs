//! What every handler shares.

use std::sync::Arc;

use tollgate_store::Store;

use crate::auth::AuthCache;
use crate::batcher::Batcher;
use crate::metrics::Metrics;
use crate::prices::Prices;
use crate::settings::Settings;

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
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        prices: Prices,
        batcher: Batcher,
        metrics: Arc<Metrics>,
    ) -> AppState {
        let auth_cache =
            AuthCache::new(std::time::Duration::from_millis(settings.auth_cache_ttl_ms));
        AppState(Arc::new(Inner {
            store,
            settings,
            prices,
            batcher,
            metrics,
            auth_cache,
        }))
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

    /// The key cache.
    pub fn auth_cache(&self) -> &AuthCache {
        &self.0.auth_cache
    }
}
