//! `tollgate health`: asks a running server whether it can serve, for container health checks
//! and scripts. Exit 0 healthy, 1 otherwise (unreachable, or its database does not answer).

use std::process::ExitCode;

use clap::Args;
use tollgate_api::operate::Engine;
use tollgate_client::Client;

use super::output::{json, outln};

/// Arguments of `health`: only where the server is (no key is needed).
#[derive(Debug, Args)]
pub struct Health {
    /// Server URL.
    #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8000")]
    server: String,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
}

impl Health {
    /// Asks and prints the answer; exit 0 healthy, 1 not.
    pub async fn run(self) -> ExitCode {
        let answer = match Client::anonymous(&self.server) {
            Ok(client) => client.health().await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(health) if self.json => {
                outln!("{}", json(&health));
                ExitCode::SUCCESS
            }
            Ok(health) => {
                let engine = match health.engine {
                    Engine::Sqlite => "SQLite",
                    Engine::Postgres => "PostgreSQL",
                };
                outln!(
                    "healthy: {} {} at {}, its {engine} database answers",
                    health.name,
                    health.version.as_deref().unwrap_or_default(),
                    self.server,
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("unhealthy: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
