//! How the server talks to the MCP servers tenants register (`/api/v1/mcp/*`): a refresh
//! discovers what one offers, and a resource's content and a prompt's rendering are fetched
//! from it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// MCP settings. A tenant's admin chooses the URL, not the operator, so by default Tollgate
/// neither reaches the server's own networks nor runs commands.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct McpSettings {
    /// Whether a `stdio` server's command line is run (as the server's own user, with its
    /// environment and the server's `auth_config.env`). Off: refreshing such a server by
    /// discovery is refused (422), and its resource content and prompt renderings are null.
    pub allow_stdio: bool,
    /// Whether HTTP servers may be on the server's own networks: loopback, private,
    /// link-local, shared, unique-local and unspecified addresses, and `localhost` (as
    /// `webhooks.allow_private_networks` for webhooks). Off: such a URL is refused (400
    /// `INVALID_URL`) when Tollgate would connect to it.
    pub allow_private_networks: bool,
    /// How long one exchange with an MCP server may take, in milliseconds: an HTTP request
    /// and its answer, or one answer of a `stdio` process.
    pub timeout_ms: u64,
    /// The largest answer read from an MCP server, in bytes (an HTTP body, or one line of a
    /// `stdio` process); a larger one is a failure (502).
    pub max_response_bytes: usize,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            allow_stdio: false,
            allow_private_networks: false,
            timeout_ms: 10_000,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}
