//! `tollgate receipts …`: generation, export, offline verification and inclusion proofs.

use serde_json::Value;

use super::{arg, http_get, log_batch, Sandbox};

#[test]
fn a_generated_receipt_verifies_with_the_servers_keys_and_with_its_published_pem() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);
    let receipt = sb.generate(&server, "receipt.json");
    assert_eq!(receipt["certified"]["count"], 3);
    let file = sb.path("receipt.json");

    let out = sb
        .run(&["receipts", "verify", arg(&file), "--server", &server.url])
        .expect(0);
    assert!(out.stdout.contains("✓ signature"), "{}", out.stdout);

    let (status, pem) = http_get(&server.url, "/receipts/public-key.pem");
    assert_eq!(status, 200);
    let pem_file = sb.path("public.pem");
    std::fs::write(&pem_file, pem).expect("writes the key");
    sb.run(&[
        "receipts",
        "verify",
        arg(&file),
        "--public-key",
        arg(&pem_file),
    ])
    .expect(0);

    // llmring keeps receipts as {"receipts": [...]}; the first one is checked.
    let wrapped = sb.path("wrapped.json");
    std::fs::write(
        &wrapped,
        serde_json::json!({ "receipts": [receipt] }).to_string(),
    )
    .expect("writes");
    sb.run(&[
        "receipts",
        "verify",
        arg(&wrapped),
        "--public-key",
        arg(&pem_file),
    ])
    .expect(0);
}

#[test]
fn a_tampered_receipt_fails_verification_with_exit_code_1() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 2);
    let mut receipt = sb.generate(&server, "receipt.json");
    receipt["prompt_tokens"] = Value::from(receipt["prompt_tokens"].as_i64().expect("int") - 1);
    let tampered = sb.path("tampered.json");
    std::fs::write(&tampered, receipt.to_string()).expect("writes");
    let out = sb
        .run(&[
            "receipts",
            "verify",
            arg(&tampered),
            "--server",
            &server.url,
        ])
        .expect(1);
    assert!(out.stdout.contains("✗ signature"), "{}", out.stdout);
    assert!(out.stdout.contains("INVALID"), "{}", out.stdout);
}

#[test]
fn a_missing_receipt_file_or_conflicting_flags_are_usage_errors_with_exit_code_2() {
    let sb = Sandbox::new();
    let missing = sb.path("missing.json");
    let out = sb
        .run(&[
            "receipts",
            "verify",
            arg(&missing),
            "--server",
            "http://127.0.0.1:9",
        ])
        .expect(2);
    assert!(
        out.stderr.contains("cannot read receipt file"),
        "{}",
        out.stderr
    );
    sb.run(&[
        "receipts",
        "verify",
        arg(&missing),
        "--server",
        "http://x",
        "--public-key",
        "k.pem",
    ])
    .expect(2);
    sb.run(&[
        "receipts",
        "generate",
        "--api-key",
        "k",
        "--since-last",
        "--conversation",
        "c",
    ])
    .expect(2);
    sb.run(&[
        "receipts",
        "preview",
        "--api-key",
        "k",
        "--start",
        "2025-01-01",
    ])
    .expect(2);
}

/// Rewrites a JSON-lines file through `edit`.
fn rewrite(from: &std::path::Path, to: &std::path::Path, edit: impl Fn(Vec<Value>) -> Vec<Value>) {
    let lines: Vec<Value> = std::fs::read_to_string(from)
        .expect("reads")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let text: String = edit(lines).iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(to, text).expect("writes");
}

#[test]
fn exported_logs_recompute_the_receipts_root_and_totals_and_any_edit_is_caught() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 5);
    let receipt = sb.generate(&server, "receipt.json");
    let id = receipt["receipt_id"].as_str().expect("id");
    let file = sb.path("receipt.json");
    let logs = sb.path("logs.jsonl");
    sb.client(
        &server,
        &["receipts", "logs", id, "--jsonl", "-o", arg(&logs)],
    )
    .expect(0);
    assert_eq!(
        std::fs::read_to_string(&logs)
            .expect("reads")
            .lines()
            .count(),
        5
    );
    let verify = |logs: &std::path::Path| {
        sb.run(&[
            "receipts",
            "verify",
            arg(&file),
            "--server",
            &server.url,
            "--logs",
            arg(logs),
        ])
    };
    let out = verify(&logs).expect(0);
    for check in [
        "✓ count",
        "✓ merkle root",
        "✓ prompt tokens",
        "✓ total cost",
    ] {
        assert!(out.stdout.contains(check), "{check}: {}", out.stdout);
    }

    // Bare canonical entries in any order are re-canonicalized and ordered by seq.
    let bare = sb.path("bare.jsonl");
    rewrite(&logs, &bare, |lines| {
        lines
            .iter()
            .rev()
            .map(|l| serde_json::from_str(l["entry"].as_str().expect("entry")).expect("JSON"))
            .collect()
    });
    verify(&bare).expect(0);

    let short = sb.path("short.jsonl");
    rewrite(&logs, &short, |mut lines| {
        lines.remove(2);
        lines
    });
    let out = verify(&short).expect(1);
    assert!(out.stdout.contains("✗ count"), "{}", out.stdout);

    let edited = sb.path("edited.jsonl");
    rewrite(&logs, &edited, |mut lines| {
        let entry = lines[1]["entry"].as_str().expect("entry").to_string();
        let changed = entry.replace("\"output_tokens\":250", "\"output_tokens\":251");
        assert_ne!(entry, changed);
        lines[1]["entry"] = Value::String(changed);
        lines
    });
    let out = verify(&edited).expect(1);
    assert!(out.stdout.contains("✗ merkle root"), "{}", out.stdout);
    assert!(out.stdout.contains("✗ completion tokens"), "{}", out.stdout);
}

