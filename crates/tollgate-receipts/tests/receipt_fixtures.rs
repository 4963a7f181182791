//! Receipts issued and signed by an earlier Tollgate, kept byte for byte: every receipt ever
//! handed out must keep verifying, whatever this crate's receipt type becomes.
//!
//! `fixtures/receipt_v1_batch.json` (several models, aliases and profiles, a description and
//! tags) and `fixtures/receipt_v1_single.json` (one conversation's call) were produced by the
//! server before receipts became a type, with `fixtures/receipt_v1_key.pem` the key that
//! signed them.
//!
//! `fixtures/receipt_v2_unpriced.json` was issued by the server before receipts stated their
//! unpriced calls (`tollgate.receipt/v2`): it certifies a priced call and an unpriced one
//! (`acme`/`x-1`, at zero) without saying so. `fixtures/receipt_v2_unpriced_logs.jsonl` holds
//! its logs as `tollgate receipts logs ID --jsonl` exports them, and
//! `fixtures/receipt_v2_key.pem` the key that signed it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::receipt::{
    build, CertifiedEntries, EntryGroup, Issue, Newest, Receipt, ReceiptDocument, Recorded,
    SelectionRecord, FORMAT, FORMAT_V1, FORMAT_V2,
};
use tollgate_receipts::signature::{signing_bytes, verify_document};
use tollgate_receipts::Hash;

const KEY: &str = include_str!("fixtures/receipt_v1_key.pem");
const BATCH: &str = include_str!("fixtures/receipt_v1_batch.json");
const SINGLE: &str = include_str!("fixtures/receipt_v1_single.json");
const V2: &str = include_str!("fixtures/receipt_v2_unpriced.json");
const V2_KEY: &str = include_str!("fixtures/receipt_v2_key.pem");
const V2_LOGS: &str = include_str!("fixtures/receipt_v2_unpriced_logs.jsonl");

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

#[test]
fn an_old_receipt_reads_into_the_receipt_type_and_writes_back_byte_for_byte() {
    for text in [BATCH, SINGLE] {
        let doc: Value = tollgate_receipts::parse_strict(text.as_bytes()).expect("a receipt");
        let received = ReceiptDocument::new(doc.clone()).expect("reads");
        received.verify(&key()).expect("verifies as received");
        let receipt = received.receipt;
        assert_eq!(receipt.format, FORMAT_V1);
        assert_eq!(receipt.profile, Recorded::One("default".into()));
        assert_eq!(receipt.lock_digest, Recorded::One(String::new()));
        receipt.verify(&key()).expect("verifies as a typed value");
        let written = serde_json::to_string(&receipt).expect("writes");
        assert_eq!(written, text.trim_end(), "the same text, byte for byte");
        assert_eq!(
            receipt.signing_bytes().expect("canonical"),
            signing_bytes(&doc).expect("canonical")
        );
    }
}

