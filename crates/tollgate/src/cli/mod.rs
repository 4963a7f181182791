//! The command tree. Each group lives in its own module as a struct with `run`.
//!
//! Commands write to standard output through `output::outln!` (or a `sink::Output`), never
//! `println!`, so that a closed pipe (`| head`) ends them quietly: the lint below holds them
//! to it.
#![deny(clippy::print_stdout)]

mod admin;
mod args;
mod audit;
mod authorize;
mod bench;
mod bench_authorize;
mod bench_console;
mod bench_export;
mod bench_http;
mod bench_mixed;
mod bench_mixed_books;
mod bench_receipts;
mod billing;
mod billing_tables;
mod checks;
mod cost_tables;
mod costs;
mod export;
mod health;
mod keys;
mod openapi;
mod output;
mod plans;
mod pricing;
mod prove;
mod receipt_tables;
mod receipts;
mod retention;
mod serve;
mod settings;
mod signing_key;
mod sink;
mod statement;
mod transparency;
mod trust;
mod usage;
mod verify;
mod webhooks;

use std::process::ExitCode;

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
    /// Apply pending database migrations (or, with --to, bring the schema up or down to one
    /// version) and exit.
    Migrate(admin::Migrate),
    /// Manage tenants and their plans (acts on the database directly).
    #[command(subcommand)]
    Tenants(admin::Tenants),
    /// Manage API keys (acts on the database directly).
    #[command(subcommand)]
    Keys(keys::Keys),
    /// Manage the deployment's plans (acts on the database directly; running servers apply a
    /// change from their next request).
    #[command(subcommand)]
    Plans(plans::Plans),
    /// Inspect and import prices.
    #[command(subcommand)]
    Pricing(pricing::Pricing),
    /// Log and read usage through a running server.
    #[command(subcommand)]
    Usage(usage::Usage),
    /// Balances, the ledger, credits and account settings through a running server;
    /// `audit` checks the ledger in the database directly.
    #[command(subcommand)]
    Billing(billing::Billing),
    /// What a UTC day or month cost, or the cost report, through a running server.
    #[command(subcommand)]
    Costs(costs::Costs),
    /// Ask a running server whether a call may happen, optionally holding its estimate.
    /// Exit 0 allowed, 1 refused, 2 could not ask.
    Authorize(authorize::Authorize),
    /// Generate, read and verify signed receipts through a running server.
    #[command(subcommand)]
    Receipts(receipts::Receipts),
    /// Download usage (CSV or JSON lines) or a receipt's accounting CSV to standard output or
    /// a file.
    #[command(subcommand)]
    Export(export::Export),
    /// Check the tenant log's signed checkpoints for consistency (fork detection).
    #[command(subcommand)]
    Transparency(transparency::Transparency),
    /// Archive old usage events, delete old archives, drop old message content (acts on the
    /// database and the archive directory directly).
    #[command(subcommand)]
    Retention(retention::Retention),
    /// Show or rotate the receipt signing key (acts on the key file and the database).
    #[command(subcommand)]
    SigningKey(signing_key::SigningKeyCmd),
    /// Alert webhook endpoints and their delivery logs through a running server (admin key).
    #[command(subcommand)]
    Webhooks(webhooks::Webhooks),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Ask a running server whether it can serve (no key needed). Exit 0 healthy, 1 not.
    Health(health::Health),
    /// Print the API's OpenAPI 3.1 document, generated from the code (as `/openapi.json`).
    Openapi(openapi::OpenApi),
    /// The settings reference: every setting, its environment variable, type and default.
    #[command(subcommand)]
    Settings(settings::SettingsCmd),
}

impl Cli {
    /// Whether the command runs the server.
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Runs the chosen command. An error exits with 1; the verifying commands, `billing
    /// audit` and `authorize` choose their own code (0 valid or allowed, 1 not, 2 could not
    /// check) and report their errors themselves. Standard output's reader going away ends
    /// any command quietly with 141.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.run_command().await {
            Err(e) if output::is_closed_pipe(&e) => Ok(ExitCode::from(output::CLOSED_PIPE)),
            done => done,
        }
    }

    async fn run_command(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(c) => c.run().await?,
            Command::Migrate(c) => c.run().await?,
            Command::Tenants(c) => c.run().await?,
            Command::Keys(c) => c.run().await?,
            Command::Plans(c) => c.run().await?,
            Command::Pricing(c) => c.run().await?,
            Command::Usage(c) => c.run().await?,
            Command::Billing(c) => return c.run().await,
            Command::Costs(c) => c.run().await?,
            Command::Authorize(c) => return Ok(c.run().await),
            Command::Receipts(c) => return c.run().await,
            Command::Export(c) => c.run().await?,
            Command::Transparency(c) => return Ok(c.run().await),
            Command::Retention(c) => return c.run().await,
            Command::SigningKey(c) => c.run().await?,
            Command::Bench(c) => c.run().await?,
            Command::Health(c) => return Ok(c.run().await),
            Command::Openapi(c) => c.run()?,
            Command::Settings(c) => c.run()?,
            Command::Webhooks(c) => c.run().await?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Database arguments, for subcommands that embed them.
pub type Db = DbArgs;