#[test]
fn an_inclusion_proof_of_a_certified_log_verifies_against_the_receipts_own_root() {
    let sb = Sandbox::new();
    let server = sb.start();
    let ids = sb.log_usage(&server, 4);
    let receipt = sb.generate(&server, "receipt.json");
    let id = receipt["receipt_id"].as_str().expect("id");
    let out = sb
        .client(&server, &["receipts", "prove", id, "--log-id", &ids[2]])
        .expect(0);
    assert!(
        out.stdout.contains("✓ inclusion: leaf 2 of 4"),
        "{}",
        out.stdout
    );

    let later = sb.log_usage(&server, 1);
    let out = sb
        .client(&server, &["receipts", "prove", id, "--log-id", &later[0]])
        .expect(1);
    assert!(out.stdout.contains("does not certify"), "{}", out.stdout);
}

#[test]
fn a_receipt_of_more_than_a_page_of_logs_exports_and_verifies_in_full() {
    let sb = Sandbox::new();
    let server = sb.start();
    log_batch(&server, 1100);
    let receipt = sb.generate(&server, "receipt.json");
    assert_eq!(receipt["certified"]["count"], 1100);
    let id = receipt["receipt_id"].as_str().expect("id");
    let logs = sb.path("logs.jsonl");
    sb.client(
        &server,
        &["receipts", "logs", id, "--jsonl", "-o", arg(&logs)],
    )
    .expect(0);
    assert_eq!(
        std::fs::read_to_string(&logs)
            .expect("reads")
            .lines()
            .count(),
        1100
    );
    let file = sb.path("receipt.json");
    let out = sb
        .run(&[
            "receipts",
            "verify",
            arg(&file),
            "--server",
            &server.url,
            "--logs",
            arg(&logs),
        ])
        .expect(0);
    assert!(out.stdout.contains("✓ merkle root"), "{}", out.stdout);

    let exported = std::fs::read_to_string(&logs).expect("reads");
    let line: Value = serde_json::from_str(exported.lines().nth(700).expect("line")).expect("JSON");
    let log_id = line["id"].as_str().expect("log id");
    let out = sb
        .client(&server, &["receipts", "prove", id, "--log-id", log_id])
        .expect(0);
    assert!(out.stdout.contains("leaf 700 of 1100"), "{}", out.stdout);
}

#[test]
fn a_receipt_signed_before_receipts_were_typed_verifies_offline() {
    let sb = Sandbox::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tollgate-receipts/tests/fixtures");
    let key = fixtures.join("receipt_v1_key.pem");
    for name in ["receipt_v1_batch.json", "receipt_v1_single.json"] {
        let file = fixtures.join(name);
        let out = sb
            .run(&["receipts", "verify", arg(&file), "--public-key", arg(&key)])
            .expect(0);
        assert!(out.stdout.contains("✓ signature"), "{name}: {}", out.stdout);
    }
}

