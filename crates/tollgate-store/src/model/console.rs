//! Sessions of the web console: who a signed-in browser is, until when.

/// Who a console session speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionHolder {
    /// A tenant API key, by the hash `api_keys` holds: checked on every request.
    Key {
        /// SHA-256 (hex) of the key.
        key_hash: String,
    },
    /// An end user who signed in with a token.
    User {
        /// The user's id (the token's `sub`).
        user_id: String,
    },
}

/// A console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the id the browser holds.
    pub id_hash: String,
    /// The tenant it acts on.
    pub tenant_id: String,
    /// Who it speaks for.
    pub holder: SessionHolder,
    /// The token every form must send back.
    pub csrf_token: String,
    /// When it was opened.
    pub created_us: i64,
    /// When it ends.
    pub expires_us: i64,
}
