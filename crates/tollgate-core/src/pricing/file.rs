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
//! cached_input = "0.60"           # optional: else the entry's own cached_input, else the
//!                                 # tier's input
//! ```
//!
//! A model's entry needs `input` and `output`; an MCP tool's (provider `mcp`) needs `per_call` or
//! `per_unit` and has no token rates.

use std::str::FromStr;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{canonical_provider, PriceEntry, PriceSource, Rates, ServicePrice, Tier, TokenRates};
use crate::money::Currency;
use crate::time::{parse_instant, DateEdge};
use crate::usage::{ServiceTier, TokenClass};

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

/// The keys of an entry besides its rates.
const ENTRY_KEYS: [&str; 10] = [
    "provider",
    "model",
    "effective_from",
    "currency",
    "per_call",
    "per_unit",
    "tier_rule",
    "tiers",
    "unit_prices",
    "service_tiers",
];

/// A rate written as a string (exact) or as a number, read through its decimal text.
fn amount(name: &str, value: &toml::Value) -> Result<Decimal, String> {
    let text = match value {
        toml::Value::String(s) => s.trim().to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f}"),
        _ => return Err(format!("{name} must be a decimal number")),
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{name} '{text}' is not a decimal number"))?;
    if d.is_sign_negative() {
        return Err(format!("{name} {text} is negative"));
    }
    if d > Decimal::from(super::MAX_RATE) {
        return Err(format!(
            "{name} {text} is out of range (at most {})",
            super::MAX_RATE
        ));
    }
    Ok(d)
}

/// The token rates of a table: `input` and `output` (both needed when `required`, else
/// both or neither) and any class's own rate. Keys that are neither a class nor in `other`
/// are refused, so a misspelt rate is never silently dropped.
fn token_rates(
    table: &toml::Table,
    what: &str,
    other: &[&str],
    required: bool,
) -> Result<Option<TokenRates>, String> {
    for key in table.keys() {
        let known =
            other.contains(&key.as_str()) || TokenClass::ALL.iter().any(|c| c.as_str() == key);
        if !known {
            return Err(format!("{what} has an unknown key '{key}'"));
        }
    }
    let get = |name: &str| table.get(name).map(|v| amount(name, v)).transpose();
    let (input, output) = match (get("input")?, get("output")?) {
        (Some(i), Some(o)) => (i, o),
        (None, None) if !required => {
            if let Some(c) = TokenClass::ALL
                .iter()
                .find(|c| table.contains_key(c.as_str()))
            {
                return Err(format!(
                    "{what} sets {} but not input and output",
                    c.as_str()
                ));
            }
            return Ok(None);
        }
        (None, _) => return Err(format!("{what}: input is required")),
        (_, None) => return Err(format!("{what}: output is required")),
    };
    let mut rates = TokenRates::new(input, output);
    for class in TokenClass::ALL {
        if let Some(slot) = rates.slot(class) {
            *slot = get(class.as_str())?;
        }
    }
    Ok(Some(rates))
}

/// Reads a price file. Every entry gets `source` and, for tenant prices, `tenant_id`.
pub fn parse_price_file(
    text: &str,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<Vec<PriceEntry>, PriceFileError> {
    let mut file: toml::Table =
        toml::from_str(text).map_err(|e| PriceFileError::Syntax(e.to_string()))?;
    if let Some(key) = file.keys().find(|k| *k != "prices") {
        return Err(PriceFileError::Syntax(format!(
            "unknown top-level key '{key}': a price file holds [[prices]] entries"
        )));
    }
    let rows = match file.remove("prices") {
        None => Vec::new(),
        Some(toml::Value::Array(rows)) => rows,
        Some(_) => {
            return Err(PriceFileError::Syntax(
                "prices must be an array of tables ([[prices]])".into(),
            ))
        }
    };
    rows.into_iter()
        .enumerate()
        .map(|(index, row)| {
            let model = row
                .get("model")
                .and_then(toml::Value::as_str)
                .unwrap_or("")
                .to_string();
            entry(row, source, tenant_id).map_err(|message| PriceFileError::Entry {
                index,
                model,
                message,
            })
        })
        .collect()
}

fn text<'a>(row: &'a toml::Table, key: &str) -> Result<Option<&'a str>, String> {
    row.get(key)
        .map(|v| v.as_str().ok_or_else(|| format!("{key} must be a string")))
        .transpose()
}

