//! The console's receipt forms over HTTP: each selection mode previews and signs what the API
//! previews and signs for the same selection, a form without the session's token signs
//! nothing, and the downloads and proofs are served to a session only. The pages themselves
//! are driven in a browser (the `console` tests).

use serde_json::{json, Value};

use crate::console_client::{hidden, Browser, Page};
use crate::support::TestApp;

/// A browser signed in with the app's key, and its session's form token.
async fn signed_in(app: &TestApp) -> (Browser<'_>, String) {
    let mut b = Browser::signed_in(app).await;
    let csrf = hidden(&b.get("/ui/receipts/new").await.body, "csrf");
    (b, csrf)
}

/// Posts the receipt form at `path` with the session's token and `fields`.
async fn issue(b: &mut Browser<'_>, csrf: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

/// A form's fields.
type Fields<'a> = [(&'a str, &'a str)];

/// The text of the tile `label` of a preview page.
fn tile(html: &str, label: &str) -> String {
    let marker = format!("data-tile=\"{label}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {label} tile"));
    let value = html[at..].find("tile-value num\">").expect("a value") + at + 16;
    let end = html[value..].find('<').expect("an end") + value;
    html[value..end].to_string()
}

/// Logs a conversation, a dated call and two more calls; answers (conversation id, the
/// dated call's id, the other two ids).
async fn seed(app: &TestApp) -> (String, String, Vec<String>) {
    let conv = app
        .post(
            "/api/v1/conversations/log",
            &json!({"messages": [{"role": "user", "content": "hi"}],
                    "response": {"content": "hello", "model": "gpt-4o"},
                    "metadata": {"provider": "openai", "model": "gpt-4o", "input_tokens": 7, "output_tokens": 3}}),
        )
        .await;
    assert_eq!(conv.status, 200, "{}", conv.body);
    let mut ids = Vec::new();
    for (tokens, at) in [
        (5, "2026-02-03T10:00:00Z"),
        (11, "2026-03-01T00:00:00Z"),
        (13, "2026-03-02T00:00:00Z"),
    ] {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": "openai", "model": "gpt-4o-mini",
                        "input_tokens": tokens, "output_tokens": 5, "timestamp": at}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(r.body["log_id"].as_str().expect("log id").to_string());
    }
    let dated = ids.remove(0);
    (
        conv.body["conversation_id"]
            .as_str()
            .expect("id")
            .to_string(),
        dated,
        ids,
    )
}

#[tokio::test]
async fn console_receipts_each_selection_mode_previews_and_signs_what_the_api_does() {
    for app in TestApp::all().await {
        let (conversation, dated, others) = seed(&app).await;
        let (mut b, csrf) = signed_in(&app).await;
        let ids = others.join("\n");
        let modes: [(&Fields, Value, i64); 3] = [
            (
                &[("mode", "conversation"), ("conversation_id", &conversation)],
                json!({"conversation_id": conversation}),
                1,
            ),
            (
                &[
                    ("mode", "date_range"),
                    ("start_date", "2026-02-03"),
                    ("end_date", "2026-02-03"),
                    // Left over from another choice: only the chosen mode's fields count.
                    ("conversation_id", &conversation),
                ],
                json!({"start_date": "2026-02-03", "end_date": "2026-02-03"}),
                1,
            ),
            (
                &[("mode", "log_ids"), ("log_ids", &ids)],
                json!({"log_ids": others}),
                2,
            ),
        ];
        for (fields, request, logs) in modes {
            let api = app.post("/api/v1/receipts/preview", &request).await;
            assert_eq!(api.status, 200, "{}", api.body);
            assert_eq!(api.body["total_logs"], logs, "{request}");
            let page = issue(&mut b, &csrf, "/ui/receipts/preview", fields).await;
            assert_eq!(page.status, 200, "{}: {}", app.engine(), page.body);
            assert_eq!(tile(&page.body, "Logs"), logs.to_string(), "{request}");
            assert_eq!(
                tile(&page.body, "Tokens"),
                api.body["total_tokens"].to_string()
            );

            // Signing posts what the preview's form carries.
            let carried: Vec<(&str, String)> = [
                "mode",
                "conversation_id",
                "start_date",
                "end_date",
                "log_ids",
            ]
            .into_iter()
            .map(|name| (name, hidden(&page.body, name)))
            .collect();
            let carried: Vec<(&str, &str)> =
                carried.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let signed = issue(&mut b, &csrf, "/ui/receipts", &carried).await;
            assert_eq!(signed.status, 303, "{}", signed.body);
            let location = signed.location.expect("the receipt's page");
            let id = location
                .strip_prefix("/ui/receipts/")
                .and_then(|rest| rest.strip_suffix("?notice=signed"))
                .expect("a receipt page");
            let stored = app.get(&format!("/api/v1/receipts/{id}")).await.body;
            assert_eq!(stored["certified"]["count"], logs, "{request}");
            assert_eq!(stored["selection"]["mode"], fields[0].1);
        }
        let dated_receipt =
            app.get("/api/v1/receipts?limit=1&offset=1").await.body["receipts"][0].clone();
        assert_eq!(dated_receipt["batch_summary"]["log_ids"], json!([dated]));
    }
}

