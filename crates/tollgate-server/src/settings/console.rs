//! The web console under `/ui/`: whether it is served and how long a sign-in lasts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Console settings (`console`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console under `/ui/`.
    pub enabled: bool,
    /// How long a sign-in lasts, in minutes; an end user's ends no later than their token.
    pub session_minutes: u64,
    /// Send the session cookie only over HTTPS (`Secure`). Absent: when the sign-in came
    /// through a trusted proxy that says it was HTTPS (`X-Forwarded-Proto: https`).
    pub secure_cookie: Option<bool>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            session_minutes: 8 * 60,
            secure_cookie: None,
        }
    }
}
