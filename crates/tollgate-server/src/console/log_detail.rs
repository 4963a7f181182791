//! `GET /ui/logs/{log_id}`: one call in full, as `GET /api/v1/logs/{log_id}` answers it with
//! the viewer's credentials: every field, its canonical entry exactly as stored (and laid out
//! to be read), the entry's leaf hash and the price version it was costed at.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;
use tollgate_api::usage::UsageExportLine;

use super::fmt::{instant, money};
use super::logs::{dimension_text, flag_words};
use super::page::{render, Chrome, ConsoleError};
use super::session::Viewer;
use crate::auth::need;
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::routes::logs;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/log_detail.html")]
struct LogPage {
    chrome: Chrome,
    time: String,
    model: String,
    cost: String,
    price_version: String,
    flags: Vec<&'static str>,
    dimensions: String,
    fields: Vec<(String, String)>,
    entry_pretty: String,
    entry_raw: String,
    leaf_hash: String,
    index: i64,
}

/// A field's value as the page shows it: text as it is, nothing as a dash, anything else as
/// its JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every field of the API's answer but the entry (shown on its own), by name.
fn fields(line: &UsageExportLine) -> Result<Vec<(String, String)>, ApiError> {
    let value = serde_json::to_value(line)
        .map_err(|e| ApiError::internal(format!("a log does not serialize: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::internal("a log is not a JSON object"));
    };
    Ok(map
        .iter()
        .filter(|(k, _)| k.as_str() != "entry")
        .map(|(k, v)| (k.clone(), shown(v)))
        .collect())
}

/// JSON text laid out one member per line, two spaces per level. Only whitespace between
/// tokens is added; every string, number and literal keeps its exact bytes, so the text read
/// without that whitespace is the entry as stored.
fn indent(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let empty = matches!(chars.peek(), Some('}' | ']'));
                if !empty {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                if !matches!(out.chars().last(), Some('{' | '[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// `GET /ui/logs/{log_id}`: one call. Another tenant's id is the same 404 as a missing one,
/// because the API's handler answers it.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(log_id): Path<String>,
) -> Result<Response, ConsoleError> {
    let axum::Json(line) =
        logs::one(State(state), viewer.may::<need::Read>()?, PathParam(log_id)).await?;
    let e = &line.log;
    let page = LogPage {
        chrome: Chrome::new(&viewer, "Logged call", "/ui/logs"),
        time: instant(&e.logged_at),
        model: format!("{} / {}", e.provider, e.model),
        cost: money(&e.cost_exact, &e.currency),
        price_version: e.price_version.clone().unwrap_or_else(|| "none".into()),
        flags: flag_words(e),
        dimensions: dimension_text(e),
        fields: fields(&line)?,
        entry_pretty: indent(&line.entry),
        entry_raw: line.entry.clone(),
        leaf_hash: line.leaf_hash.clone(),
        index: line.index,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::indent;

    fn without_layout(text: &str) -> String {
        // The layout adds newlines, two-space indents and a space after colons; the sample's
        // strings hold none of those, so taking them out must give the entry back.
        text.replace("\n", "").replace(": ", ":").replace("  ", "")
    }

    #[test]
    fn laying_out_an_entry_adds_only_whitespace_and_keeps_every_value_exact() {
        let entry = r#"{"a":[],"b":{},"c":[1,2.50,1e400],"d":{"e":"x,{y}:[\"z\"]\\"},"f":null}"#;
        let pretty = indent(entry);
        assert_eq!(without_layout(&pretty), entry);
        assert!(
            pretty.contains("\n  \"c\": [\n    1,\n    2.50,\n    1e400\n  ]"),
            "{pretty}"
        );
        assert!(pretty.contains("\"a\": []"), "{pretty}");
    }
}
