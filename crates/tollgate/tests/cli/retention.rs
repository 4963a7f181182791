//! `tollgate retention run`.

use super::{api_get, arg, Sandbox};

#[test]
fn retention_archives_old_logs_to_files_and_their_receipt_still_proves_them() {
    let sb = Sandbox::new();
    // 2020's archives would be past the default delete age (365 days) at once.
    std::fs::write(
        sb.path("tollgate.toml"),
        "[retention]\ndelete_after_days = 36500\n",
    )
    .expect("config");
    let server = sb.start();
    let mut old = Vec::new();
    for ts in [
        "2020-01-05T10:00:00Z",
        "2020-01-20T10:00:00Z",
        "2020-02-01T00:00:00Z",
    ] {
        let out = sb
            .client(
                &server,
                &[
                    "usage",
                    "log",
                    "--provider",
                    "openai",
                    "--model",
                    "gpt-4o",
                    "--input-tokens",
                    "100",
                    "--output-tokens",
                    "10",
                    "--timestamp",
                    ts,
                    "--json",
                ],
            )
            .expect(0);
        old.push(out.json()["log_id"].as_str().expect("id").to_string());
    }
    sb.log_usage(&server, 1);
    let receipt = sb.generate(&server, "receipt.json");
    let id = receipt["receipt_id"].as_str().expect("id").to_string();
    drop(server);

    // archive_after_days is the default, 90 days: 2020's months are long past it.
    let data = sb.data();
    let dry = sb
        .run(&[
            "retention",
            "run",
            "--dry-run",
            "--json",
            "--data-dir",
            arg(&data),
        ])
        .expect(0)
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["tenants"][0]["events_archived"], 3);
    assert_eq!(
        dry["tenants"][0]["archives_written"], 2,
        "January and February"
    );
    assert!(!data.join("archive").exists(), "a dry run writes nothing");

    let done = sb
        .run(&["retention", "run", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    assert_eq!(done["tenants"][0]["events_archived"], 3);
    let tenant = done["tenants"][0]["tenant_id"].as_str().expect("tenant");
    let manifest = data
        .join("archive")
        .join(tenant)
        .join("2020-01-0.manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("json");
    assert_eq!(manifest["count"], 2);
    assert_eq!(manifest["live"], true);
    assert!(data
        .join("archive")
        .join(tenant)
        .join("2020-01-0.jsonl.gz")
        .exists());
    let again = sb
        .run(&["retention", "run", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    assert_eq!(again["tenants"][0]["events_archived"], 0, "nothing new");

    let server = sb.start();
    let out = sb
        .client(&server, &["receipts", "prove", &id, "--log-id", &old[0]])
        .expect(0);
    assert!(out.stdout.contains("is archived"), "{}", out.stdout);
    assert!(
        out.stdout.contains("✓ inclusion: leaf 0 of 4"),
        "{}",
        out.stdout
    );
    sb.run(&[
        "receipts",
        "verify",
        arg(&sb.path("receipt.json")),
        "--server",
        &server.url,
    ])
    .expect(0);
    let (status, logs) = api_get(&server, &format!("/api/v1/receipts/{id}/logs"));
    assert_eq!(status, 200);
    assert_eq!(logs["logs"][0]["entry"], serde_json::Value::Null);
    assert_eq!(logs["logs"][0]["archived"], "2020-01-0");
    assert!(
        logs["logs"][3]["entry"].is_string(),
        "the recent log stays live"
    );
    let (_, metrics) = super::http_get(&server.url, "/metrics");
    assert!(
        metrics.contains("tollgate_retention_runs_total 0"),
        "off by default"
    );
}

#[test]
fn retention_leaves_a_month_no_receipt_certified_live_and_says_what_to_do() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path("tollgate.toml"),
        "[retention]\ndelete_after_days = 36500\n",
    )
    .expect("config");
    let server = sb.start();
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
            "100",
            "--output-tokens",
            "10",
            "--timestamp",
            "2020-01-05T10:00:00Z",
        ],
    )
    .expect(0);
    drop(server);

    let data = sb.data();
    let skipped = sb
        .run(&["retention", "run", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    assert_eq!(skipped["tenants"][0]["months_skipped_uncertified"], 1);
    assert_eq!(skipped["tenants"][0]["events_archived"], 0);
    let hint = skipped["hint"].as_str().expect("a hint");
    assert!(
        hint.contains("since_last_receipt") && hint.contains("retention.archive_uncertified"),
        "{hint}"
    );
    let table = sb
        .run(&["retention", "run", "--data-dir", arg(&data)])
        .expect(0);
    assert!(
        table.stdout.contains("months skipped") && table.stdout.contains(hint),
        "{}",
        table.stdout
    );

    std::fs::write(
        sb.path("tollgate.toml"),
        "[retention]\ndelete_after_days = 36500\narchive_uncertified = true\n",
    )
    .expect("config");
    let done = sb
        .run(&["retention", "run", "--json", "--data-dir", arg(&data)])
        .expect(0)
        .json();
    assert_eq!(done["tenants"][0]["months_skipped_uncertified"], 0);
    assert_eq!(done["tenants"][0]["events_archived"], 1);
    assert_eq!(done["hint"], serde_json::Value::Null);
}
