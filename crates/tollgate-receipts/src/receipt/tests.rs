use serde_json::json;

use super::*;
use crate::keys::SigningKey;

fn group(model: &str, alias: Option<&str>, currency: &str, calls: i64, cost: i64) -> EntryGroup {
    EntryGroup {
        provider: "openai".into(),
        model: model.into(),
        alias: alias.map(str::to_string),
        currency: currency.into(),
        calls,
        input_tokens: 10 * calls,
        output_tokens: 5 * calls,
        cost_nanos: cost,
        input_cost_nanos: cost / 4,
        unpriced: 0,
        dimensions: BTreeMap::new(),
    }
}

/// `calls` unpriced calls of `model`: zero cost, flagged.
fn unpriced(model: &str, calls: i64) -> EntryGroup {
    EntryGroup {
        provider: "acme".into(),
        unpriced: calls,
        ..group(model, None, "USD", calls, 0)
    }
}

fn entries(groups: Vec<EntryGroup>) -> CertifiedEntries {
    CertifiedEntries {
        count: groups.iter().map(|g| g.calls).sum(),
        newest: groups.last().map(|g| Newest {
            provider: g.provider.clone(),
            model: g.model.clone(),
            alias: g.alias.clone(),
        }),
        groups,
        profiles: vec!["default".into()],
        lock_digests: vec![String::new()],
        conversation_count: 0,
        conversation_ids: vec![],
        log_ids: vec!["a".into(), "b".into(), "c".into()],
        first_time: "2026-02-03T10:00:00.000000Z".into(),
        last_time: "2026-02-03T11:00:00.000000Z".into(),
        root: [7; 32],
    }
}

fn issue() -> Issue {
    Issue {
        receipt_id: "rcpt_1".into(),
        timestamp: "2026-02-04T00:00:00.000000Z".into(),
        tenant_id: "tnt_1".into(),
        key_id: "key_1".into(),
        selection: SelectionRecord::since_last_receipt(),
        description: None,
        tags: vec![],
        inline_ids: 2,
        checkpoint: CheckpointRef::new("tollgate/tnt_1".into(), 3, &[9; 32]),
    }
}

#[test]
fn a_batch_receipt_sums_its_groups_exactly_and_labels_itself_by_its_newest_call() {
    let e = entries(vec![
        group("gpt-4o", Some("chat"), "USD", 2, 1_000_000_001),
        group("gpt-4o-mini", None, "USD", 1, 22_500),
    ]);
    let r = build(&e, issue()).expect("builds");
    assert_eq!(r.receipt_type, ReceiptType::Batch);
    assert_eq!(r.model, "batch:3 calls");
    assert_eq!(r.alias, "default", "the newest call had no alias");
    assert_eq!(r.prompt_tokens, 30);
    assert_eq!(r.completion_tokens, 15);
    assert_eq!(r.total_tokens, 45);
    assert_eq!(r.amounts["USD"].total_cost, "1.000022501");
    assert_eq!(r.amounts["USD"].input_cost, "0.250005625");
    assert_eq!(r.amounts["USD"].output_cost, "0.750016876");
    assert_eq!(r.total_cost, 1.000022501);
    assert_eq!(r.batch_summary.by_model["gpt-4o"].calls, 2);
    assert_eq!(
        r.batch_summary.by_alias["default"].amounts["USD"],
        "0.000022500"
    );
    assert_eq!(r.batch_summary.log_ids, ["a", "b"]);
    assert!(!r.batch_summary.log_ids_complete, "three ids, two shown");
    assert!(r.batch_summary.conversation_ids_complete);
    assert_eq!(r.tags, None);
    assert_eq!(r.signature, None);
    assert_eq!(r.format, FORMAT);
}

#[test]
fn a_receipt_of_one_call_names_its_model() {
    let r = build(&entries(vec![group("gpt-4o", None, "USD", 1, 5)]), issue()).expect("builds");
    assert_eq!(r.receipt_type, ReceiptType::Single);
    assert_eq!(r.model, "gpt-4o");
}

