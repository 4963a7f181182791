//! `tollgate`: the server and the command line of the Tollgate usage ledger.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod malloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if cli.serves() {
        // Before any thread starts: it may replace this process (see `malloc`).
        malloc::fix_mmap_threshold();
    }
    run(cli)
}

#[tokio::main]
async fn run(cli: cli::Cli) -> std::process::ExitCode {
    match cli.run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
