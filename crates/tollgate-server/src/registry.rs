//! The model registry's contents, built from the price book: what `GET /registry/…` lists.
//!
//! A [`View`] is the set of prices in force at one instant for one caller (a tenant's own
//! prices replace the shared ones for that tenant only; no caller sees only shared ones). Its
//! digest is the registry's `version` and `ETag`: a SHA-256 over every listed price's
//! provider, model, source, start, currency and rates (normalised, so `2.50` and `2.5` are the
//! same price), so it changes exactly when the listed prices change. The dates in the
//! registry are the price book's dates (when the newest listed price took effect), never the
//! time of the request, so the same prices always give the same bytes.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tollgate_api::registry::{
    ManifestProvider, ProviderModels, RegistryManifest, RegistryModel, RegistryProvider,
    RegistryResponse,
};
use tollgate_api::usage::PriceSource;
use tollgate_core::pricing::{effective_label, PriceBook, PriceEntry};
use tollgate_core::time::{day_of, day_string, format_us};

/// The prices one caller sees at one instant, one per provider and model, sorted by them.
pub(crate) struct View<'a> {
    entries: Vec<&'a PriceEntry>,
}

impl<'a> View<'a> {
    /// The prices of models in force at `at_us` for `tenant_id` (empty: the shared prices
    /// only). MCP tools' prices are not models, so they are left out.
    pub(crate) fn new(book: &'a PriceBook, tenant_id: &str, at_us: i64) -> View<'a> {
        let mut entries = book.in_force(tenant_id, at_us);
        entries.retain(|e| e.provider != tollgate_core::pricing::TOOL_PROVIDER);
        View { entries }
    }

    /// The prices of one provider.
    pub(crate) fn provider(&self, provider: &str) -> View<'a> {
        View {
            entries: self
                .entries
                .iter()
                .copied()
                .filter(|e| e.provider == provider)
                .collect(),
        }
    }

    /// Whether it lists nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// 16 hex digits of the SHA-256 of the listed prices.
    pub(crate) fn digest(&self) -> String {
        let rate = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
        let mut hash = Sha256::new();
        hash.update(b"tollgate-registry-v1\n");
        for e in &self.entries {
            let line = [
                e.provider.as_str(),
                e.model.as_str(),
                e.source.as_str(),
                &e.effective_from_us.to_string(),
                e.currency.as_str(),
                &rate(Some(e.rates.tokens.input)),
                &rate(Some(e.rates.tokens.output)),
                &rate(e.rates.tokens.cached_input),
                &rate(e.rates.tokens.cache_write),
                &rate(e.rates.tokens.reasoning),
            ]
            .join("\t");
            hash.update(line.as_bytes());
            hash.update(b"\n");
        }
        hex::encode(&hash.finalize()[..8])
    }

    /// When the newest listed price took effect (the epoch when nothing is listed).
    fn newest_us(&self) -> i64 {
        self.entries
            .iter()
            .map(|e| e.effective_from_us)
            .max()
            .unwrap_or(0)
    }

    /// The models, keyed `provider:model`.
    pub(crate) fn models(&self) -> BTreeMap<String, RegistryModel> {
        self.entries
            .iter()
            .map(|e| (format!("{}:{}", e.provider, e.model), model(e)))
            .collect()
    }

    /// The merged registry, under `version`; its providers are those with prices.
    pub(crate) fn response(&self, version: String) -> RegistryResponse {
        let providers = self
            .entries
            .iter()
            .map(|e| (e.provider.clone(), provider_info(&e.provider)))
            .collect();
        RegistryResponse {
            version,
            generated_at: format_us(self.newest_us()),
            models: self.models(),
            providers,
        }
    }

    /// The per-provider file of `provider` (a view of that provider alone).
    pub(crate) fn provider_file(&self, provider: &str) -> ProviderModels {
        ProviderModels {
            provider: provider.to_string(),
            models: self.models(),
            version: date_number(self.newest_us()),
            updated_at: format_us(self.newest_us()),
            digest: self.digest(),
        }
    }

