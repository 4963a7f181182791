//! `tollgate openapi [-o FILE]`: the API's OpenAPI document, generated from the server's code
//! (no server or database needed). The repository keeps a copy in `docs/openapi.json`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Prints or writes the OpenAPI document.
#[derive(Debug, Args)]
pub struct OpenApi {
    /// Write the document to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl OpenApi {
    /// Renders the document as pretty JSON, to the file or standard output.
    pub fn run(self) -> anyhow::Result<()> {
        let json = tollgate_server::openapi::to_json(&tollgate_server::openapi_document());
        match &self.output {
            Some(path) => {
                std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?
            }
            None => print!("{json}"),
        }
        Ok(())
    }
}