#[test]
fn llmrings_floats_are_in_usd_whenever_a_call_was() {
    let e = entries(vec![
        group("a", None, "EUR", 1, 3_000_000_000),
        group("b", None, "USD", 1, 1_000_000_000),
    ]);
    let r = build(&e, issue()).expect("builds");
    assert_eq!(r.currency, "USD");
    assert_eq!(r.total_cost, 1.0);
    assert_eq!(r.amounts["EUR"].total_cost, "3.000000000");
    assert_eq!(r.batch_summary.by_model["a"].cost, 0.0);
    let only_eur = entries(vec![group("a", None, "EUR", 1, 3_000_000_000)]);
    assert_eq!(build(&only_eur, issue()).expect("builds").currency, "EUR");
}

#[test]
fn an_empty_set_or_an_overflowing_total_is_refused() {
    assert_eq!(build(&entries(vec![]), issue()), Err(ReceiptError::Empty));
    let e = entries(vec![
        group("a", None, "USD", 1, i64::MAX),
        group("b", None, "USD", 1, 1),
    ]);
    assert!(matches!(build(&e, issue()), Err(ReceiptError::Overflow(_))));
}

#[test]
fn a_label_the_events_agree_on_is_one_string_and_otherwise_their_sorted_values() {
    let one = Recorded::of(["prod".to_string(), "prod".to_string()]);
    assert_eq!(serde_json::to_value(&one).expect("json"), json!("prod"));
    let several = Recorded::of(["b".to_string(), "a".to_string(), "b".to_string()]);
    assert_eq!(
        serde_json::to_value(&several).expect("json"),
        json!(["a", "b"])
    );
    assert_eq!(several.to_string(), "a, b");
    assert_eq!(
        Recorded::of(Vec::<String>::new()),
        Recorded::One(String::new())
    );
    let read: Recorded = serde_json::from_value(json!(["x", "y"])).expect("reads");
    assert_eq!(read, Recorded::Several(vec!["x".into(), "y".into()]));
}

#[test]
fn the_receipt_says_what_its_events_recorded() {
    let mut e = entries(vec![group("gpt-4o", None, "USD", 2, 5)]);
    e.profiles = vec!["staging".into(), "prod".into()];
    e.lock_digests = vec!["sha256:ab".into()];
    let r = build(&e, issue()).expect("builds");
    assert_eq!(
        r.profile,
        Recorded::Several(vec!["prod".into(), "staging".into()])
    );
    assert_eq!(r.lock_digest, Recorded::One("sha256:ab".into()));
}

#[test]
fn a_signed_receipt_verifies_and_any_change_to_it_does_not() {
    let key = SigningKey::generate();
    let mut i = issue();
    i.tags = vec!["monthly".into()];
    i.description = Some("October".into());
    let r = build(&entries(vec![group("gpt-4o", None, "USD", 2, 5)]), i)
        .expect("builds")
        .sign(&key)
        .expect("signs");
    let signature = r.signature.clone().expect("signed");
    assert!(signature.starts_with("ed25519:"));
    r.verify(&key.public_key()).expect("verifies");
    let received = ReceiptDocument::new(r.to_value()).expect("reads");
    received
        .verify(&key.public_key())
        .expect("verifies as received");
    assert_eq!(received.receipt, r);
    let mut changed = r.clone();
    changed.profile = Recorded::One("other".into());
    assert!(changed.verify(&key.public_key()).is_err());
    // Signing again replaces the signature rather than covering it.
    assert_eq!(
        r.clone().sign(&key).expect("signs").signature,
        Some(signature)
    );
    // A member the type does not know still counts when the received document is checked.
    let mut added = r.to_value();
    added["extra"] = json!(1);
    let added = ReceiptDocument::new(added).expect("reads, leaving the member out");
    assert!(added.verify(&key.public_key()).is_err());
    assert!(
        added.receipt.verify(&key.public_key()).is_ok(),
        "the reading alone misses it"
    );
}

#[test]
fn an_unsigned_receipt_has_no_signature_member() {
    let r = build(&entries(vec![group("gpt-4o", None, "USD", 1, 5)]), issue()).expect("builds");
    let v = r.to_value();
    assert!(v.get("signature").is_none(), "{v}");
    assert_eq!(
        v["description"],
        serde_json::Value::Null,
        "null, not absent"
    );
    assert_eq!(v["selection"], json!({"mode": "since_last_receipt"}));
}