fn entry(
    row: toml::Value,
    source: PriceSource,
    tenant_id: Option<&str>,
) -> Result<PriceEntry, String> {
    let toml::Value::Table(row) = row else {
        return Err("an entry must be a table".into());
    };
    let provider = canonical_provider(text(&row, "provider")?.ok_or("provider is required")?);
    let model = text(&row, "model")?
        .ok_or("model is required")?
        .trim()
        .to_ascii_lowercase();
    if provider.is_empty() || model.is_empty() {
        return Err("provider and model must not be empty".into());
    }
    let effective_from = text(&row, "effective_from")?.ok_or("effective_from is required")?;
    let opt = |key: &str| row.get(key).map(|v| amount(key, v)).transpose();
    let per_call = opt("per_call")?;
    let per_unit = opt("per_unit")?;
    // A tool is priced per call and per unit only; a model by its tokens (and, if the
    // provider says so, per request and per unit of named quantities).
    let tool = provider == super::TOOL_PROVIDER;
    if tool && TokenClass::ALL.iter().any(|c| row.contains_key(c.as_str())) {
        return Err(
            "an MCP tool's price (provider mcp) has no token rates; use per_call and per_unit"
                .into(),
        );
    }
    let tokens = token_rates(&row, "the entry", &ENTRY_KEYS, false)?;
    let tokens =
        match (tool, tokens) {
            (true, Some(_)) => return Err(
                "an MCP tool's price (provider mcp) has no token rates; use per_call and per_unit"
                    .into(),
            ),
            (true, None) if per_call.is_none() && per_unit.is_none() => {
                return Err("an MCP tool's price (provider mcp) needs per_call or per_unit".into())
            }
            (true, None) => TokenRates::default(),
            (false, Some(t)) => t,
            (false, None) => return Err("input is required".into()),
        };
    if !tool && per_unit.is_some() {
        return Err(
            "per_unit prices MCP tools only (provider mcp); a model's quantities have unit_prices"
                .into(),
        );
    }
    match text(&row, "tier_rule")? {
        None | Some("whole_request") => {}
        Some(other) => {
            return Err(format!(
                "tier_rule '{other}' is unknown: a tier prices the whole request (whole_request)"
            ))
        }
    }
    let tables = |key: &str| -> Result<Vec<toml::Table>, String> {
        match row.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_table().cloned().ok_or(format!("{key} must be tables")))
                .collect(),
            Some(_) => Err(format!(
                "{key} must be an array of tables ([[prices.{key}]])"
            )),
        }
    };
    let mut tiers: Vec<Tier> = Vec::new();
    for t in tables("tiers")? {
        let above = t
            .get("above_input_tokens")
            .and_then(toml::Value::as_integer)
            .ok_or("a tier needs above_input_tokens, a whole number")?;
        if above <= 0 {
            return Err("a tier's above_input_tokens must be positive".into());
        }
        if tiers
            .last()
            .is_some_and(|last| last.above_input_tokens >= above)
        {
            return Err(
                "tiers must be listed by above_input_tokens, each higher than the last".into(),
            );
        }
        let rates = token_rates(&t, "a tier", &["above_input_tokens"], true)?
            .ok_or("a tier needs input and output")?;
        tiers.push(Tier {
            above_input_tokens: above,
            rates,
        });
    }
    let sub_table = |key: &str| -> Result<toml::Table, String> {
        match row.get(key) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(t)) => Ok(t.clone()),
            Some(_) => Err(format!("{key} must be a table ([prices.{key}])")),
        }
    };
    let mut unit_prices = BTreeMap::new();
    for (name, v) in sub_table("unit_prices")? {
        super::check_quantity_name(&name)?;
        unit_prices.insert(name.clone(), amount(&format!("unit_prices.{name}"), &v)?);
    }
    let mut service_tiers = BTreeMap::new();
    for (name, v) in sub_table("service_tiers")? {
        let tier = ServiceTier::parse("service_tiers", &name).map_err(|e| e.message)?;
        if tier == ServiceTier::Standard {
            return Err(
                "service_tiers.standard: the entry's own rates are the standard ones".into(),
            );
        }
        let what = format!("service_tiers.{name}");
        let t = v.as_table().ok_or(format!("{what} must be a table"))?;
        let price = match (t.get("factor"), token_rates(t, &what, &["factor"], false)?) {
            (Some(f), None) => ServicePrice::Factor(amount(&format!("{what}.factor"), f)?),
            (None, Some(r)) => ServicePrice::Rates(r),
            (Some(_), Some(_)) => return Err(format!("{what} sets a factor or rates, not both")),
            (None, None) => return Err(format!("{what} needs a factor or input and output")),
        };
        service_tiers.insert(tier, price);
    }
    if tool && !(tiers.is_empty() && unit_prices.is_empty() && service_tiers.is_empty()) {
        return Err("an MCP tool's price has only per_call and per_unit".into());
    }
    Ok(PriceEntry {
        provider,
        model,
        effective_from_us: parse_instant(effective_from, DateEdge::Start)
            .map_err(|e| e.to_string())?,
        currency: match text(&row, "currency")? {
            Some(c) => Currency::try_from(c.to_string())?,
            None => Currency::usd(),
        },
        rates: Rates {
            tokens,
            per_call,
            per_unit,
            unit_prices,
            tiers,
            service_tiers,
        },
        source,
        tenant_id: tenant_id.map(str::to_string),
    })
}

