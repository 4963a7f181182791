//! Where the verifying commands get public keys: a local SubjectPublicKeyInfo PEM file
//! (offline), or the list a server publishes at `/api/v1/receipts/public-keys.json`. A
//! published key is used only when its id is the one its bytes give.

use std::path::Path;

use anyhow::{bail, Context};
use tollgate_api::receipts::ReceiptDocument;
use tollgate_client::Client;
use tollgate_receipts::keys::PublicKey;

use super::checks::Report;

/// The server used when neither `--server` nor `TOLLGATE_URL` names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

/// `--server`, else `TOLLGATE_URL`, else the default.
pub fn server_or_default(server: Option<&str>) -> String {
    server
        .map(str::to_string)
        .or_else(|| std::env::var("TOLLGATE_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

/// A public key and where it came from, for messages.
pub struct Trusted {
    /// The key.
    pub key: PublicKey,
    /// Its id (`key_…`), computed from its bytes.
    pub key_id: String,
    /// "the key in FILE", "server URL".
    pub source: String,
}

/// Reads an Ed25519 SubjectPublicKeyInfo PEM file.
pub fn key_from_file(path: &Path) -> anyhow::Result<Trusted> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read public key file {}", path.display()))?;
    let key = PublicKey::from_spki_pem(&pem)
        .with_context(|| format!("{} holds no usable public key", path.display()))?;
    Ok(Trusted {
        key_id: key.key_id(),
        key,
        source: format!("the key in {}", path.display()),
    })
}

/// Every key the server publishes, as (listed id, key); a listed id that does not match
/// its key's bytes is an error, never silently trusted.
pub async fn published_keys(server: &str) -> anyhow::Result<Vec<Trusted>> {
    let client = Client::anonymous(server)?;
    let listed = client
        .public_keys()
        .await
        .with_context(|| format!("cannot fetch the public keys of {server}"))?;
    listed
        .keys
        .iter()
        .map(|k| {
            let listed_id = &k.key_id;
            let key = PublicKey::from_base64url(&k.public_key)
                .with_context(|| format!("{server} publishes an unusable key {listed_id}"))?;
            if key.key_id() != *listed_id {
                bail!(
                    "{server} lists a key as {listed_id} but its bytes give {}",
                    key.key_id()
                );
            }
            Ok(Trusted {
                key_id: key.key_id(),
                key,
                source: format!("published by {server}"),
            })
        })
        .collect()
}

/// The key a receipt names (`key_id`), from the server's published keys.
pub async fn receipt_key_from_server(server: &str, key_id: &str) -> anyhow::Result<Trusted> {
    published_keys(server)
        .await?
        .into_iter()
        .find(|k| k.key_id == key_id)
        .with_context(|| format!("{server} publishes no key {key_id}"))
}

/// Checks a receipt's signature with `trusted`, explaining a failure caused by a key other
/// than the one the receipt names.
pub fn check_signature(report: &mut Report, receipt: &ReceiptDocument, trusted: &Trusted) {
    let named = receipt.receipt.key_id.as_str();
    match receipt.verify(&trusted.key) {
        Ok(()) => report.pass(
            "signature",
            format!(
                "Ed25519 signature by {} ({})",
                trusted.key_id, trusted.source
            ),
        ),
        Err(e) if named != trusted.key_id => report.fail(
            "signature",
            format!(
                "{e}; the receipt names key {named} but {} is {}",
                trusted.source, trusted.key_id
            ),
        ),
        Err(e) => report.fail(
            "signature",
            format!("{e} (key {}, {})", trusted.key_id, trusted.source),
        ),
    }
}
