//! Operating a server: `GET /` and `GET /health`. (`GET /metrics` answers Prometheus text,
//! not JSON.)

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether the server can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// It can (200).
    Ok,
    /// It cannot: its database does not answer (503).
    Unavailable,
}

/// Whether the database answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseStatus {
    /// It answers.
    Ok,
    /// It does not.
    Unreachable,
}

/// The database engine a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The answer to `GET /health`: 200 when the database answers, 503 (with `Retry-After`)
/// when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Whether the server can serve.
    pub status: HealthStatus,
    /// Whether its database answers.
    pub database: DatabaseStatus,
    /// Its database engine.
    pub engine: Engine,
    /// The server's name, `Tollgate` (llmring's `server init` prints it beside the version).
    #[schema(example = "Tollgate")]
    pub name: String,
    /// The server's version; sent only when healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, example = "0.1.0")]
    pub version: Option<String>,
}

/// The answer to `GET /`: what this server is and where to start (llmring-server's root
/// carries `name`, `version` and `docs` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    /// The server's name, `Tollgate`.
    #[schema(example = "Tollgate")]
    pub name: String,
    /// The server's version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The API reference page.
    #[schema(example = "/docs")]
    pub docs: String,
    /// The OpenAPI document.
    #[schema(example = "/openapi.json")]
    pub openapi: String,
    /// The health check.
    #[schema(example = "/health")]
    pub health: String,
    /// The model registry with Tollgate's prices (llmring-server's root links it too).
    #[schema(example = "/registry/")]
    pub registry: String,
}
