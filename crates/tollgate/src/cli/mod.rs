//! The command tree. Each group lives in its own module as a struct with `run`.

mod admin;
mod bench;
mod output;
mod pricing;
mod serve;
mod usage;

use clap::{Parser, Subcommand};

use crate::config::DbArgs;

/// Tollgate: a self-hosted LLM usage ledger.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (SQLite in ./tollgate-data unless configured otherwise).
    Serve(serve::Serve),
    /// Apply pending database migrations and exit.
    Migrate(admin::Migrate),
    /// Manage tenants (acts on the database directly).
    #[command(subcommand)]
    Tenants(admin::Tenants),
    /// Manage API keys (acts on the database directly).
    #[command(subcommand)]
    Keys(admin::Keys),
    /// Inspect and import prices.
    #[command(subcommand)]
    Pricing(pricing::Pricing),
    /// Log and read usage through a running server.
    #[command(subcommand)]
    Usage(usage::Usage),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::Bench),
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(c) => c.run().await,
            Command::Migrate(c) => c.run().await,
            Command::Tenants(c) => c.run().await,
            Command::Keys(c) => c.run().await,
            Command::Pricing(c) => c.run().await,
            Command::Usage(c) => c.run().await,
            Command::Bench(c) => c.run().await,
        }
    }
}

/// Database arguments, for subcommands that embed them.
pub type Db = DbArgs;
