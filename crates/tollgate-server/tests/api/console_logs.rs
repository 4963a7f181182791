//! The console's logs pages over HTTP: a key without `read` is refused them, and another
//! tenant's call is as unknown as a missing one. The pages themselves are driven in a browser
//! (the `console` tests).

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_DISPOSITION, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use tollgate_store::Scope;

use crate::support::{usage, TestApp};

/// A browser without a browser: keeps cookies, follows no redirect.
struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Browser<'a> {
        Browser {
            app,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    /// Status and body.
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, String) {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let resp = req
            .header(COOKIE, cookie.join("; "))
            .send()
            .await
            .expect("send");
        for c in resp.headers().get_all(SET_COOKIE) {
            let c = c.to_str().expect("ascii");
            let pair = c.split(';').next().expect("a pair");
            let (k, v) = pair.split_once('=').expect("name=value");
            self.cookies.insert(k.to_string(), v.to_string());
        }
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// Status, `Content-Disposition` and body of a download.
    async fn download(&mut self, path: &str) -> (u16, String, String) {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let resp = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header(COOKIE, cookie.join("; "))
            .send()
            .await
            .expect("send");
        let disposition = resp
            .headers()
            .get(CONTENT_DISPOSITION)
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default();
        let status = resp.status().as_u16();
        (status, disposition, resp.text().await.expect("body"))
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let req = self.http.get(format!("{}{path}", self.app.base));
        self.send(req).await
    }

    /// Signs in with `credential` through the form.
    async fn sign_in(&mut self, credential: &str) {
        let (_, form) = self.get("/ui/sign-in?next=%2Fui%2F").await;
        let marker = "name=\"csrf\" value=\"";
        let start = form.find(marker).expect("a csrf field") + marker.len();
        let csrf = form[start..]
            .split('"')
            .next()
            .expect("a value")
            .to_string();
        let req = self
            .http
            .post(format!("{}/ui/sign-in", self.app.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("next", "/ui/"),
                ("credential", credential),
            ]);
        let (status, body) = self.send(req).await;
        assert_eq!(status, 303, "signing in: {body}");
    }
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
            let (status, body) = b.get(&path).await;
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
        let (status, body) = own.get(&format!("/ui/logs/{id}")).await;
        assert_eq!(status, 200, "{}: {body}", app.engine());
        assert!(body.contains(&id));

        let (_, reader) = app.tenant_key("another-tenant", &[Scope::Read]).await;
        let mut other = Browser::new(&app);
        other.sign_in(&reader).await;
        let (theirs, theirs_body) = other.get(&format!("/ui/logs/{id}")).await;
        let (missing, missing_body) = other
            .get("/ui/logs/00000000-0000-4000-8000-000000000000")
            .await;
        assert_eq!((theirs, missing), (404, 404), "{}", app.engine());
        assert_eq!(theirs_body, missing_body);
        assert!(!theirs_body.contains("gpt-4o"));
        let (_, list) = other.get("/ui/logs").await;
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
        let (status, disposition, text) = b
            .download("/ui/logs/export.csv?period=today&alias=bulk")
            .await;
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