/// Writes entries in the price-file format (for `tollgate pricing list --format toml`).
pub fn to_price_file(entries: &[&PriceEntry]) -> String {
    fn rates(out: &mut String, r: &TokenRates) {
        out.push_str(&format!(
            "input = \"{}\"\noutput = \"{}\"\n",
            r.input, r.output
        ));
        for (class, v) in r.own_rates() {
            out.push_str(&format!("{} = \"{v}\"\n", class.as_str()));
        }
    }
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
            rates(&mut out, &e.rates.tokens);
        }
        for (name, v) in [
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
        if !e.rates.unit_prices.is_empty() {
            out.push_str("[prices.unit_prices]\n");
            for (name, v) in &e.rates.unit_prices {
                out.push_str(&format!("\"{name}\" = \"{v}\"\n"));
            }
            out.push('\n');
        }
        for (tier, price) in &e.rates.service_tiers {
            out.push_str(&format!("[prices.service_tiers.{}]\n", tier.as_str()));
            match price {
                ServicePrice::Factor(f) => out.push_str(&format!("factor = \"{f}\"\n")),
                ServicePrice::Rates(r) => rates(&mut out, r),
            }
            out.push('\n');
        }
        for t in &e.rates.tiers {
            out.push_str(&format!(
                "[[prices.tiers]]\nabove_input_tokens = {}\n",
                t.above_input_tokens
            ));
            rates(&mut out, &t.rates);
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
        assert_eq!(e.rates.tokens.input, Decimal::from_str("2.50").expect("d"));
        assert_eq!(
            e.rates.tokens.cached_input,
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
        assert_eq!(e.rates.tokens.input, Decimal::ZERO);
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
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\nper_unit='1'",
                "MCP tools only",
            ),
            (
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\naudio_inptu='1'",
                "unknown key 'audio_inptu'",
            ),
            (
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\n[prices.service_tiers.batch]\nfactor='0.5'\ninput='1'\noutput='1'",
                "a factor or rates, not both",
            ),
            (
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\n[prices.service_tiers.scale]\nfactor='0.5'",
                "unknown",
            ),
            (
                "provider='openai'\nmodel='x'\ninput='1'\noutput='1'\n[prices.unit_prices]\n'Web Search'='0.01'",
                "quantity",
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
    fn every_part_of_the_price_model_reads_and_writes_back() {
        let text = r#"
            [[prices]]
            provider = "anthropic"
            model = "claude-x"
            effective_from = "2025-09-29"
            input = "3"
            output = "15"
            cache_write = "3.75"
            cache_write_1h = "6"
            cached_input = "0.30"
            audio_input = 40
            image_output = "30"
            per_call = "0.005"
            tier_rule = "whole_request"

            [prices.unit_prices]
            web_search = "0.01"
            "image:1024x1024:hd" = "0.08"

            [prices.service_tiers.batch]
            factor = "0.5"

            [prices.service_tiers.priority]
            input = "6"
            output = "30"

            [[prices.tiers]]
            above_input_tokens = 200000
            input = "6"
            output = "22.50"
            cache_write_1h = "12"
        "#;
        let entries = parse_price_file(text, PriceSource::File, None).expect("valid");
        let r = &entries[0].rates;
        assert_eq!(r.tokens.cache_write_1h, Some(Decimal::from(6)));
        assert_eq!(r.tokens.audio_input, Some(Decimal::from(40)));
        assert_eq!(r.unit_prices.len(), 2);
        assert_eq!(
            r.service_tiers.get(&ServiceTier::Batch),
            Some(&ServicePrice::Factor(Decimal::from_str("0.5").expect("d")))
        );
        assert!(matches!(
            r.service_tiers.get(&ServiceTier::Priority),
            Some(ServicePrice::Rates(_))
        ));
        assert_eq!(r.tiers[0].rates.cache_write_1h, Some(Decimal::from(12)));
        let refs: Vec<&PriceEntry> = entries.iter().collect();
        let again =
            parse_price_file(&to_price_file(&refs), PriceSource::File, None).expect("round trip");
        assert_eq!(again, entries);
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
