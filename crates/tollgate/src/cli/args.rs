//! Parsers of command-line arguments that several commands share.

/// A receipt id as a path segment: not empty, no `/`, not `.` or `..`.
pub fn receipt_id(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || t == "." || t == ".." || t.contains('/') {
        return Err(format!("'{text}' is not a receipt id"));
    }
    Ok(t.to_string())
}