#[tokio::test]
async fn console_receipts_a_form_without_the_sessions_token_signs_nothing() {
    for app in TestApp::all().await {
        seed(&app).await;
        let (mut b, csrf) = signed_in(&app).await;
        for path in ["/ui/receipts", "/ui/receipts/preview"] {
            let refused = b
                .post(path, &[("csrf", "forged"), ("mode", "since_last_receipt")])
                .await;
            assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        }
        let listed = app.get("/api/v1/receipts").await.body;
        assert_eq!(listed["total"], 0, "{}", app.engine());

        // A selection the API refuses comes back as the form with the API's words.
        let empty = issue(
            &mut b,
            &csrf,
            "/ui/receipts/preview",
            &[("mode", "log_ids")],
        )
        .await;
        assert_eq!(empty.status, 422, "{}", empty.body);
        assert!(empty.body.contains("list at least one log id"));
        let bad = issue(
            &mut b,
            &csrf,
            "/ui/receipts",
            &[("mode", "log_ids"), ("log_ids", "not-a-uuid")],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(
            bad.body.contains("log_ids[0] must be a UUID"),
            "{}",
            bad.body
        );
        assert_eq!(app.get("/api/v1/receipts").await.body["total"], 0);
    }
}

#[tokio::test]
async fn console_receipts_downloads_and_proofs_are_the_apis_and_need_a_session() {
    for app in TestApp::all().await {
        let (_, dated, _) = seed(&app).await;
        let generated = app
            .post(
                "/api/v1/receipts/generate",
                &json!({"since_last_receipt": true}),
            )
            .await;
        let id = generated.body["receipt"]["receipt_id"]
            .as_str()
            .expect("an id")
            .to_string();
        let mut anonymous = Browser::new(&app);
        for path in [
            format!("/ui/receipts/{id}.json"),
            format!("/ui/receipts/{id}/proof?log_id={dated}"),
            format!("/ui/receipts/{id}/server-check"),
        ] {
            let a = anonymous.get(&path).await;
            assert_eq!(a.status, 303, "{path}");
            assert!(a
                .location
                .expect("to sign in")
                .starts_with("/ui/sign-in?next="));
        }
        let mut b = Browser::signed_in(&app).await;
        let json = b.get(&format!("/ui/receipts/{id}.json")).await;
        assert_eq!(
            json.body,
            app.get_text(&format!("/api/v1/receipts/{id}")).await
        );
        let proof = b
            .get(&format!("/ui/receipts/{id}/proof?log_id={dated}"))
            .await;
        let api = app
            .get(&format!("/api/v1/receipts/{id}/proof?log_id={dated}"))
            .await;
        assert_eq!(
            serde_json::from_str::<Value>(&proof.body).expect("json"),
            api.body
        );
        let check = b.get(&format!("/ui/receipts/{id}/server-check")).await;
        let check: Value = serde_json::from_str(&check.body).expect("json");
        assert_eq!(check["valid"], true, "{check}");
        assert_eq!(check["commitment_valid"], true, "{check}");
        let missing = b.get("/ui/receipts/rcpt_nothing_here").await;
        assert_eq!(missing.status, 404);
    }
}

#[tokio::test]
async fn console_receipts_signing_the_same_since_last_receipt_form_twice_signs_once() {
    for app in TestApp::all().await {
        seed(&app).await;
        let (mut b, csrf) = signed_in(&app).await;
        let form = [("mode", "since_last_receipt"), ("description", "once")];
        let first = issue(&mut b, &csrf, "/ui/receipts", &form).await;
        assert_eq!(first.status, 303, "{}", first.body);
        // The same form again (a double click, a resubmitted page): its logs are certified
        // now, so the API finds none and the form says so.
        let again = issue(&mut b, &csrf, "/ui/receipts", &form).await;
        assert_eq!(again.status, 400, "{}: {}", app.engine(), again.body);
        assert!(again.body.contains("No logs found matching the criteria"));
        assert_eq!(app.get("/api/v1/receipts").await.body["total"], 1);
    }
}

#[tokio::test]
async fn console_receipts_the_list_pages_through_receipts_newest_first() {
    for app in TestApp::all().await {
        seed(&app).await;
        let mut ids = Vec::new();
        for i in 0..26 {
            let r = app
                .post(
                    "/api/v1/receipts/generate",
                    &json!({"start_date": "2026-01-01", "end_date": "2026-12-31",
                            "tags": [format!("n{i}")]}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            ids.push(
                r.body["receipt"]["receipt_id"]
                    .as_str()
                    .expect("id")
                    .to_string(),
            );
        }
        let mut b = Browser::signed_in(&app).await;
        let first = b.get("/ui/receipts").await;
        assert_eq!(first.body.matches("<tr data-receipt=").count(), 25);
        assert!(first
            .body
            .contains("26 receipts; showing 1 to 25, newest first."));
        let newest = first.body.find(&ids[25]).expect("the newest");
        let older = first.body.find(&ids[1]).expect("the second oldest");
        assert!(newest < older, "newest first");
        assert!(
            !first.body.contains(&ids[0]),
            "the oldest is on the next page"
        );
        assert!(first
            .body
            .contains("href=\"/ui/receipts?offset=25\" rel=\"next\""));
        let second = b.get("/ui/receipts?offset=25").await;
        assert_eq!(second.body.matches("<tr data-receipt=").count(), 1);
        assert!(second.body.contains(&ids[0]));
        assert!(second
            .body
            .contains("href=\"/ui/receipts?offset=0\" rel=\"prev\""));
        let tagged = b.get("/ui/receipts?tag=n7").await;
        assert_eq!(tagged.body.matches("<tr data-receipt=").count(), 1);
        assert!(tagged.body.contains(&ids[7]), "{}", app.engine());
    }
}