fn hash(text: &str) -> Hash {
    STANDARD
        .decode(text)
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

/// The calls behind `receipt_v1_batch.json`, grouped as the store sums them.
fn batch_entries(old: &Receipt) -> CertifiedEntries {
    let group = |provider: &str, model: &str, alias: Option<&str>, sums: [i64; 5]| EntryGroup {
        provider: provider.into(),
        model: model.into(),
        alias: alias.map(str::to_string),
        currency: "USD".into(),
        calls: sums[0],
        input_tokens: sums[1],
        output_tokens: sums[2],
        cost_nanos: sums[3],
        input_cost_nanos: sums[4],
        unpriced: 0,
        dimensions: Default::default(),
    };
    let s = &old.batch_summary;
    CertifiedEntries {
        count: 5,
        groups: vec![
            group("acme", "unknown-model", None, [1, 10, 20, 12_300_000, 0]),
            group(
                "anthropic",
                "claude-3-5-sonnet-20241022",
                None,
                [1, 10, 20, 330_000, 30_000],
            ),
            group(
                "openai",
                "gpt-4o",
                Some("chat"),
                [2, 1241, 570, 8_802_500, 3_102_500],
            ),
            group(
                "openai",
                "gpt-4o-mini",
                Some("extract"),
                [1, 99, 1, 15_450, 14_850],
            ),
        ],
        newest: Some(Newest {
            provider: "acme".into(),
            model: "unknown-model".into(),
            alias: None,
        }),
        profiles: vec!["default".into(), "prod".into(), "staging".into()],
        lock_digests: vec![String::new()],
        conversation_count: s.total_conversations,
        conversation_ids: s.conversation_ids.clone(),
        log_ids: s.log_ids.clone(),
        first_time: s.start_date.clone(),
        last_time: s.end_date.clone(),
        root: hash(&old.certified.merkle_root),
    }
}

#[test]
fn building_an_old_receipts_calls_again_gives_its_fields_and_the_profiles_they_recorded() {
    let old = Receipt::read(&serde_json::from_str(BATCH).expect("JSON")).expect("a receipt");
    let issue = Issue {
        receipt_id: old.receipt_id.clone(),
        timestamp: old.timestamp.clone(),
        tenant_id: old.tenant_id.clone(),
        key_id: old.key_id.clone(),
        selection: SelectionRecord::since_last_receipt(),
        description: old.description.clone(),
        tags: old.tags.clone().unwrap_or_default(),
        inline_ids: 100,
        checkpoint: old.checkpoint.clone(),
    };
    let built = build(&batch_entries(&old), issue).expect("builds");
    assert_eq!(
        built.profile,
        Recorded::Several(vec!["default".into(), "prod".into(), "staging".into()]),
        "the calls recorded three profiles; v1 said \"default\" whatever they recorded"
    );
    assert_eq!(built.lock_digest, Recorded::One(String::new()));
    assert_eq!(built.format, FORMAT);
    assert_eq!(built.unpriced_events, Some(0));
    let mut as_v1 = Receipt {
        format: FORMAT_V1.into(),
        profile: Recorded::One("default".into()),
        signature: old.signature.clone(),
        unpriced_events: None,
        ..built
    };
    as_v1.batch_summary.by_dimension = None;
    for b in as_v1
        .batch_summary
        .by_model
        .values_mut()
        .chain(as_v1.batch_summary.by_alias.values_mut())
    {
        b.unpriced_calls = None;
    }
    assert_eq!(as_v1, old, "every other field as the old code built it");
    assert_eq!(
        serde_json::to_string(&as_v1).expect("writes"),
        BATCH.trim_end()
    );
}

#[test]
fn a_v2_receipt_certifying_an_unpriced_call_without_stating_it_still_verifies_unchanged() {
    let key = PublicKey::from_spki_pem(V2_KEY).expect("the fixture key");
    let doc: Value = tollgate_receipts::parse_strict(V2.as_bytes()).expect("a receipt");
    verify_document(&doc, &key).expect("the v2 signature holds");
    let received = ReceiptDocument::new(doc.clone()).expect("reads");
    received.verify(&key).expect("verifies as received");
    let receipt = received.receipt;
    assert_eq!(receipt.format, FORMAT_V2);
    assert_eq!(
        receipt.unpriced_events, None,
        "a v2 receipt does not state it"
    );
    assert!(!tollgate_receipts::receipt::states_unpriced(
        &receipt.format
    ));
    let x1 = &receipt.batch_summary.by_model["x-1"];
    assert_eq!((x1.calls, x1.unpriced_calls), (1, None));
    assert_eq!(x1.amounts["USD"], "0.000000000");
    receipt.verify(&key).expect("verifies as a typed value");
    assert_eq!(
        serde_json::to_string(&receipt).expect("writes"),
        V2.trim_end(),
        "the same text, byte for byte"
    );
    // What it did not say: one of the entries it certifies was recorded unpriced.
    let flagged = V2_LOGS
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|l| l["flags"] == serde_json::json!(["unpriced"]))
        .count();
    assert_eq!(flagged, 1);
}
