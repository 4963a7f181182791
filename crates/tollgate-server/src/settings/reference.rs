//! The settings reference (`docs/settings.md`, `tollgate settings reference`), generated from
//! the settings types: their `///` comments (through their JSON schema) give the descriptions,
//! `Settings::default()` the defaults. Nothing here repeats a setting by hand.

use std::fmt::Write;

use serde_json::{Map, Value};
use utoipa::{PartialSchema, ToSchema};

use super::Settings;

/// What the page says before the tables: how the layers combine and how values are written.
const INTRO: &str = "\
# Settings reference

Generated from the settings code by `tollgate settings reference -o docs/settings.md`; do not
edit by hand.

`tollgate serve` (and every command that opens the database) reads its settings in layers,
each overriding the one before:

1. the defaults listed here;
2. `tollgate.toml` in the working directory, or the file given with `--config FILE`;
3. environment variables: `TOLLGATE_` and the key in upper case, with `__` between the parts
   of a nested key (`billing.account.daily_limit` is `TOLLGATE_BILLING__ACCOUNT__DAILY_LIMIT`).
   A value is read as TOML would read it: `5` is a number, `true` a boolean,
   `'[\"a\", \"b\"]'` a list, `'\"5\"'` a string; anything else is a string. A `TOLLGATE_*`
   variable that names no setting is warned about and ignored;
4. flags: `--listen`, `--data-dir`, `--database-url`, `--log-format`, `--new-signing-key`.

A misspelled key, or a value of the wrong type, stops start-up with an error that names it.

**Amounts** (and other decimals: type `decimal`) may be written as a number or as a string:
`balance_low = 5`, `balance_low = 5.00` and `balance_low = \"5\"` mean the same. They are read
exactly, in the currency's units, to at most nine decimal places. A number with more than 15
significant digits is refused, since a number keeps no more exactly: write such an amount as a
string.

**At start** `tollgate serve` logs a few lines: its version, the database (the SQLite file, or
the PostgreSQL URL with its passwords replaced), the data directory, each setting that differs
from its default (`setting billing.account.daily_limit = \"25\"`), the signing key's id and the
address. Secrets (type `string (secret)`: passwords, keys) are never logged; a changed one
shows as `***`. Logs are coloured only when standard error is a terminal; `log_format = \"json\"`
writes one JSON object per line, and `RUST_LOG` chooses the levels (default `info,sqlx=warn`).

Optional sections (`auth.jwt`, `notifications.smtp`) are off until they are set; their keys
marked *required* must then all be given. `billing.plans` is a table of plans by name.
";

/// The settings reference, as Markdown.
pub fn reference_markdown() -> String {
    let mut components = Vec::new();
    Settings::schemas(&mut components);
    let components: Map<String, Value> = components
        .into_iter()
        .map(|(name, schema)| (name, to_json(&schema)))
        .collect();
    let defaults = serde_json::to_value(Settings::default())
        .expect("the settings serialize: every field is plain data");
    let page = Page {
        components,
        defaults,
    };
    let mut sections = Vec::new();
    page.section(
        &to_json(&Settings::schema()),
        &[],
        "Top level",
        String::new(),
        &mut sections,
    );
    let mut out = String::from(INTRO);
    for section in sections {
        out.push('\n');
        out.push_str(&section);
    }
    out
}

fn to_json(schema: &impl serde::Serialize) -> Value {
    serde_json::to_value(schema).expect("a schema serializes")
}

/// The schemas the settings refer to, and the defaults.
struct Page {
    components: Map<String, Value>,
    defaults: Value,
}

/// One property of a settings struct, its schema unwrapped.
struct Property<'a> {
    /// The referenced schema (a struct, an enum, a decimal) or the property's own.
    schema: &'a Value,
    /// The name of the referenced schema, if any.
    reference: Option<&'a str>,
    description: String,
    /// The default the schema states (where a struct's own default sets it).
    default: Option<&'a Value>,
}

