//! The console's logs pages over HTTP: a key without `read` is refused them, and another
//! tenant's call is as unknown as a missing one. The pages themselves are driven in a browser
//! (the `console` tests).

use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::console_client::Browser;
use crate::support::{usage, TestApp};

/// Status and body of `path`.
async fn fetch(b: &mut Browser<'_>, path: &str) -> (u16, String) {
    let page = b.get(path).await;
    (page.status, page.body)
}

#[tokio::test]
async fn console_logs_are_refused_to_a_key_without_read() {
    for app in TestApp::all().await {
        let logged = app.post("/api/v1/log", &usage("gpt-4o", 10, 1)).await;
        let id = logged.body["log_id"]
            .as_str()
            .expect("a log id")
            .to_string();
        let (_, billing) = app.tenant_key("billing-only", &[Scope::Billing]).await;
        let mut b = Browser::new(&app);
        b.sign_in(&billing).await;
        for path in [
            "/ui/logs".to_string(),
            "/ui/logs?unpriced=true".to_string(),
            "/ui/logs/export.csv".to_string(),
            format!("/ui/logs/{id}"),
        ] {
            let (status, body) = fetch(&mut b, &path).await;
            assert_eq!(status, 403, "{} {path}: {body}", app.engine());
            assert!(!body.contains("gpt-4o"), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn console_logs_show_another_tenants_call_as_not_found_like_a_missing_one() {
    for app in TestApp::all().await {
        let logged = app.post("/api/v1/log", &usage("gpt-4o", 10, 1)).await;
        let id = logged.body["log_id"]
            .as_str()
            .expect("a log id")
            .to_string();
        let mut own = Browser::new(&app);
        own.sign_in(&app.key).await;
        let (status, body) = fetch(&mut own, &format!("/ui/logs/{id}")).await;
        assert_eq!(status, 200, "{}: {body}", app.engine());
        assert!(body.contains(&id));

        let (_, reader) = app.tenant_key("another-tenant", &[Scope::Read]).await;
        let mut other = Browser::new(&app);
        other.sign_in(&reader).await;
        let (theirs, theirs_body) = fetch(&mut other, &format!("/ui/logs/{id}")).await;
        let (missing, missing_body) =
            fetch(&mut other, "/ui/logs/00000000-0000-4000-8000-000000000000").await;
        assert_eq!((theirs, missing), (404, 404), "{}", app.engine());
        assert_eq!(theirs_body, missing_body);
        assert!(!theirs_body.contains("gpt-4o"));
        let (_, list) = fetch(&mut other, "/ui/logs").await;
        assert!(!list.contains(&id), "another tenant's calls are not listed");
    }
}

#[tokio::test]
async fn console_logs_export_holds_every_page_of_the_filter_once_as_the_usage_export_writes_it() {
    for app in TestApp::all().await {
        let bulk = |n: i64, alias: &str| -> Vec<Value> {
            (0..n)
                .map(|i| {
                    json!({"provider": "openai", "model": "gpt-4o-mini", "alias": alias,
                                "input_tokens": 10 + i, "output_tokens": 1})
                })
                .collect()
        };
        for events in [bulk(1000, "bulk"), bulk(120, "bulk"), bulk(7, "other")] {
            let r = app
                .post("/api/v1/log/batch", &json!({ "events": events }))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let mut b = Browser::new(&app);
        b.sign_in(&app.key).await;
        let download = b.get("/ui/logs/export.csv?period=today&alias=bulk").await;
        let (status, text) = (download.status, download.body);
        let disposition = download.disposition.unwrap_or_default();
        assert_eq!(status, 200, "{}: {text}", app.engine());
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        let mut csv = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = csv
            .headers()
            .expect("a header")
            .iter()
            .map(String::from)
            .collect();
        let usage = app.get_text("/api/v1/export/usage").await;
        let usage_header = usage.lines().next().expect("a header row");
        assert_eq!(header.join(","), usage_header);
        let id = header.iter().position(|c| c == "id").expect("an id column");
        let alias = header
            .iter()
            .position(|c| c == "alias")
            .expect("an alias column");
        let rows: Vec<csv::StringRecord> = csv
            .records()
            .map(|r| r.expect("a well-formed record"))
            .collect();
        assert_eq!(
            rows.len(),
            1120,
            "{}: every page, past the first",
            app.engine()
        );
        assert!(rows.iter().all(|r| &r[alias] == "bulk"));
        let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[id]).collect();
        assert_eq!(ids.len(), 1120, "no call twice");
    }
}