    /// The manifest: the merged version and one line per provider.
    pub(crate) fn manifest(&self) -> RegistryManifest {
        let mut providers = BTreeMap::new();
        for e in &self.entries {
            providers.entry(e.provider.clone()).or_insert_with(|| {
                let one = self.provider(&e.provider);
                let newest = one.newest_us();
                ManifestProvider {
                    file: format!("{}/models.json", e.provider),
                    model_count: i64::try_from(one.entries.len()).unwrap_or(i64::MAX),
                    last_updated: day_string(day_of(newest)),
                    version: date_number(newest),
                }
            });
        }
        RegistryManifest {
            version: self.digest(),
            updated_at: format_us(self.newest_us()),
            providers,
        }
    }
}

/// `YYYYMMDD` of the UTC day of `us`.
fn date_number(us: i64) -> i64 {
    day_string(day_of(us)).replace('-', "").parse().unwrap_or(0)
}

/// A rate as the JSON number llmring reads: the nearest double to the exact decimal.
fn number(d: Decimal) -> Option<f64> {
    d.to_string().parse().ok()
}

fn model(e: &PriceEntry) -> RegistryModel {
    // llmring's rates are dollars: a price in another currency has none of them.
    let usd = e.currency.as_str() == "USD";
    let dollars = |d: Option<Decimal>| d.filter(|_| usd).and_then(number);
    let exact = |d: Option<Decimal>| d.map(|d| d.to_string());
    RegistryModel {
        provider: e.provider.clone(),
        model_name: e.model.clone(),
        display_name: e.model.clone(),
        description: None,
        max_input_tokens: None,
        max_output_tokens: None,
        supports_vision: false,
        supports_function_calling: false,
        supports_json_mode: false,
        supports_parallel_tool_calls: false,
        tool_call_format: None,
        dollars_per_million_tokens_input: dollars(Some(e.rates.tokens.input)),
        dollars_per_million_tokens_output: dollars(Some(e.rates.tokens.output)),
        is_active: true,
        dollars_per_million_tokens_cached_input: dollars(e.rates.tokens.cached_input),
        dollars_per_million_tokens_output_thinking: dollars(e.rates.tokens.reasoning),
        currency: e.currency.to_string(),
        dollars_per_million_tokens_input_exact: e.rates.tokens.input.to_string(),
        dollars_per_million_tokens_output_exact: e.rates.tokens.output.to_string(),
        dollars_per_million_tokens_cached_input_exact: exact(e.rates.tokens.cached_input),
        dollars_per_million_tokens_cache_write_exact: exact(e.rates.tokens.cache_write),
        dollars_per_million_tokens_output_thinking_exact: exact(e.rates.tokens.reasoning),
        effective_from: effective_label(e.effective_from_us),
        price_source: match e.source {
            tollgate_core::pricing::PriceSource::Builtin => PriceSource::Builtin,
            tollgate_core::pricing::PriceSource::File => PriceSource::File,
            tollgate_core::pricing::PriceSource::Database => PriceSource::Database,
            tollgate_core::pricing::PriceSource::Tenant => PriceSource::Tenant,
        },
        price_version: e.version(),
    }
}

/// The provider facts llmring-server gives for the three providers it knows.
fn provider_info(id: &str) -> RegistryProvider {
    let known = |name: &str, base: &str, models: Option<&str>| RegistryProvider {
        name: name.into(),
        base_url: Some(base.into()),
        models_endpoint: models.map(Into::into),
    };
    match id {
        "openai" => known("OpenAI", "https://api.openai.com/v1", Some("/models")),
        "anthropic" => known("Anthropic", "https://api.anthropic.com", None),
        "google" => known(
            "Google",
            "https://generativelanguage.googleapis.com",
            Some("/v1/models"),
        ),
        other => RegistryProvider {
            name: other.into(),
            base_url: None,
            models_endpoint: None,
        },
    }
}

