//! `tollgate settings`: the settings reference, generated from the settings code (no server
//! or database needed). The repository keeps a copy in `docs/settings.md`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

/// What the settings commands do.
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Print every setting (key, environment variable, type, default, description) as
    /// Markdown.
    Reference(Reference),
}

/// Prints or writes the settings reference.
#[derive(Debug, Args)]
pub struct Reference {
    /// Write the reference to this file instead of standard output (`-`: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl SettingsCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            SettingsCmd::Reference(r) => r.run(),
        }
    }
}

impl Reference {
    fn run(self) -> anyhow::Result<()> {
        let page = tollgate_server::settings::reference_markdown();
        match self.output.filter(|p| p.as_os_str() != "-") {
            Some(path) => std::fs::write(&path, page)
                .with_context(|| format!("writing {}", path.display()))?,
            None => print!("{page}"),
        }
        Ok(())
    }
}
