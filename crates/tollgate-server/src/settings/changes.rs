//! The settings that differ from the defaults, as dotted keys and values: what `tollgate
//! serve` logs at start, so that an operator sees what this instance was told without the
//! whole settings. Secrets come out as `***` (see `secret`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Settings;

/// Each setting whose value differs from its default, by dotted key, with its value as JSON
/// text (`"127.0.0.1:9000"`, `5`, `"***"`), in key order.
pub fn changed_settings(settings: &Settings) -> Vec<(String, String)> {
    let mut now = BTreeMap::new();
    flatten(&to_value(settings), String::new(), &mut now);
    let mut default = BTreeMap::new();
    flatten(&to_value(&Settings::default()), String::new(), &mut default);
    let mut keys: Vec<&String> = now.keys().chain(default.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| now.get(*key) != default.get(*key))
        // A default empty or absent table now filled in shows as the keys it holds.
        .filter(|key| {
            now.contains_key(*key) || !now.keys().any(|k| k.starts_with(&format!("{key}.")))
        })
        .map(|key| {
            let value = now.get(key).unwrap_or(&Value::Null);
            (key.clone(), value.to_string())
        })
        .collect()
}

fn to_value(settings: &Settings) -> Value {
    serde_json::to_value(settings).expect("the settings serialize: every field is plain data")
}

/// Leaves by dotted key; an empty table counts as a leaf so that one set empty shows.
fn flatten(value: &Value, prefix: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, inner) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(inner, key, out);
            }
        }
        leaf => {
            out.insert(prefix, leaf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn only_settings_that_differ_from_the_defaults_are_listed_with_secrets_redacted() {
        assert!(changed_settings(&Settings::default()).is_empty());
        let mut s = Settings {
            listen: "0.0.0.0:9000".parse().expect("addr"),
            database_url: Some(SecretString::from("postgres://u:hunter2@db/tollgate")),
            bootstrap_api_key: Some(SecretString::from("tg_supersecret")),
            ..Settings::default()
        };
        s.billing.account.daily_limit = None;
        s.billing.plans.insert(
            "gold".into(),
            super::super::PlanSettings {
                monthly_requests: Some(7),
            },
        );
        let changed = changed_settings(&s);
        let text = format!("{changed:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("supersecret"),
            "{text}"
        );
        let expected: Vec<(String, String)> = [
            ("billing.account.daily_limit", "null"),
            ("billing.plans.gold.monthly_requests", "7"),
            ("bootstrap_api_key", "\"***\""),
            ("database_url", "\"postgres://u:***@db/tollgate\""),
            ("listen", "\"0.0.0.0:9000\""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(changed, expected);
    }
}
