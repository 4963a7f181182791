//! The shape of `GET /openapi.json`: the OpenAPI 3.1 document itself, whose full schema is the
//! OpenAPI specification's; here only its required top-level members are typed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An OpenAPI 3.1 document (<https://spec.openapis.org/oas/v3.1.0>).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenApiDocument {
    /// The OpenAPI version, `3.1.0`.
    #[schema(example = "3.1.0")]
    pub openapi: String,
    /// Title, description and version of the API.
    #[schema(value_type = Object)]
    pub info: Value,
    /// The operations by path. Free-form here: their shape is the OpenAPI specification's.
    #[schema(value_type = Object)]
    pub paths: Value,
    /// Schemas, responses and security schemes the operations refer to, and the rest of the
    /// document (`tags`, `security`).
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub rest: Map<String, Value>,
}