#[test]
fn amounts_print_with_nine_places() {
    assert_eq!(decimal(22_500), "0.000022500");
    assert_eq!(decimal(-1_500_000_000), "-1.500000000");
    assert_eq!(decimal(i64::MIN), "-9223372036.854775808");
    assert_eq!(float(47_500), 0.0000475);
}

#[test]
fn an_amount_becomes_the_float_its_exact_decimal_text_parses_to() {
    let edge = 1_i64 << 53;
    let mut amounts = vec![0, 1, -1, 999_999_999, 1_000_000_001, i64::MAX, i64::MIN];
    for base in [edge, -edge] {
        amounts.extend((-3..=3).map(|d| base + d));
    }
    for n in amounts {
        let parsed: f64 = decimal(n).parse().expect("a decimal");
        assert_eq!(float(n).to_bits(), parsed.to_bits(), "{n}");
    }
}

proptest::proptest! {
    #[test]
    fn every_amount_becomes_the_float_its_exact_decimal_text_parses_to(n in proptest::prelude::any::<i64>()) {
        let parsed: f64 = decimal(n).parse().expect("a decimal");
        proptest::prop_assert_eq!(float(n).to_bits(), parsed.to_bits());
    }

    #[test]
    fn every_amount_up_to_nine_million_units_becomes_its_parsed_float(
        n in -(1_i64 << 53)..=(1_i64 << 53)
    ) {
        let parsed: f64 = decimal(n).parse().expect("a decimal");
        proptest::prop_assert_eq!(float(n).to_bits(), parsed.to_bits());
    }
}

#[test]
fn a_receipt_states_how_many_of_its_calls_are_unpriced_in_total_and_per_breakdown() {
    let e = entries(vec![
        group("gpt-4o", Some("chat"), "USD", 2, 1_000),
        unpriced("x-1", 3),
    ]);
    let r = build(&e, issue()).expect("builds");
    assert_eq!(r.format, FORMAT_V4);
    assert_eq!(r.unpriced_events, Some(3));
    assert_eq!(r.batch_summary.by_model["x-1"].unpriced_calls, Some(3));
    assert_eq!(r.batch_summary.by_model["gpt-4o"].unpriced_calls, Some(0));
    assert_eq!(r.batch_summary.by_alias["default"].unpriced_calls, Some(3));
    assert_eq!(r.batch_summary.by_alias["chat"].unpriced_calls, Some(0));
    assert_eq!(
        r.amounts["USD"].total_cost, "0.000001000",
        "unpriced at zero"
    );
}

