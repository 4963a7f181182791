//! `tollgate settings`: the settings reference, generated from the settings code (no server
//! or database needed). The repository keeps a copy in `docs/settings.md`.

use clap::{Args, Subcommand};

use super::sink::Output;

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
    /// The file to write (`-` or none: standard output).
    #[arg(short, long, value_name = "FILE", value_parser = Output::parse, default_value = "-")]
    output: Output,
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
        self.output.write(page.as_bytes())
    }
}
