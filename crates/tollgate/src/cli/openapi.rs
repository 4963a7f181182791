//! `tollgate openapi [-o FILE]`: the API's OpenAPI document, generated from the server's code
//! (no server or database needed). The repository keeps a copy in `docs/openapi.json`.

use clap::Args;

use super::sink::Output;

/// Prints or writes the OpenAPI document.
#[derive(Debug, Args)]
pub struct OpenApi {
    /// The file to write (`-` or none: standard output).
    #[arg(short, long, value_name = "FILE", value_parser = Output::parse, default_value = "-")]
    output: Output,
}

impl OpenApi {
    /// Renders the document as pretty JSON, to the file or standard output.
    pub fn run(self) -> anyhow::Result<()> {
        let json = tollgate_server::openapi::to_json(&tollgate_server::openapi_document());
        self.output.write(json.as_bytes())
    }
}
