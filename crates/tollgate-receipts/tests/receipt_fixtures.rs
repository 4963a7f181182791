//! Receipts issued and signed by an earlier Tollgate, kept byte for byte: every receipt ever
//! handed out must keep verifying, whatever this crate's receipt type becomes.
//!
//! `fixtures/receipt_v1_batch.json` (several models, aliases and profiles, a description and
//! tags) and `fixtures/receipt_v1_single.json` (one conversation's call) were produced by the
//! server before receipts became a type, with `fixtures/receipt_v1_key.pem` the key that
//! signed them.

use serde_json::Value;
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::signature::verify_document;

const KEY: &str = include_str!("fixtures/receipt_v1_key.pem");
const BATCH: &str = include_str!("fixtures/receipt_v1_batch.json");
const SINGLE: &str = include_str!("fixtures/receipt_v1_single.json");

fn key() -> PublicKey {
    PublicKey::from_spki_pem(KEY).expect("the fixture key")
}

#[test]
fn receipts_signed_before_receipts_were_typed_still_verify() {
    for text in [BATCH, SINGLE] {
        let doc: Value = tollgate_receipts::parse_strict(text.as_bytes()).expect("a receipt");
        verify_document(&doc, &key()).expect("the old signature holds");
        assert_eq!(doc["key_id"], key().key_id().as_str());
    }
}
