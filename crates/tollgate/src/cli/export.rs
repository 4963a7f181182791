//! `tollgate export …`: download usage (CSV or JSON lines) or a receipt's accounting CSV
//! from a running server into a file.
//!
//! The file is written beside its final name and renamed only once the whole export has
//! arrived, so an interrupted download never leaves a file that looks complete.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tollgate_api::usage::{ExportFormat, UsageExportQuery};
use tollgate_client::Download;

use super::usage::ClientArgs;

/// Exports.
#[derive(Debug, Subcommand)]
pub enum Export {
    /// Every usage event of a time range, in log order (with --format jsonl, each with its
    /// canonical entry, so receipts can be checked against the file offline).
    Usage {
        #[command(flatten)]
        client: ClientArgs,
        /// Events from this date or RFC 3339 instant (no offset means UTC; default: the first).
        #[arg(long)]
        start: Option<String>,
        /// Events up to this date (the whole day) or instant (default: the last).
        #[arg(long)]
        end: Option<String>,
        /// File format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Only events that recorded this dimension (`kb_id`, or a configured one) ...
        #[arg(long, requires = "value")]
        dimension: Option<String>,
        /// ... with this value.
        #[arg(long, requires = "dimension")]
        value: Option<String>,
        /// The file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// A receipt as an accounting CSV: a line per model and a total per currency.
    Receipt {
        #[command(flatten)]
        client: ClientArgs,
        /// The receipt (`rcpt_…`).
        id: String,
        /// The file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// Usage export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One row per event, with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Export {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Export::Usage {
                client,
                start,
                end,
                format,
                dimension,
                value,
                output,
            } => {
                let wire = match format {
                    Format::Csv => ExportFormat::Csv,
                    Format::Jsonl => ExportFormat::Jsonl,
                };
                let query = UsageExportQuery {
                    start,
                    end,
                    format: Some(wire.as_str().to_string()),
                    dimension,
                    value,
                };
                let download = client.client()?.export_usage(&query).await?;
                let header_lines = u64::from(format == Format::Csv);
                let lines = save(download, &output, header_lines).await?;
                eprintln!("wrote {lines} events to {}", output.display());
            }
            Export::Receipt { client, id, output } => {
                let download = client.client()?.export_receipt(&id).await?;
                save(download, &output, 1).await?;
                eprintln!("wrote receipt {id} to {}", output.display());
            }
        }
        Ok(())
    }
}

/// The records of a CSV file after its header, read in constant memory.
fn csv_records(path: &Path) -> anyhow::Result<u64> {
    let mut reader = csv::Reader::from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record)? {
        n += 1;
    }
    Ok(n)
}

/// Writes a download to `path`, with a progress bar over the lines (less `header_lines`)
/// when the server announced a count and standard error is a terminal. Returns the lines.
async fn save(mut download: Download, path: &Path, header_lines: u64) -> anyhow::Result<u64> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let bar = match download.count {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::hidden(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut newlines = 0u64;
    let result = async {
        while let Some(chunk) = download.chunk().await? {
            out.write_all(&chunk)?;
            newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            bar.set_position(newlines.saturating_sub(header_lines));
        }
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context("the export did not arrive whole; nothing was written"));
    }
    let lines = newlines.saturating_sub(header_lines);
    if let Some(n) = download.count {
        // CSV fields may hold line breaks: count CSV records, not lines.
        let sent = if header_lines > 0 {
            csv_records(&partial)
        } else {
            Ok(lines)
        };
        match sent {
            Ok(sent) if sent == n => {}
            Ok(sent) => {
                let _ = std::fs::remove_file(&partial);
                bail!("the server announced {n} events but sent {sent}; nothing was written");
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e.context("the export is not well-formed CSV; nothing was written"));
            }
        }
    }
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))?;
    Ok(download.count.unwrap_or(lines))
}
