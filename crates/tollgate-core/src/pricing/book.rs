//! Looking prices up: model-name matching as llmring does it, then source precedence, then
//! the entry in force at the event's time.

use std::collections::HashMap;

#[cfg(test)]
use super::PriceSource;
use super::{canonical_provider, PriceEntry};

/// Every known price, indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    /// Tenant (or "") → provider → model → entries, most specific source first, then newest.
    /// Nested so that a lookup borrows its names instead of building a key.
    entries: HashMap<String, HashMap<String, HashMap<String, Vec<Held>>>>,
}

/// An entry with its version, written once rather than for every event it prices.
#[derive(Debug, Clone)]
struct Held {
    entry: PriceEntry,
    version: String,
}

/// The entry that prices an event.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The entry.
    pub entry: &'a PriceEntry,
    /// Its version ([`PriceEntry::version`]).
    pub version: &'a str,
}

impl<'a> Match<'a> {
    fn of(held: &'a Held) -> Match<'a> {
        Match {
            entry: &held.entry,
            version: &held.version,
        }
    }
}

impl PriceBook {
    /// A book holding `entries`.
    pub fn new(entries: impl IntoIterator<Item = PriceEntry>) -> PriceBook {
        let mut book = PriceBook::default();
        book.extend(entries);
        book
    }

    /// Adds entries. An entry with the same source, tenant, model and `effective_from` as one
    /// already held replaces it.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = PriceEntry>) {
        for e in entries {
            let list = self
                .entries
                .entry(e.tenant_id.clone().unwrap_or_default())
                .or_default()
                .entry(e.provider.clone())
                .or_default()
                .entry(e.model.clone())
                .or_default();
            list.retain(|old| {
                !(old.entry.source == e.source
                    && old.entry.effective_from_us == e.effective_from_us)
            });
            list.push(Held {
                version: e.version(),
                entry: e,
            });
            list.sort_by(|a, b| {
                b.entry
                    .source
                    .cmp(&a.entry.source)
                    .then(b.entry.effective_from_us.cmp(&a.entry.effective_from_us))
            });
        }
    }

    /// Every (tenant or "", provider, model) with its entries.
    fn lists(&self) -> impl Iterator<Item = ((&str, &str, &str), &Vec<Held>)> {
        self.entries.iter().flat_map(|(t, providers)| {
            providers.iter().flat_map(move |(p, models)| {
                models
                    .iter()
                    .map(move |(m, list)| ((t.as_str(), p.as_str(), m.as_str()), list))
            })
        })
    }

    /// Every entry, for listings: tenant-specific ones only for `tenant_id`.
    pub fn entries_for(&self, tenant_id: &str) -> Vec<&PriceEntry> {
        let mut all: Vec<&PriceEntry> = self
            .lists()
            .filter(|((t, _, _), _)| t.is_empty() || *t == tenant_id)
            .flat_map(|(_, list)| list.iter().map(|h| &h.entry))
            .collect();
        all.sort_by(|a, b| {
            (&a.provider, &a.model, a.effective_from_us, a.source).cmp(&(
                &b.provider,
                &b.model,
                b.effective_from_us,
                b.source,
            ))
        });
        all
    }

