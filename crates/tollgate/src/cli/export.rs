//! `tollgate export …`: download usage (CSV or JSON lines) or a receipt's accounting CSV
//! from a running server to standard output or a file.
//!
//! A file is written beside its final name and renamed only once the whole export has
//! arrived and matches the count the server announced, so an interrupted download never
//! leaves a file that looks complete.

use std::io::{IsTerminal, Write};

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tollgate_api::usage::{ExportFormat, UsageExportQuery};
use tollgate_client::Download;

use super::sink::Output;
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
        /// The file to write (`-` or none: standard output).
        #[arg(short, long, value_name = "FILE", value_parser = Output::parse, default_value = "-")]
        output: Output,
    },
    /// A receipt as an accounting CSV: a line per model and a total per currency.
    Receipt {
        #[command(flatten)]
        client: ClientArgs,
        /// The receipt (`rcpt_…`).
        id: String,
        /// The file to write (`-` or none: standard output).
        #[arg(short, long, value_name = "FILE", value_parser = Output::parse, default_value = "-")]
        output: Output,
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
                eprintln!("wrote {lines} events to {}", output.describe());
            }
            Export::Receipt { client, id, output } => {
                let download = client.client()?.export_receipt(&id).await?;
                save(download, &output, 1).await?;
                eprintln!("wrote receipt {id} to {}", output.describe());
            }
        }
        Ok(())
    }
}

/// Counts the CSV records of a document as it streams past, in constant memory (fields may
/// hold line breaks, so lines are not records).
struct CsvRecords {
    reader: csv_core::Reader,
    scratch: Vec<u8>,
    ends: Vec<usize>,
    records: u64,
}

impl CsvRecords {
    fn new() -> CsvRecords {
        CsvRecords {
            reader: csv_core::Reader::new(),
            scratch: vec![0; 64 * 1024],
            ends: vec![0; 1024],
            records: 0,
        }
    }

    /// Reads `input`; an empty slice marks the end of the document.
    fn feed(&mut self, mut input: &[u8]) {
        let at_end = input.is_empty();
        loop {
            let (result, read, _, _) =
                self.reader
                    .read_record(input, &mut self.scratch, &mut self.ends);
            input = &input[read..];
            match result {
                csv_core::ReadRecordResult::Record => self.records += 1,
                csv_core::ReadRecordResult::End => return,
                csv_core::ReadRecordResult::InputEmpty if !at_end => return,
                // At the end, an empty input asks the reader to finish the last record.
                csv_core::ReadRecordResult::InputEmpty => {}
                // The fields' bytes are not kept: only the record boundaries count.
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {}
            }
        }
    }
}

/// Writes a download to `output`, with a progress bar over the lines (less `header_lines`)
/// when the server announced a count and standard error is a terminal. Returns the records
/// (CSV records when `header_lines` is 1, lines otherwise), checked against the server's
/// count when it announced one: a file that does not match is not kept.
async fn save(mut download: Download, output: &Output, header_lines: u64) -> anyhow::Result<u64> {
    let mut out = output.open()?;
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
    let mut csv = (header_lines > 0).then(CsvRecords::new);
    let result = async {
        while let Some(chunk) = download.chunk().await? {
            out.write_all(&chunk)?;
            if let Some(csv) = csv.as_mut() {
                csv.feed(&chunk);
            }
            newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            bar.set_position(newlines.saturating_sub(header_lines));
        }
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    let nothing = match output {
        Output::Stdout => "the output is incomplete",
        Output::File(_) => "nothing was written",
    };
    if let Err(e) = result {
        return Err(e.context(format!("the export did not arrive whole; {nothing}")));
    }
    let sent = match csv.as_mut() {
        Some(csv) => {
            csv.feed(&[]);
            csv.records.saturating_sub(header_lines)
        }
        None => newlines,
    };
    if let Some(n) = download.count {
        if sent != n {
            bail!("the server announced {n} events but sent {sent}; {nothing}");
        }
    }
    out.finish()?;
    Ok(sent)
}
