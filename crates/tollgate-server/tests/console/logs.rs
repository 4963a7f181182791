//! The logs pages in a browser: filtering by model and by unpriced, pages that keep the
//! filter, one call's canonical entry equal to the API's, and the CSV of a filter holding
//! exactly its calls, all pages of them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::browser::{Browser, Page};
use crate::support::{sign_in, top_up, TestApp};

/// Today as `YYYY-MM-DD` (UTC).
fn today() -> String {
    tollgate_core::time::day_string(tollgate_core::time::now_us().div_euclid(86_400_000_000))
}

/// Calls of today: two models for two users with different `kb_id`s, one unpriced call, an
/// MCP tool execution and sixty calls of a bulk alias, more than a page.
async fn seed(app: &TestApp) {
    for (model, provider, user, kb, input, output) in [
        ("gpt-4o", "openai", "alice", "kb_1", 120_000, 3_000),
        ("gpt-4o", "openai", "bob", "kb_2", 2_000, 500),
        ("gpt-4o-mini", "openai", "alice", "kb_3", 30_000, 2_000),
        ("mystery-1", "acme", "carol", "kb_1", 100, 10),
    ] {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": provider, "model": model, "input_tokens": input,
                        "output_tokens": output, "user_id": user, "kb_id": kb}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let bulk: Vec<Value> = (0..60)
        .map(|i| {
            json!({"provider": "openai", "model": "gpt-4o-mini", "alias": "bulk",
                        "input_tokens": 10 + i, "output_tokens": 1, "user_id": "dave"})
        })
        .collect();
    let r = app
        .post("/api/v1/log/batch", &json!({ "events": bulk }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let server = app
        .post(
            "/api/v1/mcp/servers",
            &json!({"name": "courts", "url": "http://127.0.0.1:9/mcp", "transport_type": "http"}),
        )
        .await;
    assert_eq!(server.status, 200, "{}", server.body);
    let tool = app
        .post(
            "/api/v1/mcp/tools",
            &json!({"server_id": server.body["id"], "name": "lookup_decision",
                    "description": "Finds a court decision", "input_schema": {"type": "object"},
                    "price_per_call": "0.02"}),
        )
        .await;
    assert_eq!(tool.status, 200, "{}", tool.body);
    let tool_id = tool.body["id"].as_str().expect("a tool id");
    top_up(app, "erin", "5").await;
    let run = app
        .post(
            &format!("/api/v1/mcp/tools/{tool_id}/execute"),
            &json!({"tool_id": tool_id, "input": {}, "output": {"found": true},
                    "user_id": "erin", "request_id": "exec-1"}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
}

/// An exact amount as the console writes it (trailing zeros past the cents dropped).
fn shown(amount: &str, currency: &str) -> String {
    let (whole, fraction) = amount.split_once('.').expect("a decimal");
    let mut kept = fraction.trim_end_matches('0').to_string();
    while kept.len() < 2 {
        kept.push('0');
    }
    format!("{whole}.{kept} {currency}")
}

/// A CSV's header and rows by column name.
fn csv(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.expect("a well-formed record");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

async fn fetch_text(page: &Page, path: &str) -> String {
    page.eval(&format!("fetch('{path}').then(r => r.text())"))
        .await
        .as_str()
        .expect("a body")
        .to_string()
}

fn no_errors(page: &Page) {
    assert!(
        page.console_errors().is_empty(),
        "{:?}",
        page.console_errors()
    );
}

#[tokio::test]
async fn logs_filter_page_open_one_call_and_export_exactly_the_filters_calls() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        seed(&app).await;
        let day = today();
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;

        // Unfiltered: a full page and a next one.
        page.goto(&format!("{}/ui/logs?period=today", app.base))
            .await;
        assert_eq!(page.text("main h1").await, "Logs");
        assert_eq!(page.texts("#logs tbody tr").await.len(), 50);
        assert!(page.exists("#next-page").await && !page.exists("#previous-page").await);

        // By model, through the form.
        page.fill("#f-model", "gpt-4o").await;
        page.submit("form.logs-filter").await;
        let models = page.texts("#logs tbody td.model").await;
        assert_eq!(
            models,
            ["openai / gpt-4o", "openai / gpt-4o"],
            "{}",
            app.engine()
        );
        let api = app
            .get(&format!(
                "/api/v1/logs?model=gpt-4o&start_date={day}&end_date={day}"
            ))
            .await
            .body;
        let api = api.as_array().expect("an array");
        assert_eq!(api.len(), 2);
        let costs = page.texts("#logs tbody td.cost").await;
        let first = &api[0];
        assert_eq!(
            costs[0],
            shown(first["cost_exact"].as_str().expect("a cost"), "USD")
        );
        assert_ne!(first["cost_exact"], "0.000000000", "a priced call");
        let users = page.texts("#logs tbody td.user").await;
        assert_eq!(users[0], first["user_id"].as_str().expect("a user"));
        let dims = page.texts("#logs tbody td.dimensions").await;
        assert_eq!(
            dims[0],
            format!(
                "kb_id={}",
                first["dimensions"]["kb_id"].as_str().expect("kb_id")
            )
        );
        let export_href = page
            .eval("document.querySelector('#export-csv').getAttribute('href')")
            .await;
        assert!(
            export_href
                .as_str()
                .unwrap_or_default()
                .contains("model=gpt-4o"),
            "the export carries the filter: {export_href}"
        );
        no_errors(&page);
        page.screenshot(&format!("logs-desktop-{}", app.engine()))
            .await;

        // An MCP tool execution names its tool.
        page.goto(&format!("{}/ui/logs?period=today&provider=mcp", app.base))
            .await;
        assert_eq!(
            page.texts("#logs tbody td.tool").await,
            ["courts/lookup_decision"]
        );
        assert_eq!(page.text("#logs tbody td.cost").await, "0.02 USD");
        page.goto(&format!("{}/ui/logs?period=today&model=gpt-4o", app.base))
            .await;

        // One call in full: the entry exactly as the API answers it.
        page.submit("#logs tbody tr:first-child td.time a").await;
        page.wait_for("#entry").await;
        let id = first["id"].as_str().expect("an id");
        assert!(page.url().await.ends_with(&format!("/ui/logs/{id}")));
        let one = app.get(&format!("/api/v1/logs/{id}")).await.body;
        let entry = one["entry"].as_str().expect("an entry");
        let raw = page
            .eval("document.querySelector('#entry-raw').textContent")
            .await;
        assert_eq!(raw.as_str(), Some(entry), "the entry as stored");
        let laid_out: Value =
            serde_json::from_str(&page.text("#entry").await).expect("the laid-out entry reads");
        assert_eq!(
            laid_out,
            serde_json::from_str::<Value>(entry).expect("JSON")
        );
        assert_eq!(
            page.text("#leaf-hash").await,
            one["leaf_hash"].as_str().expect("a hash")
        );
        assert_eq!(
            page.text("#log-price-version").await,
            one["price_version"].as_str().expect("a price version")
        );
        assert_eq!(
            page.text("[data-field=\"cost_exact\"]").await,
            one["cost_exact"].as_str().expect("a cost")
        );
        no_errors(&page);
        page.screenshot(&format!("log-detail-desktop-{}", app.engine()))
            .await;

        // Unpriced only, as the overview links to it: days without a period are custom.
        page.goto(&format!(
            "{}/ui/logs?unpriced=true&start={day}&end={day}",
            app.base
        ))
        .await;
        let rows = page.texts("#logs tbody tr").await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(page.text("#logs tbody td.model").await, "acme / mystery-1");
        assert!(page.text("#logs tbody td.flags").await.contains("unpriced"));
        assert!(page.text("#period-label").await.contains(&day));
        assert_eq!(
            page.eval("document.querySelector('#f-unpriced').checked")
                .await,
            Value::Bool(true)
        );

        // Pages keep the filter.
        page.goto(&format!("{}/ui/logs?period=today&alias=bulk", app.base))
            .await;
        assert_eq!(page.texts("#logs tbody tr").await.len(), 50);
        page.submit("#next-page").await;
        assert_eq!(page.texts("#logs tbody td.alias").await, vec!["bulk"; 10]);
        assert!(page.url().await.contains("alias=bulk"));
        assert!(page.exists("#previous-page").await && !page.exists("#next-page").await);

        // The CSV holds every call of the filter, all pages, as the usage export writes them.
        let text = fetch_text(&page, "/ui/logs/export.csv?period=today&alias=bulk").await;
        let (header, rows) = csv(&text);
        let (api_header, api_rows) = csv(&app.get_text("/api/v1/export/usage").await);
        assert_eq!(header, api_header);
        assert_eq!(rows.len(), 60, "{}", app.engine());
        assert!(rows.iter().all(|r| r["alias"] == "bulk"));
        let text = fetch_text(&page, "/ui/logs/export.csv?unpriced=true").await;
        let (_, rows) = csv(&text);
        assert_eq!(rows.len(), 1);
        let theirs = api_rows
            .iter()
            .find(|r| r["id"] == rows[0]["id"])
            .expect("the call is in the usage export");
        assert_eq!(&rows[0], theirs, "the same row as the usage export");
        assert_eq!(rows[0]["unpriced"], "true");
        no_errors(&page);

        page.goto(&format!("{}/ui/logs?period=today&user=alice", app.base))
            .await;
        crate::support::phone(&page, &format!("logs-phone-{}", app.engine())).await;
    }
}
