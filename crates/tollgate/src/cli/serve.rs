//! `tollgate serve`.

use std::io::IsTerminal;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use tollgate_server::settings::LogFormat;
use tollgate_server::{Server, Settings};

use super::Db;
use crate::config;

/// Runs the server until SIGINT or SIGTERM.
#[derive(Debug, Args)]
pub struct Serve {
    #[command(flatten)]
    db: Db,
    /// Address to listen on (default 127.0.0.1:8000).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// `text` or `json` logs.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Create a new signing key if the key file is missing, even though the database already
    /// has signing keys (another instance's, or a lost file's); sets
    /// `receipts.create_signing_key` for this start.
    #[arg(long)]
    new_signing_key: bool,
}

impl Serve {
    // A server is not a pipeline stage: if the one-time key cannot be shown it should fail
    // loudly, not end as quietly as `tollgate openapi | head` does.
    #[allow(clippy::print_stdout)]
    pub async fn run(self) -> anyhow::Result<()> {
        let mut extra = Vec::new();
        if let Some(listen) = self.listen {
            extra.push(("listen", listen.to_string().into()));
        }
        if let Some(format) = &self.log_format {
            extra.push(("log_format", format.as_str().into()));
        }
        if self.new_signing_key {
            extra.push(("receipts.create_signing_key", true.into()));
        }
        let settings = config::load(&self.db, &extra)?;
        init_logging(settings.log_format);
        log_start(&settings);
        // Every connection holds a descriptor; the soft limit's default is often too low.
        match tollgate_server::raise_descriptor_limit() {
            Ok(limit) => tracing::debug!(?limit, "file descriptor limit"),
            Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
        }

        let store = config::create_store(&settings).await?;
        let boot = tollgate_server::bootstrap(&*store, &settings).await?;
        if boot.is_none() && settings.bootstrap_api_key.is_some() {
            tracing::warn!(
                "bootstrap_api_key is set but the database already has tenants; it was not used"
            );
        }
        if let Some(boot) = boot {
            match &boot.secret {
                Some(secret) => println!(
                    "Created tenant '{}' ({}) and an operator key (deployment-wide, every scope). It is shown only once:\n\n    {secret}\n",
                    boot.tenant.name, boot.tenant.id
                ),
                None => println!(
                    "Created tenant '{}' ({}) with the key from TOLLGATE_BOOTSTRAP_API_KEY ({}).",
                    boot.tenant.name, boot.tenant.id, boot.key_id
                ),
            }
        }
        let listener = tollgate_server::bind(&settings)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let key_file = settings.signing_key_path();
        let server = Server::new(settings, store).await?;
        let key_id = server.signing_key_id().await?;
        tracing::info!("signing key {key_id} ({})", key_file.display());
        tracing::info!("listening on http://{addr}");
        println!("Tollgate listening on http://{addr}");
        server.run(listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A few lines an operator reads at start: the version, the database, the data directory and
/// each setting changed from its default (secrets redacted). The address and the signing key
/// follow once they are known.
fn log_start(settings: &Settings) {
    // Plain sentences: the values are in the messages, so no field repeats them.
    tracing::info!("Tollgate {} starting", env!("CARGO_PKG_VERSION"));
    let url = settings.database_url();
    match tollgate_store::sqlite_path(&url) {
        Some(path) => tracing::info!("database: SQLite at {}", path.display()),
        None => tracing::info!("database: PostgreSQL at {}", tollgate_store::redact(&url)),
    }
    tracing::info!("data directory: {}", settings.data_dir.display());
    for (key, value) in tollgate_server::settings::changed_settings(settings) {
        tracing::info!("setting {key} = {value}");
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour is for a person at a terminal; a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
