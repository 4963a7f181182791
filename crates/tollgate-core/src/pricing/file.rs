//! Tollgate's own price file (TOML), used for the built-in list, the configured override file
//! and `tollgate pricing import`.
//!
//! ```toml
//! [[prices]]
//! provider = "openai"
//! model = "gpt-4o"
//! effective_from = "2024-08-06"   # a date (UTC midnight) or an RFC 3339 instant
//! input = "2.50"                  # per million tokens
//! output = "10.00"
//! cached_input = "1.25"           # optional: defaults to input
//! cache_write = "3.75"            # optional: defaults to input
//! reasoning = "10.00"             # optional: defaults to output
//! currency = "USD"                # optional: defaults to USD
//!
//! [[prices]]                      # an MCP tool: provider "mcp", model "<server>/<tool>"
//! provider = "mcp"
//! model = "courts/lookup_decision"
//! effective_from = "2026-01-01"
//! per_call = "0.02"               # per execution
//! per_unit = "0.001"              # optional: per unit of the quantity it reports
//! ```
//!
//! A long-context tier prices a whole request whose prompt exceeds its threshold:
//!
//! ```toml
//! tier_rule = "whole_request"     # optional: the only rule, said for the reader
//! [[prices.tiers]]                # after the entry's own keys
//! above_input_tokens = 200000
//! input = "6.00"
//! output = "22.50"
//! cached_input = "0.60"           # optional: defaults to the tier's input
//! ```
//!
//! A model's entry needs `input` and `output`; an MCP tool's (provider `mcp`) needs `per_call` or
//! `per_unit` and has no token rates.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{canonical_provider, PriceEntry, PriceSource, Rates};
use crate::money::Currency;
use crate::time::{parse_instant, DateEdge};

/// Why a price file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceFileError {
    /// Not valid TOML or JSON of the expected shape.
    #[error("price file is malformed: {0}")]
    Syntax(String),
    /// An entry with a bad value.
    #[error("price entry {index} ({model}): {message}")]
    Entry {
        /// Position in the file, from 0.
        index: usize,
        /// The model it names.
        model: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    prices: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    provider: String,
    model: String,
    effective_from: String,
    input: Option<Amount>,
    output: Option<Amount>,
    cached_input: Option<Amount>,
    cache_write: Option<Amount>,
    reasoning: Option<Amount>,
    per_call: Option<Amount>,
    per_unit: Option<Amount>,
    currency: Option<String>,
    /// How a tier prices a request: only `whole_request` (every token of a request above the
    /// threshold at the tier's rates) exists.
    tier_rule: Option<String>,
    #[serde(default)]
    tiers: Vec<TierRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierRow {
    above_input_tokens: i64,
    input: Amount,
    output: Amount,
    cached_input: Option<Amount>,
    cache_write: Option<Amount>,
    reasoning: Option<Amount>,
}

/// A rate written as a string (exact) or as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Text(String),
    Int(i64),
    Float(f64),
}

impl Amount {
    fn decimal(&self) -> Result<Decimal, String> {
        let text = match self {
            Amount::Text(s) => s.trim().to_string(),
            Amount::Int(i) => i.to_string(),
            Amount::Float(f) => format!("{f}"),
        };
        let d = Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| format!("'{text}' is not a decimal number"))?;
        if d.is_sign_negative() {
            return Err(format!("rate {text} is negative"));
        }
        Ok(d)
    }
}

