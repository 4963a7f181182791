//! `tollgate export …`: usage and receipt downloads into files.

use tollgate_core::Nanos;

use super::{arg, log_batch, Sandbox};

fn csv_records(path: &std::path::Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(path).expect("a CSV file");
    r.records()
        .map(|x| x.expect("a well-formed record"))
        .collect()
}

#[test]
fn an_exported_usage_file_holds_every_event_and_its_jsonl_form_verifies_a_receipt() {
    let sb = Sandbox::new();
    let server = sb.start();
    log_batch(&server, 1500);
    let receipt = sb.generate(&server, "receipt.json");
    assert_eq!(receipt["certified"]["count"], 1500);

    let csv_file = sb.path("usage.csv");
    let out = sb
        .client(
            &server,
            &["export", "usage", "--format", "csv", "-o", arg(&csv_file)],
        )
        .expect(0);
    assert!(out.stderr.contains("wrote 1500 events"), "{}", out.stderr);
    assert_eq!(csv_records(&csv_file).len(), 1500);

    let jsonl = sb.path("usage.jsonl");
    sb.client(
        &server,
        &["export", "usage", "--format", "jsonl", "-o", arg(&jsonl)],
    )
    .expect(0);
    let out = sb
        .run(&[
            "receipts",
            "verify",
            arg(&sb.path("receipt.json")),
            "--server",
            &server.url,
            "--logs",
            arg(&jsonl),
        ])
        .expect(0);
    assert!(out.stdout.contains('✓'), "{}", out.stdout);
}

#[test]
fn an_exported_receipt_csv_totals_the_receipt_and_bad_arguments_write_no_file() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);
    let receipt = sb.generate(&server, "receipt.json");
    let id = receipt["receipt_id"].as_str().expect("id");
    let file = sb.path("receipt.csv");
    sb.client(&server, &["export", "receipt", id, "-o", arg(&file)])
        .expect(0);
    let rows = csv_records(&file);
    let total = rows
        .iter()
        .find(|r| &r[2] == "Total")
        .expect("a total line");
    assert_eq!(
        &total[8],
        receipt["amounts"]["USD"]["total_cost"]
            .as_str()
            .expect("total")
    );
    let lines: i64 = rows
        .iter()
        .filter(|r| &r[2] != "Total")
        .map(|r| Nanos::parse_exact(&r[8]).expect("exact").0)
        .sum();
    assert_eq!(Nanos(lines).to_string(), &total[8]);

    let bad = sb.path("bad.csv");
    let out = sb
        .client(
            &server,
            &["export", "usage", "--start", "yesterday", "-o", arg(&bad)],
        )
        .expect(1);
    assert!(out.stderr.contains("start"), "{}", out.stderr);
    assert!(!bad.exists() && !sb.path("bad.csv.part").exists());
    sb.client(
        &server,
        &["export", "receipt", "rcpt_nope", "-o", arg(&bad)],
    )
    .expect(1);
    assert!(!bad.exists());
}

#[test]
fn exporting_usage_with_dash_or_no_output_prints_the_csv_and_leaves_no_file_named_dash() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);

    let file = sb.path("usage.csv");
    sb.client(&server, &["export", "usage", "-o", arg(&file)])
        .expect(0);
    let written = std::fs::read_to_string(&file).expect("the file");
    assert_eq!(csv_records(&file).len(), 3);

    let dash = sb
        .client(&server, &["export", "usage", "-o", "-"])
        .expect(0);
    assert_eq!(dash.stdout, written, "the same CSV, on standard output");
    assert!(
        dash.stderr.contains("wrote 3 events to standard output"),
        "{}",
        dash.stderr
    );
    let default = sb.client(&server, &["export", "usage"]).expect(0);
    assert_eq!(default.stdout, written, "standard output is the default");
    assert!(!sb.path("-").exists() && !sb.path("-.part").exists());

    let jsonl = sb
        .client(&server, &["export", "usage", "--format", "jsonl"])
        .expect(0);
    assert_eq!(jsonl.stdout.lines().count(), 3, "{}", jsonl.stdout);
}
