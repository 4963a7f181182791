//! `tollgate costs daily|monthly|report`: what a UTC day or month cost, or this month's (or
//! every month's) cost report, through a running server: tables for people, the server's
//! JSON with `--json`.

use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use tollgate_api::billing::ReportQuery;
use tollgate_api::usage::{DailyCostsQuery, MonthlyCostsQuery};

use super::cost_tables::{print_daily, print_monthly, print_report};
use super::output::{json, outln};
use super::usage::ClientArgs;

/// Cost summaries.
#[derive(Debug, Subcommand)]
pub enum Costs {
    /// One UTC day's costs: totals, by provider, by model and by tool.
    Daily {
        #[command(flatten)]
        client: ClientArgs,
        /// The UTC day (default: today).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = date)]
        date: Option<String>,
        #[command(flatten)]
        dimension: DimensionArgs,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// One UTC month's costs: totals, by day, by provider, by model and by tool.
    Monthly {
        #[command(flatten)]
        client: ClientArgs,
        /// The UTC month (default: this month).
        #[arg(long, value_name = "YYYY-MM", value_parser = month)]
        month: Option<Month>,
        #[command(flatten)]
        dimension: DimensionArgs,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Costs by provider and by model, this month or ever.
    Report {
        #[command(flatten)]
        client: ClientArgs,
        /// Which calls.
        #[arg(long, value_enum, default_value_t = Range::Month)]
        range: Range,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A breakdown by one dimension, optionally narrowed to one of its values.
#[derive(Debug, Args)]
pub struct DimensionArgs {
    /// Add a breakdown by this dimension (`kb_id`, or one the deployment configures).
    #[arg(long, value_name = "NAME")]
    dimension: Option<String>,
    /// With --dimension: count only the calls with this value of it, in every table.
    #[arg(long, value_name = "V", requires = "dimension")]
    value: Option<String>,
}

/// What `costs report` covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Range {
    /// This UTC month.
    Month,
    /// Everything recorded.
    All,
}

/// A calendar month, as `--month` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    year: i32,
    month: u32,
}

/// `YYYY-MM-DD`, a real calendar day, sent as the server spells it.
fn date(text: &str) -> Result<String, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("'{text}' is not a calendar date like 2026-01-31"))
}

/// `YYYY-MM`, a year from 1970 and a month from 1 to 12.
fn month(text: &str) -> Result<Month, String> {
    let bad = || format!("'{text}' is not a month like 2026-01");
    let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u32 = month.parse().map_err(|_| bad())?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(Month { year, month })
}

impl Costs {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Costs::Daily {
                client,
                date,
                dimension,
                json: as_json,
            } => {
                let query = DailyCostsQuery {
                    date,
                    dimension: dimension.dimension.clone(),
                    value: dimension.value,
                };
                let costs = client.client()?.costs_daily(&query).await?;
                if as_json {
                    outln!("{}", json(&costs));
                } else {
                    print_daily(&costs, dimension.dimension.as_deref());
                }
            }
            Costs::Monthly {
                client,
                month,
                dimension,
                json: as_json,
            } => {
                let query = MonthlyCostsQuery {
                    year: month.map(|m| m.year.to_string()),
                    month: month.map(|m| m.month.to_string()),
                    dimension: dimension.dimension.clone(),
                    value: dimension.value,
                };
                let costs = client.client()?.costs_monthly(&query).await?;
                if as_json {
                    outln!("{}", json(&costs));
                } else {
                    print_monthly(&costs, dimension.dimension.as_deref());
                }
            }
            Costs::Report {
                client,
                range,
                json: as_json,
            } => {
                let range = match range {
                    Range::Month => "month",
                    Range::All => "all",
                };
                let query = ReportQuery {
                    range: Some(range.into()),
                };
                let report = client.client()?.cost_report(&query).await?;
                if as_json {
                    outln!("{}", json(&report));
                } else {
                    print_report(&report);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_months_must_exist() {
        assert_eq!(date("2026-02-28"), Ok("2026-02-28".into()));
        assert!(date("2026-02-30").is_err());
        assert!(date("yesterday").is_err());
        assert_eq!(
            month("2026-12"),
            Ok(Month {
                year: 2026,
                month: 12
            })
        );
        assert!(month("2026-13").is_err());
        assert!(month("2026").is_err());
    }
}
