//! The price book in force: built-in prices, the configured price file, and the prices
//! imported into the database (reloaded periodically, so every instance converges on them).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tollgate_core::pricing::{
    parse_price_file, PriceBook, PriceEntry, PriceSource, BUILTIN_PRICES,
};
use tollgate_store::{Store, StoreError};

use crate::settings::PricingSettings;

/// Why the price book could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    /// The configured price file could not be read.
    #[error("price file {path}: {message}")]
    File {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The database prices could not be loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shared, swappable price book.
#[derive(Clone)]
pub struct Prices {
    fixed: Arc<Vec<PriceEntry>>,
    book: Arc<RwLock<Arc<PriceBook>>>,
}

impl Prices {
    /// Loads the built-in prices, the price file and the database prices.
    pub async fn load(
        settings: &PricingSettings,
        store: &dyn Store,
    ) -> Result<Prices, PricesError> {
        let mut fixed =
            parse_price_file(BUILTIN_PRICES, PriceSource::Builtin, None).map_err(|e| {
                PricesError::File {
                    path: "<built-in>".into(),
                    message: e.to_string(),
                }
            })?;
        if let Some(path) = &settings.file {
            let file = |message: String| PricesError::File {
                path: path.display().to_string(),
                message,
            };
            let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
            fixed.extend(
                parse_price_file(&text, PriceSource::File, None)
                    .map_err(|e| file(e.to_string()))?,
            );
        }
        let prices = Prices {
            fixed: Arc::new(fixed),
            book: Arc::new(RwLock::new(Arc::new(PriceBook::default()))),
        };
        prices.reload(store).await?;
        Ok(prices)
    }

    /// Rebuilds the book with the database's current prices.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut book = PriceBook::new(self.fixed.iter().cloned());
        book.extend(store.load_prices().await?);
        *self.book.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(book);
        Ok(())
    }

    /// The book in force now.
    pub fn current(&self) -> Arc<PriceBook> {
        self.book.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads every `every`, until the returned task is aborted.
    pub fn refresh_every(
        &self,
        store: Arc<dyn Store>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let prices = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = prices.reload(&*store).await {
                    tracing::warn!(error = %e, "could not reload prices; keeping the previous ones");
                }
            }
        })
    }
}