/// Keeps the models of `providers` (none named: every provider) that have every one of
/// `capabilities`. As llmring-server reads a capability: `vision`, `function_calling`,
/// `json_mode` and `parallel_tool_calls` are the `supports_*` flags, any other name is a
/// field of the model that must be truthy. A capability the model does not have, or that is
/// no field at all, keeps nothing: an empty answer, not an error.
pub(crate) fn filter(
    models: &mut BTreeMap<String, RegistryModel>,
    providers: &[String],
    capabilities: &[String],
) {
    models.retain(|_, m| {
        if !providers.is_empty() && !providers.contains(&m.provider) {
            return false;
        }
        if capabilities.is_empty() {
            return true;
        }
        let fields = serde_json::to_value(&*m).unwrap_or_default();
        capabilities.iter().all(|cap| {
            let field = match cap.as_str() {
                "vision" | "function_calling" | "json_mode" | "parallel_tool_calls" => {
                    format!("supports_{cap}")
                }
                _ => cap.clone(),
            };
            truthy(&fields[field.as_str()])
        })
    });
}

fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use tollgate_core::money::Currency;
    use tollgate_core::pricing::{PriceSource as Source, Rates};
    use tollgate_core::time::{parse_instant, DateEdge};

    fn entry(model: &str, input: &str, tenant: Option<&str>) -> PriceEntry {
        PriceEntry {
            provider: "openai".into(),
            model: model.into(),
            effective_from_us: parse_instant("2025-01-02", DateEdge::Start).expect("date"),
            currency: Currency::usd(),
            rates: Rates::tokens(
                Decimal::from_str(input).expect("decimal"),
                Decimal::from(10),
            ),
            source: if tenant.is_some() {
                Source::Tenant
            } else {
                Source::Builtin
            },
            tenant_id: tenant.map(Into::into),
        }
    }

    fn now() -> i64 {
        parse_instant("2026-01-01", DateEdge::Start).expect("date")
    }

    #[test]
    fn the_digest_changes_with_a_price_and_not_with_how_it_is_written() {
        let a = PriceBook::new([entry("gpt-4o", "2.50", None)]);
        let b = PriceBook::new([entry("gpt-4o", "2.5", None)]);
        let c = PriceBook::new([entry("gpt-4o", "2.51", None)]);
        let d = |book: &PriceBook| View::new(book, "", now()).digest();
        assert_eq!(d(&a), d(&b));
        assert_ne!(d(&a), d(&c));
        assert_eq!(d(&a).len(), 16);
    }

    #[test]
    fn a_tenant_sees_its_own_price_and_no_one_else_does() {
        let book = PriceBook::new([
            entry("gpt-4o", "2.50", None),
            entry("gpt-4o", "1.00", Some("tnt_a")),
        ]);
        let rate = |tenant: &str| {
            View::new(&book, tenant, now()).models()["openai:gpt-4o"]
                .dollars_per_million_tokens_input_exact
                .clone()
        };
        assert_eq!(rate("tnt_a"), "1.00");
        assert_eq!(rate("tnt_b"), "2.50");
        assert_eq!(rate(""), "2.50");
    }

    #[test]
    fn the_per_provider_version_is_the_date_of_the_newest_price() {
        let book = PriceBook::new([entry("gpt-4o", "2.50", None)]);
        let file = View::new(&book, "", now())
            .provider("openai")
            .provider_file("openai");
        assert_eq!(file.version, 20250102);
        assert_eq!(file.updated_at, "2025-01-02T00:00:00.000000Z");
    }

    #[test]
    fn capabilities_the_book_does_not_know_keep_nothing_and_fields_are_read_as_truthy() {
        let book = PriceBook::new([entry("gpt-4o", "2.50", None)]);
        let models = View::new(&book, "", now()).models();
        let kept = |caps: &[&str]| {
            let mut m = models.clone();
            let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
            filter(&mut m, &[], &caps);
            m.len()
        };
        assert_eq!(kept(&[]), 1);
        assert_eq!(kept(&["vision"]), 0);
        assert_eq!(kept(&["teleportation"]), 0);
        assert_eq!(kept(&["is_active"]), 1);
    }
}
