//! Exports: usage as CSV or JSON lines, streamed in log order, and a receipt as an accounting
//! CSV. What they hold must add up to the events and to the receipt, byte for byte.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tollgate_core::Nanos;
use tollgate_store::Scope;

use crate::costs::{euro_prices, varied_events};
use crate::support::{assert_error, TestApp};

/// Status, `X-Export-Count` and body text of an export.
pub(crate) async fn download(app: &TestApp, key: &str, path: &str) -> (u16, Option<i64>, String) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let count = resp
        .headers()
        .get("x-export-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, count, resp.text().await.expect("body"))
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.expect("a well-formed CSV record");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

async fn seed(app: &TestApp) {
    let r = app
        .post("/api/v1/log/batch", &json!({"events": varied_events()}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_csv_export_has_one_row_per_event_of_the_range_in_log_order_with_exact_costs() {
    let prices = euro_prices();
    for app in TestApp::all_with(|s| s.pricing.file = Some(prices.clone())).await {
        seed(&app).await;
        let (status, count, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-01&end=2026-03-31&format=csv",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (header, rows) = csv_rows(&text);
        assert_eq!(&header[..3], ["seq", "id", "timestamp"]);
        assert_eq!(
            rows.len(),
            24,
            "every March event, none of April's, on {}",
            app.engine()
        );
        assert_eq!(count, Some(24), "the count is announced up front");
        let seqs: Vec<i64> = rows
            .iter()
            .map(|r| r["seq"].parse().expect("seq"))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "ordered by seq: {seqs:?}"
        );

        let logs = app
            .get("/api/v1/logs?start_date=2026-03-01&end_date=2026-03-31&limit=500")
            .await;
        let mut raw: BTreeMap<String, i64> = BTreeMap::new();
        for l in logs.body.as_array().expect("logs") {
            *raw.entry(l["currency"].as_str().expect("currency").into())
                .or_default() += Nanos::parse_exact(l["cost_exact"].as_str().expect("cost"))
                .expect("exact")
                .0;
        }
        let mut exported: BTreeMap<String, i64> = BTreeMap::new();
        for r in &rows {
            *exported.entry(r["currency"].clone()).or_default() +=
                Nanos::parse_exact(&r["cost"]).expect("exact").0;
        }
        assert_eq!(exported, raw);
        assert_eq!(
            rows.iter()
                .filter(|r| r["cached_response"] == "true")
                .count(),
            4
        );
        assert!(rows
            .iter()
            .all(|r| r["cached_response"] != "true" || r["cost"] == "0.000000000"));

        let (_, count, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-02T00:00:00Z&end=2026-03-02T09:00:00%2B01:00",
        )
        .await;
        let (_, rows) = csv_rows(&text);
        assert_eq!(count, Some(rows.len() as i64));
        assert_eq!(rows.len(), 3, "instants bound the range exactly: {text}");
    }
}

#[tokio::test]
async fn jsonl_export_entries_hash_to_their_leaves_and_rebuild_a_receipts_root() {
    for app in TestApp::all().await {
        seed(&app).await;
        let receipt = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"start_date": "2026-03-01", "end_date": "2026-03-31"}),
            )
            .await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        let receipt = &receipt.body["receipt"];
        let (status, count, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-01&end=2026-03-31&format=jsonl",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(count, Some(lines.len() as i64));
        let mut leaves = Vec::new();
        for l in &lines {
            assert_eq!(
                l["index"], l["seq"],
                "the leaf index in the tenant log is the seq"
            );
            let entry = l["entry"].as_str().expect("entry");
            let leaf = tollgate_receipts::leaf_hash(entry.as_bytes());
            assert_eq!(l["leaf_hash"], STANDARD.encode(leaf), "seq {}", l["seq"]);
            let parsed: Value = serde_json::from_str(entry).expect("entry is JSON");
            assert_eq!(parsed["seq"], l["seq"]);
            leaves.push(leaf);
        }
        assert_eq!(receipt["certified"]["count"], lines.len());
        assert_eq!(
            receipt["certified"]["merkle_root"],
            STANDARD.encode(tollgate_receipts::merkle::root(&leaves)),
            "the export rebuilds the receipt's root on {}",
            app.engine()
        );
    }
}

#[tokio::test]
async fn an_export_longer_than_a_page_streams_every_event_once() {
    for app in TestApp::all().await {
        for batch in 0..3 {
            let events: Vec<Value> = (0..900)
                .map(|i| json!({"provider": "openai", "model": "gpt-4o-mini", "input_tokens": i + batch, "output_tokens": 1,
                                "timestamp": format!("2026-05-0{}T00:00:{:02}Z", batch + 1, i % 60)}))
                .collect();
            let r = app
                .post("/api/v1/log/batch", &json!({"events": events}))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let (_, count, text) = download(&app, &app.key, "/api/v1/export/usage?format=jsonl").await;
        let seqs: Vec<i64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("line")["seq"]
                    .as_i64()
                    .expect("seq")
            })
            .collect();
        assert_eq!(count, Some(2700));
        assert_eq!(seqs, (0..2700).collect::<Vec<_>>(), "on {}", app.engine());
        let (_, count, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-05-02&end=2026-05-02",
        )
        .await;
        let (_, rows) = csv_rows(&text);
        assert_eq!((count, rows.len()), (Some(900), 900));
        assert_eq!(rows.first().map(|r| r["seq"].as_str()), Some("900"));
    }
}

#[tokio::test]
async fn an_export_holds_only_the_callers_tenant_and_bad_parameters_are_400() {
    for app in TestApp::all().await {
        seed(&app).await;
        let (_, other) = app.tenant_key("other", &[Scope::Read]).await;
        let (status, count, text) = download(&app, &other, "/api/v1/export/usage?format=csv").await;
        assert_eq!((status, count), (200, Some(0)));
        assert_eq!(csv_rows(&text).1.len(), 0, "only a header: {text}");
        let (_, _, text) = download(&app, &other, "/api/v1/export/usage?format=jsonl").await;
        assert_eq!(text, "");
        for (path, field) in [
            ("/api/v1/export/usage?start=yesterday", "start"),
            ("/api/v1/export/usage?end=2026-13-01", "end"),
            (
                "/api/v1/export/usage?start=2026-03-02&end=2026-03-01",
                "start",
            ),
            ("/api/v1/export/usage?format=xml", "format"),
            ("/api/v1/export/receipt/rcpt_x?format=pdf", "format"),
        ] {
            let r = app.get(path).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], field, "{path}");
        }
        // A misspelt parameter is refused rather than quietly exporting everything.
        let r = app.get("/api/v1/export/usage?begin=2026-03-01").await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("begin"),
            "{}",
            r.body
        );
        // llmring's name for the start is an alias, read as `start` (a bad value names it so).
        let r = app.get("/api/v1/export/usage?start_date=yesterday").await;
        assert_error(&r, 400, "INVALID_QUERY");
        assert_eq!(r.body["error"]["field"], "start", "{}", r.body);
        let (_, writer) = app.tenant_key("writer", &[Scope::Ingest]).await;
        assert_error(
            &app.get_as(&writer, "/api/v1/export/usage").await,
            403,
            "FORBIDDEN",
        );
    }
}

