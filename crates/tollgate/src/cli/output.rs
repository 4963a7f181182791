//! Output for people (tables) and for scripts (`--json`).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde::Serialize;

/// A table with a header row.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Pretty JSON of any value (a wire type, or a `Value`).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .expect("wire types and JSON values have string keys, so they always serialize")
}

/// A two-column table of labelled values, for one object.
pub fn fields(rows: Vec<(&str, String)>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    for (label, value) in rows {
        t.add_row(vec![label.to_string(), value]);
    }
    t.to_string()
}
