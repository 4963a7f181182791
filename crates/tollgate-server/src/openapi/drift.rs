//! Comparing the generated document with a committed copy, operation by operation, so that a
//! failing check names what changed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What differs between a `committed` document and the `generated` one: a line per operation
/// (`GET /health`) added, removed or changed, and per other top-level member (`info`,
/// `components`, ...) that changed. Empty when they are the same JSON, whatever the layout.
pub fn differences(committed: &Value, generated: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let (old, new) = (operations(committed), operations(generated));
    for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        match (old.get(key), new.get(key)) {
            (Some(_), None) => found.push(format!("{key}: in the committed copy, not in the code")),
            (None, Some(_)) => found.push(format!("{key}: in the code, not in the committed copy")),
            (Some(a), Some(b)) if a != b => found.push(format!("{key}: changed")),
            _ => {}
        }
    }
    let members = |doc: &Value| -> BTreeSet<String> {
        doc.as_object()
            .map(|o| o.keys().filter(|k| *k != "paths").cloned().collect())
            .unwrap_or_default()
    };
    for key in members(committed).union(&members(generated)) {
        if committed.get(key) != generated.get(key) {
            found.push(format!("{key}: changed"));
        }
    }
    found
}

/// `"METHOD /path"` → operation (or any other member of a path item, by its name).
fn operations(doc: &Value) -> BTreeMap<String, &Value> {
    let mut ops = BTreeMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return ops;
    };
    for (path, item) in paths {
        match item.as_object() {
            Some(members) => {
                for (method, op) in members {
                    ops.insert(format!("{} {path}", method.to_ascii_uppercase()), op);
                }
            }
            None => {
                ops.insert(path.clone(), item);
            }
        }
    }
    ops
}