#[tokio::test]
async fn a_receipts_accounting_csv_adds_up_to_the_receipts_total_exactly() {
    let prices = euro_prices();
    for app in TestApp::all_with(|s| s.pricing.file = Some(prices.clone())).await {
        seed(&app).await;
        let receipt = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true, "description": "March, \"all\" of it"}),
            )
            .await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        let receipt = &receipt.body["receipt"];
        let id = receipt["receipt_id"].as_str().expect("id");
        let (status, _, text) = download(
            &app,
            &app.key,
            &format!("/api/v1/export/receipt/{id}?format=csv"),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (header, rows) = csv_rows(&text);
        assert_eq!(
            header,
            [
                "date",
                "receipt_id",
                "description",
                "model",
                "calls",
                "input_tokens",
                "output_tokens",
                "tokens",
                "cost",
                "currency",
                "unpriced_calls"
            ]
        );
        let amounts = receipt["amounts"].as_object().expect("amounts");
        assert_eq!(amounts.len(), 2, "USD and EUR: {receipt}");
        let (mut calls, mut unpriced) = (0, 0);
        for (currency, amount) in amounts {
            let (totals, lines): (Vec<_>, Vec<_>) = rows
                .iter()
                .filter(|r| &r["currency"] == currency)
                .partition(|r| r["description"] == "Total");
            assert_eq!(totals.len(), 1, "one total line per currency");
            let total = &totals[0];
            assert_eq!(
                total["cost"],
                amount["total_cost"].as_str().expect("total"),
                "{currency}"
            );
            let sum: i64 = lines
                .iter()
                .map(|l| Nanos::parse_exact(&l["cost"]).expect("exact").0)
                .sum();
            assert_eq!(
                Nanos(sum).to_string(),
                total["cost"],
                "the lines add up to the total"
            );
            assert!(lines
                .iter()
                .all(|l| l["description"] == "March, \"all\" of it" && l["receipt_id"] == id));
            calls += total["calls"].parse::<i64>().expect("calls");
            unpriced += total["unpriced_calls"].parse::<i64>().expect("unpriced");
        }
        assert_eq!(
            calls,
            receipt["certified"]["count"].as_i64().expect("count")
        );
        assert_eq!(
            unpriced,
            receipt["unpriced_events"].as_i64().expect("stated")
        );
        assert_eq!(
            rows[0]["date"],
            receipt["timestamp"].as_str().expect("ts")[..10]
        );

        let (_, other) = app.tenant_key("other", &[Scope::Read]).await;
        assert_error(
            &app.get_as(&other, &format!("/api/v1/export/receipt/{id}"))
                .await,
            404,
            "NOT_FOUND",
        );
        assert_error(
            &app.get("/api/v1/export/receipt/rcpt_missing").await,
            404,
            "NOT_FOUND",
        );
    }
}