#[test]
fn a_v3_receipt_signs_its_unpriced_count_even_when_it_is_zero() {
    let key = SigningKey::generate();
    let none = build(&entries(vec![group("gpt-4o", None, "USD", 1, 5)]), issue())
        .expect("builds")
        .sign(&key)
        .expect("signs");
    let bytes = String::from_utf8(none.signing_bytes().expect("canonical")).expect("utf-8");
    assert!(
        bytes.contains(r#""format":"tollgate.receipt/v4""#),
        "{bytes}"
    );
    assert!(
        bytes.ends_with(r#""total_tokens":15,"unpriced_events":0}"#),
        "zero is stated, as the last member: {bytes}"
    );
    assert!(
        bytes.contains(r#""tokens":15,"unpriced_calls":0}"#),
        "{bytes}"
    );

    let some = build(&entries(vec![unpriced("x-1", 1)]), issue())
        .expect("builds")
        .sign(&key)
        .expect("signs");
    some.verify(&key.public_key()).expect("verifies");
    for (what, edit) in [
        ("a changed count", json!(0)),
        ("a dropped count", serde_json::Value::Null),
    ] {
        let mut doc = some.to_value();
        match edit {
            serde_json::Value::Null => {
                doc.as_object_mut()
                    .expect("object")
                    .remove("unpriced_events");
            }
            n => doc["unpriced_events"] = n,
        }
        let received = ReceiptDocument::new(doc).expect("reads");
        assert!(received.verify(&key.public_key()).is_err(), "{what}");
    }
}

#[test]
fn a_v2_receipt_has_no_unpriced_members_and_reads_as_not_stating_them() {
    let mut v3 = build(&entries(vec![unpriced("x-1", 1)]), issue()).expect("builds");
    // A v2 receipt is a v4 one without the dimensions and the count.
    v3.format = FORMAT_V2.into();
    v3.unpriced_events = None;
    v3.batch_summary.by_dimension = None;
    for b in v3
        .batch_summary
        .by_model
        .values_mut()
        .chain(v3.batch_summary.by_alias.values_mut())
    {
        b.unpriced_calls = None;
    }
    let text = String::from_utf8(v3.signing_bytes().expect("canonical")).expect("utf-8");
    assert!(!text.contains("unpriced"), "{text}");
    let read = Receipt::read(&serde_json::from_str(&text).expect("JSON")).expect("reads");
    assert_eq!(read.unpriced_events, None);
    assert!(!states_unpriced(&read.format));
    assert!(!states_unpriced(FORMAT_V1));
    assert!(states_unpriced(FORMAT_V3));
    assert!(states_unpriced(FORMAT));
}

/// `group` with `dimensions` recorded.
fn with_dimensions(g: EntryGroup, dims: &[(&str, &str)]) -> EntryGroup {
    EntryGroup {
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..g
    }
}

#[test]
fn a_receipt_breaks_its_calls_down_by_each_dimension_they_recorded_value_by_value() {
    let e = entries(vec![
        with_dimensions(
            group("gpt-4o", None, "USD", 2, 1_000),
            &[("kb_id", "kb_1"), ("team", "search")],
        ),
        with_dimensions(group("gpt-4o", None, "USD", 1, 500), &[("kb_id", "kb_2")]),
        with_dimensions(group("gpt-4o", None, "EUR", 1, 70), &[("kb_id", "kb_1")]),
        group("gpt-4o-mini", None, "USD", 4, 40),
    ]);
    let r = build(&e, issue()).expect("builds");
    assert_eq!(r.format, FORMAT_V4);
    let dims = r.batch_summary.by_dimension.as_ref().expect("stated");
    assert_eq!(
        dims.keys().collect::<Vec<_>>(),
        ["kb_id", "team"],
        "one entry per dimension any call recorded"
    );
    let kb1 = &dims["kb_id"]["kb_1"];
    assert_eq!(kb1.calls, 3);
    assert_eq!(kb1.amounts["USD"], "0.000001000");
    assert_eq!(kb1.amounts["EUR"], "0.000000070", "each currency apart");
    assert_eq!(dims["kb_id"]["kb_2"].calls, 1);
    assert_eq!(
        dims["kb_id"].values().map(|b| b.calls).sum::<i64>(),
        4,
        "the four calls without a kb_id are under no value"
    );
    assert_eq!(dims["team"]["search"].calls, 2);
    assert_eq!(dims["team"].len(), 1);
}

#[test]
fn a_v4_receipt_signs_its_dimension_breakdown_even_when_it_is_empty() {
    let key = SigningKey::generate();
    let plain = build(&entries(vec![group("gpt-4o", None, "USD", 1, 5)]), issue())
        .expect("builds")
        .sign(&key)
        .expect("signs");
    let bytes = String::from_utf8(plain.signing_bytes().expect("canonical")).expect("utf-8");
    assert!(bytes.contains(r#""by_dimension":{}"#), "{bytes}");

    let tagged = build(
        &entries(vec![with_dimensions(
            group("gpt-4o", None, "USD", 1, 5),
            &[("kb_id", "kb_1")],
        )]),
        issue(),
    )
    .expect("builds")
    .sign(&key)
    .expect("signs");
    tagged.verify(&key.public_key()).expect("verifies");
    let mut doc = tagged.to_value();
    doc["batch_summary"]["by_dimension"]["kb_id"]["kb_2"] =
        doc["batch_summary"]["by_dimension"]["kb_id"]["kb_1"].take();
    doc["batch_summary"]["by_dimension"]["kb_id"]
        .as_object_mut()
        .expect("object")
        .remove("kb_1");
    let received = ReceiptDocument::new(doc).expect("reads");
    assert!(
        received.verify(&key.public_key()).is_err(),
        "a value moved to another is caught"
    );
}
