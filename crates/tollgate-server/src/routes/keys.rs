//! The public-key routes (`/receipts/public-key.pem`, `/receipts/public-key.jwk`,
//! `/receipts/public-keys.json`): the Ed25519 keys that sign receipts.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::keys::{Jwk, PublicKeys, PublishedKey};
use tollgate_core::time::format_us;
use tollgate_receipts::keys::PublicKey;

use crate::error::ApiError;
use crate::state::AppState;

async fn current_public(state: &AppState) -> Result<(PublicKey, String), ApiError> {
    let (key, key_id) = state.signer().current().await.map_err(ApiError::internal)?;
    Ok((key.public_key(), key_id))
}

/// The current signing key, PEM
///
/// SubjectPublicKeyInfo PEM of the Ed25519 key that signs receipts now (`openssl pkey -pubin`
/// reads it).
#[utoipa::path(
    get,
    path = "/receipts/public-key.pem",
    tag = "receipts",
    operation_id = "public_key_pem",
    security(()),
    responses(
        (status = 200, description = "The public key, PEM", body = String, content_type = "application/x-pem-file"),
    )
)]
pub async fn public_key_pem(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (key, _) = current_public(&state).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        key.to_spki_pem(),
    )
        .into_response())
}

/// The current signing key, JWK
///
/// The Ed25519 key that signs receipts now, as a JSON Web Key (`kty: OKP`, `crv: Ed25519`).
#[utoipa::path(
    get,
    path = "/receipts/public-key.jwk",
    tag = "receipts",
    operation_id = "public_key_jwk",
    security(()),
    responses((status = 200, description = "The public key as a JWK", body = Jwk)),
)]
pub async fn public_key_jwk(State(state): State<AppState>) -> Result<Json<Jwk>, ApiError> {
    let (key, _) = current_public(&state).await?;
    Ok(Json(key.to_jwk()))
}

/// Every signing key
///
/// Every key that ever signed receipts, with its validity window.
#[utoipa::path(
    get,
    path = "/receipts/public-keys.json",
    tag = "receipts",
    operation_id = "public_keys",
    security(()),
    responses(
        (status = 200, description = "Every key with its validity window, and the current key's id", body = PublicKeys),
    )
)]
pub async fn public_keys(State(state): State<AppState>) -> Result<Json<PublicKeys>, ApiError> {
    let (_, current) = current_public(&state).await?;
    let keys = state
        .store()
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| PublishedKey {
            algorithm: "Ed25519".into(),
            current: k.key_id == current,
            format: "base64url".into(),
            not_after: k.retired_us.map(format_us),
            not_before: format_us(k.created_us),
            public_key: k.public_key,
            key_id: k.key_id,
        })
        .collect();
    Ok(Json(PublicKeys {
        current_key_id: current,
        keys,
    }))
}