    /// The entries in force at `at_us` for `tenant_id`: one per provider and model.
    pub fn in_force(&self, tenant_id: &str, at_us: i64) -> Vec<&PriceEntry> {
        let mut keys: Vec<(&str, &str)> = self
            .lists()
            .map(|(key, _)| key)
            .filter(|(t, _, _)| t.is_empty() || *t == tenant_id)
            .map(|(_, p, m)| (p, m))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|(p, m)| self.exact(tenant_id, p, m, at_us))
            .map(|h| &h.entry)
            .collect()
    }

    /// The price of `model` from `provider` for `tenant_id` at `at_us`, if any.
    ///
    /// Names are tried as llmring tries them: `provider:model` (a prefix inside `model` wins),
    /// `provider/model`, then the plain pair; each also without a trailing snapshot date
    /// (`-2024-08-06`, `-20250514`) or `-latest`, so that dated snapshots find their family.
    pub fn find(
        &self,
        tenant_id: &str,
        provider: &str,
        model: &str,
        at_us: i64,
    ) -> Option<Match<'_>> {
        let found = candidates(provider, model)
            .into_iter()
            .find_map(|(p, m)| self.exact(tenant_id, &p, &m, at_us));
        match found {
            Some(held) => Some(Match::of(held)),
            // A bare model name (`gpt-4o`, no provider) is the one provider's that prices it,
            // when exactly one does.
            None if provider.trim().is_empty() => {
                let only = self.only_provider_of(tenant_id, model)?;
                self.find(tenant_id, &only, model, at_us)
            }
            None => None,
        }
    }

    /// The provider whose prices name `model` (or its family without a snapshot date), when
    /// exactly one provider's do.
    fn only_provider_of(&self, tenant_id: &str, model: &str) -> Option<String> {
        let names: Vec<String> = candidates("", model).into_iter().map(|(_, m)| m).collect();
        let mut providers = self
            .lists()
            .map(|(key, _)| key)
            .filter(|(t, p, m)| {
                (t.is_empty() || *t == tenant_id)
                    && !p.is_empty()
                    && *p != TOOL_PROVIDER
                    && names.iter().any(|n| n == m)
            })
            .map(|(_, p, _)| p);
        let first = providers.next()?;
        providers.all(|p| p == first).then(|| first.to_string())
    }

    /// The price of `server`'s tool `tool` (the entry of provider `mcp`, model
    /// `<server>/<tool>`, matched without llmring's name variants) for `tenant_id` at `at_us`.
    pub fn find_tool(
        &self,
        tenant_id: &str,
        server: &str,
        tool: &str,
        at_us: i64,
    ) -> Option<Match<'_>> {
        let model = tool_model(server, tool).to_ascii_lowercase();
        self.exact(tenant_id, TOOL_PROVIDER, &model, at_us)
            .map(Match::of)
    }

    fn exact(&self, tenant_id: &str, provider: &str, model: &str, at_us: i64) -> Option<&Held> {
        let list = |t: &str| self.entries.get(t)?.get(provider)?.get(model);
        // Lists are sorted most specific source first, then newest: the first source holding
        // a price in force wins, even where a less specific source has a newer one.
        let tenant = (!tenant_id.is_empty())
            .then(|| list(tenant_id))
            .flatten()
            .and_then(|list| list.iter().find(|h| h.entry.effective_from_us <= at_us));
        tenant.or_else(|| {
            list("")?
                .iter()
                .find(|h| h.entry.effective_from_us <= at_us)
        })
    }

    /// How many entries the book holds.
    pub fn len(&self) -> usize {
        self.lists().map(|(_, list)| list.len()).sum()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The (provider, model) pairs to try, in order.
/// The provider name of MCP tool executions, in events and in the price book.
pub const TOOL_PROVIDER: &str = "mcp";

/// The model name of `server`'s tool `tool`, in events and in the price book.
pub fn tool_model(server: &str, tool: &str) -> String {
    format!("{server}/{tool}")
}

fn candidates(provider: &str, model: &str) -> Vec<(String, String)> {
    let provider = canonical_provider(provider);
    let mut model = model.trim().to_ascii_lowercase();
    if let Some(rest) = model.strip_prefix("models/") {
        model = rest.to_string();
    }
    let mut pairs = Vec::with_capacity(6);
    for sep in [':', '/'] {
        if let Some((p, m)) = model.split_once(sep) {
            pairs.push((canonical_provider(p), m.to_string()));
        }
    }
    pairs.push((provider, model));
    let undated: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(p, m)| strip_snapshot(m).map(|m| (p.clone(), m)))
        .collect();
    pairs.extend(undated);
    pairs
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-sonnet-4-20250514` → `claude-sonnet-4`;
/// `claude-3-5-haiku-latest` → `claude-3-5-haiku`.
fn strip_snapshot(model: &str) -> Option<String> {
    if let Some(base) = model.strip_suffix("-latest") {
        return Some(base.to_string());
    }
    let bytes = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = bytes.len();
    // -YYYY-MM-DD
    if n > 11
        && bytes[n - 11] == b'-'
        && bytes[n - 6] == b'-'
        && bytes[n - 3] == b'-'
        && digits(&bytes[n - 10..n - 6])
        && digits(&bytes[n - 5..n - 3])
        && digits(&bytes[n - 2..])
    {
        return Some(model[..n - 11].to_string());
    }
    // -YYYYMMDD
    if n > 9 && bytes[n - 9] == b'-' && digits(&bytes[n - 8..]) {
        return Some(model[..n - 9].to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::pricing::Rates;
    use crate::time::{parse_instant, DateEdge};
    use rust_decimal::Decimal;

    fn entry(
        source: PriceSource,
        tenant: Option<&str>,
        model: &str,
        from: &str,
        input: i64,
    ) -> PriceEntry {
        PriceEntry {
            provider: "openai".into(),
            model: model.into(),
            effective_from_us: parse_instant(from, DateEdge::Start).expect("date"),
            currency: Currency::usd(),
            rates: Rates::tokens(Decimal::from(input), Decimal::from(1)),
            source,
            tenant_id: tenant.map(str::to_string),
        }
    }

    fn at(s: &str) -> i64 {
        parse_instant(s, DateEdge::Start).expect("date")
    }

    #[test]
    fn a_tool_is_priced_by_its_tenants_own_price_before_the_shared_one_and_by_exact_name() {
        let tool = |source, tenant: Option<&str>, per_call: i64| PriceEntry {
            provider: TOOL_PROVIDER.into(),
            model: "courts/lookup".into(),
            rates: Rates::per_call(Some(Decimal::from(per_call)), None),
            ..entry(source, tenant, "x", "2026-01-01", 0)
        };
        let book = PriceBook::new([
            tool(PriceSource::File, None, 2),
            tool(PriceSource::Tenant, Some("t1"), 1),
        ]);
        let per_call = |tenant: &str, server: &str, name: &str| {
            book.find_tool(tenant, server, name, at("2026-02-01"))
                .and_then(|m| m.entry.rates.per_call)
        };
        assert_eq!(per_call("t1", "Courts", "lookup"), Some(Decimal::from(1)));
        assert_eq!(per_call("t2", "courts", "lookup"), Some(Decimal::from(2)));
        assert_eq!(per_call("t2", "courts", "lookup-2024-01-01"), None);
        assert_eq!(per_call("t2", "other", "lookup"), None);
        assert!(book
            .find_tool("t2", "courts", "lookup", at("2025-12-31"))
            .is_none());
    }

    #[test]
    fn a_bare_model_name_is_the_only_provider_pricing_it() {
        let mut other = entry(PriceSource::Builtin, None, "shared-model", "2024-01-01", 3);
        other.provider = "mistral".into();
        let book = PriceBook::new([
            entry(PriceSource::Builtin, None, "gpt-4o", "2024-01-01", 5),
            entry(PriceSource::Builtin, None, "shared-model", "2024-01-01", 4),
            other,
        ]);
        let input = |model: &str| {
            book.find("t", "", model, at("2024-05-01"))
                .map(|m| m.entry.rates.tokens.input)
        };
        assert_eq!(input("gpt-4o"), Some(Decimal::from(5)));
        assert_eq!(
            input("gpt-4o-2024-08-06"),
            Some(Decimal::from(5)),
            "a snapshot finds its family"
        );
        assert_eq!(
            input("shared-model"),
            None,
            "two providers price it: name one"
        );
        assert_eq!(input("nothing"), None);
    }

    #[test]
    fn the_entry_in_force_at_the_event_time_is_chosen() {
        let book = PriceBook::new([
            entry(PriceSource::Builtin, None, "gpt-4o", "2024-01-01", 5),
            entry(PriceSource::Builtin, None, "gpt-4o", "2024-08-06", 2),
        ]);
        assert_eq!(
            book.find("t", "openai", "gpt-4o", at("2024-05-01"))
                .expect("priced")
                .entry
                .rates
                .tokens
                .input,
            Decimal::from(5)
        );
        assert_eq!(
            book.find("t", "openai", "gpt-4o", at("2025-01-01"))
                .expect("priced")
                .entry
                .rates
                .tokens
                .input,
            Decimal::from(2)
        );
        assert!(book
            .find("t", "openai", "gpt-4o", at("2023-01-01"))
            .is_none());
    }

    #[test]
    fn a_match_carries_the_version_of_the_entry_it_found_even_after_a_replacement() {
        let mut book = PriceBook::new([
            entry(PriceSource::Builtin, None, "gpt-4o", "2024-01-01", 5),
            entry(PriceSource::File, None, "gpt-4o", "2024-08-06", 2),
        ]);
        let version = |book: &PriceBook, day: &str| {
            let m = book
                .find("t", "openai", "gpt-4o-2024-11-20", at(day))
                .expect("priced");
            assert_eq!(m.version, m.entry.version());
            m.version.to_string()
        };
        assert_eq!(
            version(&book, "2024-05-01"),
            "builtin:openai/gpt-4o@2024-01-01"
        );
        assert_eq!(
            version(&book, "2025-01-01"),
            "file:openai/gpt-4o@2024-08-06"
        );
        book.extend([entry(PriceSource::File, None, "gpt-4o", "2024-08-06", 7)]);
        assert_eq!(book.len(), 2);
        let m = book
            .find("t", "openai", "gpt-4o", at("2025-01-01"))
            .expect("priced");
        assert_eq!(
            (m.version, m.entry.rates.tokens.input),
            ("file:openai/gpt-4o@2024-08-06", Decimal::from(7))
        );
    }

    #[test]
    fn more_specific_sources_win_and_tenant_prices_stay_with_their_tenant() {
        let book = PriceBook::new([
            entry(PriceSource::Builtin, None, "gpt-4o", "2024-08-06", 2),
            entry(PriceSource::File, None, "gpt-4o", "2024-01-01", 3),
            entry(
                PriceSource::Tenant,
                Some("tnt_a"),
                "gpt-4o",
                "2024-01-01",
                9,
            ),
        ]);
        let now = at("2025-01-01");
        assert_eq!(
            book.find("tnt_a", "openai", "gpt-4o", now)
                .expect("p")
                .entry
                .rates
                .tokens
                .input,
            Decimal::from(9)
        );
        assert_eq!(
            book.find("tnt_b", "openai", "gpt-4o", now)
                .expect("p")
                .entry
                .rates
                .tokens
                .input,
            Decimal::from(3)
        );
    }

    #[test]
    fn model_names_match_the_way_llmring_writes_them() {
        let book = PriceBook::new([entry(PriceSource::Builtin, None, "gpt-4o", "2024-08-06", 2)]);
        let now = at("2025-01-01");
        for (p, m) in [
            ("openai", "gpt-4o"),
            ("OpenAI", "GPT-4o"),
            ("anything", "openai:gpt-4o"),
            ("anything", "openai/gpt-4o"),
            ("openai", "gpt-4o-2024-08-06"),
            ("openai", "gpt-4o-latest"),
        ] {
            assert!(book.find("t", p, m, now).is_some(), "{p} {m}");
        }
        assert!(book.find("t", "anthropic", "gpt-4o", now).is_none());
        assert!(book.find("t", "openai", "gpt-4o-mini", now).is_none());
    }

    #[test]
    fn snapshot_suffixes_are_recognised() {
        assert_eq!(
            strip_snapshot("claude-sonnet-4-20250514").as_deref(),
            Some("claude-sonnet-4")
        );
        assert_eq!(
            strip_snapshot("gpt-4o-2024-08-06").as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(strip_snapshot("gpt-4o"), None);
        assert_eq!(strip_snapshot("o1"), None);
    }
}
