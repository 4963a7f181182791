//! `tollgate receipts …`: generate, read and export signed receipts through a running
//! server; `verify` and `prove` check them (see `verify.rs`, `prove.rs`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tollgate_api::receipts::{PageQuery, ReceiptRequest};
use tollgate_client::Client;

use super::args::receipt_id;
use super::output::outln;
use super::prove::Prove;
use super::receipt_tables::{
    dimension_table, pretty, print_list, print_preview, print_receipt_logs, print_uncertified,
    summary,
};
use super::sink::Output;
use super::usage::ClientArgs;
use super::verify::Verify;

/// Most logs the server lists per page.
const PAGE: i64 = 1000;

/// Receipts.
#[derive(Debug, Subcommand)]
pub enum Receipts {
    /// Sign a receipt for a selection of logs.
    Generate {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        selection: Selection,
        /// A description, signed with the receipt.
        #[arg(long)]
        description: Option<String>,
        /// A tag, signed with the receipt (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Also write the receipt's JSON to this file (`-`: standard output, instead of the
        /// summary, as with --json).
        #[arg(short, long, value_name = "FILE", value_parser = Output::parse)]
        output: Option<Output>,
        /// Print the whole receipt as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Receipts, newest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Only receipts with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One receipt.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// Receipt id (`rcpt_…`).
        #[arg(value_parser = receipt_id)]
        id: String,
        /// Print the signed receipt as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What a receipt for a selection would certify; nothing is signed.
    Preview {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        selection: Selection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Logs no receipt certifies yet.
    Uncertified {
        #[command(flatten)]
        client: ClientArgs,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The logs a receipt certifies, in leaf order; `--jsonl` exports all of them for
    /// `receipts verify --logs`.
    Logs {
        #[command(flatten)]
        client: ClientArgs,
        /// Receipt id (`rcpt_…`).
        #[arg(value_parser = receipt_id)]
        id: String,
        /// How many (at most 1000; ignored with --jsonl).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Skip this many (ignored with --jsonl).
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Every log, one JSON object per line, each with its canonical `entry`.
        #[arg(long, conflicts_with = "json")]
        jsonl: bool,
        /// The file to write the JSON lines to (`-` or none: standard output).
        #[arg(short, long, value_name = "FILE", requires = "jsonl", value_parser = Output::parse)]
        output: Option<Output>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a receipt file's signature and, with --logs, its logs. Exit 0 valid, 1 not, 2
    /// could not check.
    Verify(Verify),
    /// Fetch and check one log's inclusion proof in a receipt. Exit 0 valid, 1 not, 2 could
    /// not check.
    Prove(Prove),
}

/// Which logs: exactly one of these.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(
    clap::ArgGroup::new("selection")
        .required(true)
        .args(["conversation", "start", "log_ids", "since_last"])
))]
pub struct Selection {
    /// Every log of this conversation.
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// Logs from this date or RFC 3339 instant (with --end; no offset means UTC).
    #[arg(long, value_name = "DATE", requires = "end")]
    start: Option<String>,
    /// Logs up to this date (the whole day) or instant.
    #[arg(long, value_name = "DATE", requires = "start")]
    end: Option<String>,
    /// These logs (space- or comma-separated).
    #[arg(long, value_name = "ID", num_args = 1.., value_delimiter = ',')]
    log_ids: Vec<String>,
    /// Every log no receipt certifies yet.
    #[arg(long)]
    since_last: bool,
}

impl Selection {
    fn request(self) -> ReceiptRequest {
        ReceiptRequest {
            conversation_id: self.conversation,
            start_date: self.start,
            end_date: self.end,
            log_ids: (!self.log_ids.is_empty()).then_some(self.log_ids),
            since_last_receipt: self.since_last,
            ..Default::default()
        }
    }
}

impl Receipts {
    /// Runs the command: errors are returned (exit 1), except from `verify` and `prove`,
    /// which choose their own exit code.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Receipts::Verify(v) => return Ok(v.run().await),
            Receipts::Prove(p) => return Ok(p.run().await),
            Receipts::Generate {
                client,
                selection,
                description,
                tags,
                output,
                json: as_json,
            } => {
                let output_is_stdout = output == Some(Output::Stdout);
                let req = ReceiptRequest {
                    description,
                    tags: (!tags.is_empty()).then_some(tags),
                    ..selection.request()
                };
                let answer = client.client()?.generate_receipt(&req).await?;
                let receipt = &answer.receipt;
                let file = match output {
                    Some(Output::File(path)) => Some(Output::File(path)),
                    Some(Output::Stdout) | None => None,
                };
                if let Some(file) = &file {
                    file.write(format!("{}\n", pretty(receipt)?).as_bytes())?;
                }
                // `-o -` asks for the receipt on standard output: a summary would spoil it.
                if as_json || output_is_stdout {
                    outln!("{}", pretty(receipt)?);
                } else {
                    outln!("{}", summary(&receipt.receipt));
                    if let Some(file) = &file {
                        outln!("receipt written to {}", file.describe());
                    }
                }
            }
            Receipts::List {
                client,
                limit,
                offset,
                tag,
                json: as_json,
            } => {
                let q = PageQuery {
                    limit: Some(limit),
                    offset: Some(offset),
                    tag,
                };
                let page = client.client()?.receipts(&q).await?;
                if as_json {
                    outln!("{}", pretty(&page)?);
                } else {
                    print_list(&page);
                }
            }
            Receipts::Get {
                client,
                id,
                json: as_json,
            } => {
                let receipt = client.client()?.receipt(&id).await?;
                if as_json {
                    outln!("{}", pretty(&receipt)?);
                } else {
                    let r = &receipt.receipt;
                    outln!("{}", summary(r));
                    if let Some(by) = r.batch_summary.by_dimension.as_ref() {
                        if !by.is_empty() {
                            outln!("{}", dimension_table(by, &r.currency));
                        }
                    }
                }
            }
            Receipts::Preview {
                client,
                selection,
                json: as_json,
            } => {
                let preview = client
                    .client()?
                    .preview_receipt(&selection.request())
                    .await?;
                if as_json {
                    outln!("{}", pretty(&preview)?);
                } else {
                    print_preview(&preview);
                }
            }
            Receipts::Uncertified {
                client,
                limit,
                offset,
                json: as_json,
            } => {
                let q = PageQuery {
                    limit: Some(limit),
                    offset: Some(offset),
                    tag: None,
                };
                let page = client.client()?.uncertified(&q).await?;
                if as_json {
                    outln!("{}", pretty(&page)?);
                } else {
                    print_uncertified(&page);
                }
            }
            Receipts::Logs {
                client,
                id,
                limit,
                offset,
                jsonl,
                output,
                json: as_json,
            } => {
                let client = client.client()?;
                if jsonl {
                    export(&client, &id, &output.unwrap_or(Output::Stdout)).await?;
                } else {
                    let q = PageQuery {
                        limit: Some(limit),
                        offset: Some(offset),
                        tag: None,
                    };
                    let page = client.receipt_logs(&id, &q).await?;
                    if as_json {
                        outln!("{}", pretty(&page)?);
                    } else {
                        print_receipt_logs(&page);
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes every log of a receipt as JSON lines, a page of 1,000 at a time.
async fn export(client: &Client, id: &str, output: &Output) -> anyhow::Result<()> {
    let mut out = output.open()?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} logs {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut written: i64 = 0;
    let total = loop {
        let q = PageQuery {
            limit: Some(PAGE),
            offset: Some(written),
            tag: None,
        };
        let page = client.receipt_logs(id, &q).await?;
        let total = page.total;
        bar.set_length(total.max(0) as u64);
        let logs = page.logs;
        for log in &logs {
            serde_json::to_writer(&mut out, log)?;
            out.write_all(b"\n")?;
        }
        written += logs.len() as i64;
        bar.set_position(written.max(0) as u64);
        if logs.is_empty() || written >= total {
            break total;
        }
    };
    out.flush()?;
    bar.finish_and_clear();
    if written != total {
        bail!("the receipt certifies {total} logs but the server listed {written}");
    }
    out.finish()?;
    eprintln!(
        "wrote {written} logs of receipt {id} to {}",
        output.describe()
    );
    Ok(())
}