/// Reads a price file. Every entry gets `source` and, for tenant prices, `tenant_id`.
pub fn parse_price_file(
    text: &str,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<Vec<PriceEntry>, PriceFileError> {
    let file: File = toml::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    file.prices
        .into_iter()
        .enumerate()
        .map(|(index, row)| {
            let model = row.model.clone();
            row.into_entry(source, tenant_id)
                .map_err(|message| PriceFileError::Entry {
                    index,
                    model,
                    message,
                })
        })
        .collect()
}

impl Row {
    fn into_entry(
        self,
        source: PriceSource,
        tenant_id: Option<&str>,
    ) -> Result<PriceEntry, String> {
        let provider = canonical_provider(&self.provider);
        let model = self.model.trim().to_ascii_lowercase();
        if provider.is_empty() || model.is_empty() {
            return Err("provider and model must not be empty".into());
        }
        let opt = |a: Option<Amount>| a.map(|a| a.decimal()).transpose();
        let per_call = opt(self.per_call)?;
        let per_unit = opt(self.per_unit)?;
        // A tool is priced per call and per unit only; a model by its tokens only. Either
        // half on the other would price it at zero without flagging it unpriced.
        let tool = provider == super::TOOL_PROVIDER;
        let tokens = [
            &self.input,
            &self.output,
            &self.cached_input,
            &self.cache_write,
            &self.reasoning,
        ];
        if tool {
            if per_call.is_none() && per_unit.is_none() {
                return Err("an MCP tool's price (provider mcp) needs per_call or per_unit".into());
            }
            if tokens.iter().any(|t| t.is_some()) {
                return Err("an MCP tool's price (provider mcp) has no token rates; use per_call and per_unit".into());
            }
        } else if per_call.is_some() || per_unit.is_some() {
            return Err("per_call and per_unit price MCP tools only (provider mcp)".into());
        }
        match self.tier_rule.as_deref() {
            None | Some("whole_request") => {}
            Some(other) => {
                return Err(format!(
                "tier_rule '{other}' is unknown: a tier prices the whole request (whole_request)"
            ))
            }
        }
        if tool && !self.tiers.is_empty() {
            return Err("an MCP tool's price has no tiers".into());
        }
        let mut tiers = Vec::with_capacity(self.tiers.len());
        for t in self.tiers {
            if t.above_input_tokens <= 0 {
                return Err("a tier's above_input_tokens must be positive".into());
            }
            if tiers
                .last()
                .is_some_and(|last: &super::Tier| last.above_input_tokens >= t.above_input_tokens)
            {
                return Err(
                    "tiers must be listed by above_input_tokens, each higher than the last".into(),
                );
            }
            tiers.push(super::Tier {
                above_input_tokens: t.above_input_tokens,
                input: t.input.decimal()?,
                output: t.output.decimal()?,
                cached_input: opt(t.cached_input)?,
                cache_write: opt(t.cache_write)?,
                reasoning: opt(t.reasoning)?,
            });
        }
        let token_rate = |a: Option<Amount>, name: &str| match a {
            Some(a) => a.decimal(),
            None if tool => Ok(Decimal::ZERO),
            None => Err(format!("{name} is required")),
        };
        Ok(PriceEntry {
            provider,
            model,
            effective_from_us: parse_instant(&self.effective_from, DateEdge::Start)
                .map_err(|e| e.to_string())?,
            currency: match self.currency {
                Some(c) => Currency::try_from(c)?,
                None => Currency::usd(),
            },
            rates: Rates {
                input: token_rate(self.input, "input")?,
                output: token_rate(self.output, "output")?,
                cached_input: opt(self.cached_input)?,
                cache_write: opt(self.cache_write)?,
                reasoning: opt(self.reasoning)?,
                per_call,
                per_unit,
                tiers,
            },
            source,
            tenant_id: tenant_id.map(str::to_string),
        })
    }
}

/// Writes entries in the price-file format (for `tollgate pricing list --format toml`).
pub fn to_price_file(entries: &[&PriceEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str("[[prices]]\n");
        out.push_str(&format!(
            "provider = \"{}\"\nmodel = \"{}\"\n",
            e.provider, e.model
        ));
        out.push_str(&format!(
            "effective_from = \"{}\"\n",
            super::effective_label(e.effective_from_us)
        ));
        if e.provider != super::TOOL_PROVIDER {
            out.push_str(&format!(
                "input = \"{}\"\noutput = \"{}\"\n",
                e.rates.input, e.rates.output
            ));
        }
        for (name, v) in [
            ("cached_input", e.rates.cached_input),
            ("cache_write", e.rates.cache_write),
            ("reasoning", e.rates.reasoning),
            ("per_call", e.rates.per_call),
            ("per_unit", e.rates.per_unit),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("{name} = \"{v}\"\n"));
            }
        }
        out.push_str(&format!("currency = \"{}\"\n", e.currency));
        if !e.rates.tiers.is_empty() {
            out.push_str("tier_rule = \"whole_request\"\n");
        }
        out.push('\n');
        for t in &e.rates.tiers {
            out.push_str(&format!(
                "[[prices.tiers]]\nabove_input_tokens = {}\ninput = \"{}\"\noutput = \"{}\"\n",
                t.above_input_tokens, t.input, t.output
            ));
            for (name, v) in [
                ("cached_input", t.cached_input),
                ("cache_write", t.cache_write),
                ("reasoning", t.reasoning),
            ] {
                if let Some(v) = v {
                    out.push_str(&format!("{name} = \"{v}\"\n"));
                }
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_file_reads_exact_rates_and_defaults() {
        let entries = parse_price_file(
            r#"
            [[prices]]
            provider = "OpenAI"
            model = "GPT-4o"
            effective_from = "2024-08-06"
            input = "2.50"
            output = 10
            cached_input = 1.25
            "#,
            PriceSource::File,
            None,
        )
        .expect("valid");
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            (e.provider.as_str(), e.model.as_str()),
            ("openai", "gpt-4o")
        );
        assert_eq!(e.rates.input, Decimal::from_str("2.50").expect("d"));
        assert_eq!(
            e.rates.cached_input,
            Some(Decimal::from_str("1.25").expect("d"))
        );
        assert_eq!(e.currency.as_str(), "USD");
        assert_eq!(e.version(), "file:openai/gpt-4o@2024-08-06");
    }

    #[test]
    fn bad_entries_name_their_position_and_problem() {
        let err = parse_price_file(
            "[[prices]]\nprovider='openai'\nmodel='x'\neffective_from='soon'\ninput='1'\noutput='1'\n",
            PriceSource::File,
            None,
        )
        .expect_err("bad date");
        assert!(err.to_string().contains("price entry 0 (x)"), "{err}");
        let err = parse_price_file(
            "[[prices]]\nprovider='openai'\nmodel='x'\neffective_from='2024-01-01'\ninput='-1'\noutput='1'\n",
            PriceSource::File,
            None,
        )
        .expect_err("negative");
        assert!(err.to_string().contains("negative"), "{err}");
        assert!(parse_price_file("[[prices]]\nmodell='x'", PriceSource::File, None).is_err());
    }

    #[test]
    fn a_tool_price_needs_no_token_rates_but_an_llm_price_does() {
        let entries = parse_price_file(
            "[[prices]]\nprovider='mcp'\nmodel='Courts/lookup'\neffective_from='2026-01-01'\nper_call='0.02'\nper_unit='0.001'\n",
            PriceSource::File,
            None,
        )
        .expect("a tool price");
        let e = &entries[0];
        assert_eq!(e.model, "courts/lookup");
        assert_eq!(e.rates.input, Decimal::ZERO);
        assert_eq!(
            e.rates.per_call,
            Some(Decimal::from_str("0.02").expect("d"))
        );
        let refs: Vec<&PriceEntry> = entries.iter().collect();
        let again =
            parse_price_file(&to_price_file(&refs), PriceSource::File, None).expect("round trip");
        assert_eq!(again, entries);
        let err = parse_price_file(
            "[[prices]]\nprovider='openai'\nmodel='x'\neffective_from='2026-01-01'\noutput='1'\n",
            PriceSource::File,
            None,
        )
        .expect_err("no input rate");
        assert!(err.to_string().contains("input is required"), "{err}");
        for (row, says) in [
            (
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\nper_call='1'",
                "MCP tools only",
            ),
            (
                "provider='mcp'\nmodel='s/t'\ninput='1'\nper_call='1'",
                "no token rates",
            ),
            ("provider='mcp'\nmodel='s/t'", "needs per_call or per_unit"),
        ] {
            let err = parse_price_file(
                &format!("[[prices]]\neffective_from='2026-01-01'\n{row}\n"),
                PriceSource::File,
                None,
            )
            .expect_err(says);
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn written_files_read_back_the_same() {
        let entries = parse_price_file(crate::pricing::BUILTIN_PRICES, PriceSource::Builtin, None)
            .expect("builtin");
        let refs: Vec<&PriceEntry> = entries.iter().collect();
        let again = parse_price_file(&to_price_file(&refs), PriceSource::Builtin, None)
            .expect("round trip");
        assert_eq!(again, entries);
    }
}