#[test]
fn an_unpriced_call_is_stated_by_the_receipt_shown_by_the_tables_and_recounted_offline() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 1);
    sb.client(
        &server,
        &[
            "usage",
            "log",
            "--provider",
            "acme",
            "--model",
            "x-1",
            "--input-tokens",
            "40",
            "--output-tokens",
            "9",
        ],
    )
    .expect(0);
    let preview = sb
        .client(&server, &["receipts", "preview", "--since-last"])
        .expect(0);
    assert!(
        preview.stdout.contains("unpriced logs"),
        "{}",
        preview.stdout
    );
    let receipt = sb.generate(&server, "receipt.json");
    assert_eq!(receipt["unpriced_events"], 1, "{receipt}");
    let id = receipt["receipt_id"].as_str().expect("id");
    let shown = sb.client(&server, &["receipts", "get", id]).expect(0);
    assert!(
        shown.stdout.contains("1, in the total at 0"),
        "{}",
        shown.stdout
    );

    let file = sb.path("receipt.json");
    let logs = sb.path("logs.jsonl");
    sb.client(
        &server,
        &["receipts", "logs", id, "--jsonl", "-o", arg(&logs)],
    )
    .expect(0);
    let verify = |logs: &std::path::Path| {
        sb.run(&[
            "receipts",
            "verify",
            arg(&file),
            "--server",
            &server.url,
            "--logs",
            arg(logs),
        ])
    };
    let out = verify(&logs).expect(0);
    assert!(
        out.stdout.contains("✓ unpriced events: 1"),
        "{}",
        out.stdout
    );

    // Entries that hide the flag no longer add up to what the receipt states.
    let hidden = sb.path("hidden.jsonl");
    rewrite(&logs, &hidden, |lines| {
        lines
            .into_iter()
            .map(|mut l| {
                let entry = l["entry"].as_str().expect("entry");
                l["entry"] = Value::String(entry.replace("[\"unpriced\"]", "[]"));
                l
            })
            .collect()
    });
    let out = verify(&hidden).expect(1);
    assert!(
        out.stdout
            .contains("✗ unpriced events: the entries hold 0 unpriced; the receipt says 1"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_receipt_issued_before_receipts_stated_unpriced_calls_verifies_offline_with_its_logs() {
    let sb = Sandbox::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tollgate-receipts/tests/fixtures");
    let out = sb
        .run(&[
            "receipts",
            "verify",
            arg(&fixtures.join("receipt_v2_unpriced.json")),
            "--public-key",
            arg(&fixtures.join("receipt_v2_key.pem")),
            "--logs",
            arg(&fixtures.join("receipt_v2_unpriced_logs.jsonl")),
        ])
        .expect(0);
    for check in [
        "✓ signature",
        "✓ merkle root",
        "✓ total cost",
        "✓ unpriced events: not stated by a tollgate.receipt/v2 receipt; the entries hold 1",
    ] {
        assert!(out.stdout.contains(check), "{check}: {}", out.stdout);
    }
}

#[test]
fn a_receipt_breaks_its_calls_down_by_dimension_and_the_breakdown_is_recounted_offline() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 1);
    for kb in ["kb_1", "kb_1", "kb_2"] {
        sb.client(
            &server,
            &[
                "usage",
                "log",
                "--provider",
                "openai",
                "--model",
                "gpt-4o",
                "--input-tokens",
                "1000",
                "--output-tokens",
                "10",
                "--kb-id",
                kb,
            ],
        )
        .expect(0);
    }
    let refused = sb.client(
        &server,
        &[
            "usage",
            "log",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1",
            "--output-tokens",
            "1",
            "--dimension",
            "region=eu",
        ],
    );
    let refused = refused.expect(1);
    assert!(
        refused.stderr.contains("'region' is not a dimension"),
        "{}",
        refused.stderr
    );
    let receipt = sb.generate(&server, "receipt.json");
    assert_eq!(receipt["format"], "tollgate.receipt/v4");
    assert_eq!(
        receipt["batch_summary"]["by_dimension"]["kb_id"]["kb_1"]["calls"], 2,
        "{receipt}"
    );
    let id = receipt["receipt_id"].as_str().expect("id");
    let shown = sb.client(&server, &["receipts", "get", id]).expect(0);
    let kb1 = shown
        .stdout
        .lines()
        .find(|l| l.contains("kb_1"))
        .unwrap_or_default();
    assert!(
        kb1.contains("kb_id") && kb1.contains(" 2 "),
        "{}",
        shown.stdout
    );
    let file = sb.path("receipt.json");
    let logs = sb.path("logs.jsonl");
    sb.client(
        &server,
        &["receipts", "logs", id, "--jsonl", "-o", arg(&logs)],
    )
    .expect(0);
    let verify = |logs: &std::path::Path| {
        sb.run(&[
            "receipts",
            "verify",
            arg(&file),
            "--server",
            &server.url,
            "--logs",
            arg(logs),
        ])
    };
    let out = verify(&logs).expect(0);
    assert!(
        out.stdout
            .contains("✓ dimensions: 2 values, calls and cost each"),
        "{}",
        out.stdout
    );

    // Entries that moved a call to another knowledge base no longer match the breakdown.
    let moved = sb.path("moved.jsonl");
    rewrite(&logs, &moved, |lines| {
        lines
            .into_iter()
            .map(|mut l| {
                let entry = l["entry"].as_str().expect("entry");
                l["entry"] = Value::String(entry.replace("\"kb_2\"", "\"kb_1\""));
                l
            })
            .collect()
    });
    let out = verify(&moved).expect(1);
    assert!(
        out.stdout.contains(
            "✗ dimensions: the entries and the receipt's by_dimension differ, first at kb_id=kb_1"
        ),
        "{}",
        out.stdout
    );
}