impl Page {
    fn resolve<'a>(&'a self, property: &'a Value) -> Property<'a> {
        let mut description = text(property.get("description"));
        let mut target = property;
        let mut reference = None;
        let inner = property
            .get("oneOf")
            .and_then(Value::as_array)
            .and_then(|options| options.iter().find(|o| o.get("$ref").is_some()));
        if let Some(inner) = inner.or(property.get("$ref").map(|_| property)) {
            if description.is_empty() {
                description = text(inner.get("description"));
            }
            let name = inner["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or_default();
            if let Some(schema) = self.components.get(name) {
                target = schema;
                reference = Some(name);
            }
        }
        Property {
            schema: target,
            reference,
            description,
            default: property.get("default"),
        }
    }

    /// Renders the struct `schema` at `path` as a section, then its nested sections.
    fn section(
        &self,
        schema: &Value,
        path: &[String],
        title: &str,
        lead: String,
        out: &mut Vec<String>,
    ) {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut rows = String::new();
        let mut nested = Vec::new();
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            let mut key = path.to_vec();
            key.push(name.clone());
            let p = self.resolve(property);
            if p.schema.get("properties").is_some() {
                nested.push((key, p));
                continue;
            }
            if let Some(plan) = p
                .schema
                .get("additionalProperties")
                .filter(|a| a.is_object())
            {
                // A table by name: its entries' keys, with the name as a placeholder.
                key.push("<name>".into());
                let entry = self.resolve(plan);
                nested.push((
                    key,
                    Property {
                        description: p.description,
                        ..entry
                    },
                ));
                continue;
            }
            let default = match lookup(&self.defaults, &key) {
                Some(value) => value_text(value),
                None => match p.default {
                    Some(value) => value_text(value),
                    None if required.contains(&name.as_str()) => "*required*".into(),
                    None => "unset".into(),
                },
            };
            let _ = writeln!(
                rows,
                "| `{}` | `{}` | {} | {} | {} |",
                key.join("."),
                env_name(&key),
                self.type_text(&p),
                default,
                cell(&p.description)
            );
        }
        if !rows.is_empty() {
            let mut section = format!("## {title}\n\n");
            if !lead.is_empty() {
                let _ = write!(section, "{lead}\n\n");
            }
            section.push_str("| Key | Environment | Type | Default | Description |\n");
            section.push_str("|---|---|---|---|---|\n");
            section.push_str(&rows);
            out.push(section);
        }
        for (key, p) in nested {
            let own = text(p.schema.get("description"));
            let lead = [p.description.as_str(), own.as_str()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n\n");
            let title = format!("`{}`", key.join("."));
            self.section(p.schema, &key, &title, lead, out);
        }
    }

    fn type_text(&self, p: &Property<'_>) -> String {
        if p.reference == Some("DecimalText") {
            return "decimal (number or string)".into();
        }
        if let Some(values) = p.schema.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values
                .iter()
                .map(|v| format!("`{}`", text(Some(v))))
                .collect();
            return format!("one of {}", values.join(", "));
        }
        match primary_type(p.schema) {
            "string" if p.schema.get("format").and_then(Value::as_str) == Some("password") => {
                "string (secret)".into()
            }
            "array" => {
                let items = p.schema.get("items").map(primary_type).unwrap_or("value");
                format!("list of {items}s")
            }
            other => other.to_string(),
        }
    }
}

/// The schema's type other than null.
fn primary_type(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => "value",
    }
}

fn lookup<'a>(value: &'a Value, key: &[String]) -> Option<&'a Value> {
    key.iter().try_fold(value, |v, part| v.get(part))
}

/// A description on one line, safe in a table cell.
fn cell(description: &str) -> String {
    description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A default as it would be written in `tollgate.toml`; `unset` when there is none (not
/// `none`, which some settings take as a value).
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "unset".into(),
        other => format!("`{}`", other.to_string().replace('|', "\\|")),
    }
}

/// The environment variable that sets `key`.
pub fn env_name(key: &[String]) -> String {
    format!("TOLLGATE_{}", key.join("__").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_lists_every_setting_with_its_variable_default_and_description() {
        let page = reference_markdown();
        for row in [
            "| `listen` | `TOLLGATE_LISTEN` | string | `\"127.0.0.1:8000\"` | Address to listen on. |",
            "| `billing.account.daily_limit` | `TOLLGATE_BILLING__ACCOUNT__DAILY_LIMIT` | decimal (number or string) | `\"10\"` |",
            "| `webhooks.balance_low` | `TOLLGATE_WEBHOOKS__BALANCE_LOW` | decimal (number or string) | unset |",
            "| `auth.jwt.issuer` | `TOLLGATE_AUTH__JWT__ISSUER` | string | *required* |",
            "| `auth.jwt.tenant_claim` | `TOLLGATE_AUTH__JWT__TENANT_CLAIM` | string | `\"tenant\"` |",
            "| `billing.plans.<name>.monthly_requests` | `TOLLGATE_BILLING__PLANS__<NAME>__MONTHLY_REQUESTS` | integer | unset |",
            "| `bootstrap_api_key` | `TOLLGATE_BOOTSTRAP_API_KEY` | string (secret) | unset |",
            "| `log_format` | `TOLLGATE_LOG_FORMAT` | one of `text`, `json` | `\"text\"` |",
            "| `receipts.create_signing_key` | `TOLLGATE_RECEIPTS__CREATE_SIGNING_KEY` | boolean | `false` |",
        ] {
            assert!(page.contains(row), "missing {row}\n{page}");
        }
        assert!(page.contains("## `billing.account`\n"), "{page}");
    }
}