#[tokio::test]
async fn text_that_looks_like_a_spreadsheet_formula_is_exported_as_text() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10,
                        "output_tokens": 5, "alias": "=HYPERLINK(\"http://x\")",
                        "origin": "@evil", "user_id": "-1+2", "timestamp": "2026-03-02T10:00:00Z"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (status, _, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-01&end=2026-03-31&format=csv",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (_, rows) = csv_rows(&text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["alias"], "'=HYPERLINK(\"http://x\")");
        assert_eq!(rows[0]["origin"], "'@evil");
        assert_eq!(rows[0]["user_id"], "'-1+2");
        assert_eq!(rows[0]["provider"], "openai", "plain text is untouched");

        let receipt = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true, "description": "=1+1"}),
            )
            .await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        let id = receipt.body["receipt"]["receipt_id"].as_str().expect("id");
        let (status, _, text) = download(
            &app,
            &app.key,
            &format!("/api/v1/export/receipt/{id}?format=csv"),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (_, rows) = csv_rows(&text);
        assert_eq!(rows[0]["description"], "'=1+1");
        let (_, _, jsonl) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-01&end=2026-03-31&format=jsonl",
        )
        .await;
        let line: Value =
            serde_json::from_str(jsonl.lines().next().expect("a line")).expect("json");
        assert_eq!(
            line["alias"], "=HYPERLINK(\"http://x\")",
            "JSON lines keep values exact"
        );
    }
}

#[tokio::test]
async fn a_csv_export_carries_the_token_classes_service_tier_and_quantities_that_were_priced() {
    for app in TestApp::all().await {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-realtime",
                        "timestamp": "2026-03-05T10:00:00Z", "service_tier": "flex",
                        "input_tokens": 1000, "audio_input_tokens": 600,
                        "output_tokens": 500, "audio_output_tokens": 400,
                        "quantities": {"web_search": 2}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (status, _, text) = download(
            &app,
            &app.key,
            "/api/v1/export/usage?start=2026-03-05&end=2026-03-05&format=csv",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (_, rows) = csv_rows(&text);
        assert_eq!(rows.len(), 1, "{text}");
        let row = &rows[0];
        assert_eq!(row["audio_input_tokens"], "600");
        assert_eq!(row["audio_output_tokens"], "400");
        assert_eq!(row["image_input_tokens"], "0");
        assert_eq!(row["service_tier"], "flex");
        assert_eq!(row["quantities"], r#"{"web_search":2}"#);
        assert_eq!(row["adjusts"], "");
        assert_eq!(
            row["unpriced"], "true",
            "gpt-realtime has no web_search price: not fully priced"
        );
    }
}
