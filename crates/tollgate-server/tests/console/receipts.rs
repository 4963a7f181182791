//! The receipts pages in a browser: generating a receipt (preview, then sign), reading it,
//! checking it in the page (signature and one log's inclusion, in the browser's WebCrypto),
//! the downloaded JSON verifying offline, a tampered copy failing, and a key that may not
//! read receipts being neither shown nor served them.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_receipts::keys::PublicKey;
use tollgate_receipts::signature::{signing_bytes, verify_document};
use tollgate_store::Scope;

use crate::browser::{Browser, Page};
use crate::support::{sign_in, TestApp};

/// Calls to certify: two priced, one unpriced, all under dimension `kb_id`.
async fn seed(app: &TestApp) {
    for (model, provider, input, output) in [
        ("gpt-4o", "openai", 1_000_000, 10_000),
        ("gpt-4o-mini", "openai", 30_000, 2_000),
        ("mystery-1", "acme", 100, 10),
    ] {
        let r = app
            .post(
                "/api/v1/log",
                &json!({"provider": provider, "model": model, "input_tokens": input,
                        "output_tokens": output, "kb_id": "kb_1"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// The lines of the page's check, once it has a verdict.
async fn checks(page: &Page) -> Vec<String> {
    page.wait_for("#verify-verdict").await;
    page.texts("#verify-result li").await
}

/// Evaluates `js` in the page and returns `[body text, content-disposition]` of `url`.
async fn download(page: &Page, url: &str) -> (String, String) {
    let got = page
        .eval(&format!(
            "fetch({url:?}).then(r => Promise.all([r.text(), r.headers.get('content-disposition')]))"
        ))
        .await;
    (
        got[0].as_str().expect("a body").to_string(),
        got[1].as_str().unwrap_or_default().to_string(),
    )
}

/// Verifies `file` with the `tollgate` binary if this checkout has built one.
fn cli_verifies(file: &std::path::Path, pem: &str) -> Option<String> {
    // `target/tmp` is cargo's scratch directory for integration tests; the binary of the
    // same build is beside it.
    let target = option_env!("CARGO_TARGET_TMPDIR")
        .and_then(|tmp| std::path::Path::new(tmp).parent().map(|p| p.to_path_buf()))
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/tollgate");
    if !bin.exists() {
        eprintln!("no target/debug/tollgate: the CLI check is skipped (the library's ran)");
        return None;
    }
    let key = file.with_extension("pem");
    std::fs::write(&key, pem).expect("write the key");
    let out = std::process::Command::new(bin)
        .args(["receipts", "verify"])
        .arg(file)
        .arg("--public-key")
        .arg(&key)
        .output()
        .expect("run tollgate");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tollgate receipts verify failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[tokio::test]
async fn a_receipt_generated_in_the_receipts_page_verifies_in_the_browser_and_offline() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        let engine = app.engine();
        seed(&app).await;
        let page = browser.new_page().await;
        sign_in(&page, &app, &app.key).await;

        page.goto(&format!("{}/ui/receipts", app.base)).await;
        assert!(page.text("#receipts-count").await.starts_with("0 receipts"));
        page.click("#generate").await;
        page.wait_for("#receipt-form").await;
        assert_eq!(page.text("main h1").await, "Generate a receipt");
        page.screenshot(&format!("receipt-new-desktop-{engine}"))
            .await;

        // A selection the API refuses is shown on the form, not as an error page.
        page.click("#mode-conversation").await;
        page.fill("#conversation_id", "not-a-uuid").await;
        page.submit("#receipt-form").await;
        assert!(
            page.text("#problem").await.contains("conversation_id"),
            "{engine}"
        );

        page.click("#mode-since").await;
        page.fill("#description", "December usage").await;
        page.fill("#tags", "console, audit").await;
        page.submit("#receipt-form").await;
        assert_eq!(page.text("main h1").await, "Preview of the receipt");
        let api = app
            .post(
                "/api/v1/receipts/preview",
                &json!({"since_last_receipt": true}),
            )
            .await
            .body;
        assert_eq!(api["total_logs"], 3);
        let exact = api["amounts"]["USD"]["total_cost"].as_str().expect("USD");
        assert_eq!(
            exact, "2.605700000",
            "gpt-4o and gpt-4o-mini at list prices"
        );
        assert_eq!(page.text("[data-tile=\"Logs\"] .tile-value").await, "3");
        assert_eq!(
            page.text("[data-tile=\"Unpriced calls\"] .tile-value")
                .await,
            "1"
        );
        assert_eq!(
            page.text("#amounts tr[data-currency=\"USD\"] .total").await,
            "2.6057 USD"
        );
        assert!(page
            .text("[data-receipt-breakdown=\"By dimension kb_id\"]")
            .await
            .contains("kb_1\t3\t"));
        page.screenshot(&format!("receipt-preview-desktop-{engine}"))
            .await;

        page.submit("#sign-form").await;
        let url = page.url().await;
        let id = url
            .split("/ui/receipts/")
            .nth(1)
            .and_then(|rest| rest.split('?').next())
            .expect("the receipt's page")
            .to_string();
        assert!(id.starts_with("rcpt_"), "{url}");
        assert_eq!(
            page.text("#notice").await,
            "The receipt was signed and stored."
        );
        let stored = app.get(&format!("/api/v1/receipts/{id}")).await.body;
        assert_eq!(stored["description"], "December usage");
        assert_eq!(stored["tags"], json!(["console", "audit"]));
        assert_eq!(page.text("#summary-logs").await, "3");
        assert_eq!(page.text("#summary-unpriced").await, "1");
        assert_eq!(
            page.text("#merkle-root").await,
            stored["certified"]["merkle_root"].as_str().expect("a root")
        );
        assert!(page
            .text("[data-receipt-breakdown=\"By model\"]")
            .await
            .contains("mystery-1\t1\t110\t0.00 USD\t1"));

        // The check in the page, in the browser's own WebCrypto.
        page.click("#verify-button").await;
        let lines = checks(&page).await;
        let key_id = stored["key_id"].as_str().expect("a key id");
        assert_eq!(
            lines[0],
            format!("✓ signature: Ed25519 signature by {key_id} (published by this server)"),
            "{engine}: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l
                .starts_with("✓ inclusion: leaf 0 of 3, 2 hashes, leads to the receipt's root")),
            "{lines:?}"
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("VALID: all 4 checks passed")
        );
        assert!(
            page.console_errors().is_empty(),
            "{:?}",
            page.console_errors()
        );
        page.screenshot(&format!("receipt-desktop-{engine}")).await;
        crate::support::phone(&page, &format!("receipt-phone-{engine}")).await;
        page.set_viewport(1265, 900, false).await;

        // The download is the API's document byte for byte, and verifies offline.
        let (json_text, disposition) = download(&page, &format!("/ui/receipts/{id}.json")).await;
        assert_eq!(disposition, format!("attachment; filename=\"{id}.json\""));
        assert_eq!(
            json_text,
            app.get_text(&format!("/api/v1/receipts/{id}")).await
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join(format!("{id}.json"));
        std::fs::write(&file, &json_text).expect("save the download");
        let saved = std::fs::read(&file).expect("read it back");
        let doc = tollgate_receipts::parse_strict(&saved).expect("a receipt");
        let keys = app.get("/receipts/public-keys.json").await.body;
        let listed = keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["key_id"] == key_id)
            .expect("the receipt's key is published");
        let key = PublicKey::from_base64url(listed["public_key"].as_str().expect("a key"))
            .expect("an Ed25519 key");
        verify_document(&doc, &key).expect("the downloaded receipt verifies offline");
        let pem = app.get_text("/receipts/public-key.pem").await;
        if let Some(out) = cli_verifies(&file, &pem) {
            assert!(out.contains("✓ signature"), "{out}");
        }

        // The page's RFC 8785 is the library's, byte for byte.
        let ours = page
            .eval(&format!(
                "(() => {{ const d = {json_text}; delete d.signature; return tollgateVerify.canonicalize(d); }})()"
            ))
            .await;
        let theirs = String::from_utf8(signing_bytes(&doc).expect("canonical")).expect("utf-8");
        assert_eq!(ours.as_str(), Some(theirs.as_str()));
        // And on what receipts rarely hold: key order by UTF-16 code units (a surrogate pair
        // sorts before U+FFFF), escapes, non-ASCII text and ECMAScript's number forms.
        let tricky = r#"{"b":[1e21,0.1,-0.0,1.5e-7,123456789012345,100,"\u2028","é😀","\u0007\"\\/"],
            "a":{"\uffff":2,"\ud800\udc00":1,"aa":3,"A":4,"":5},"n":null,"t":true,"f":false}"#;
        let ours = page
            .eval(&format!(
                "tollgateVerify.canonicalize(JSON.parse({}))",
                serde_json::to_string(tricky).expect("a JS string")
            ))
            .await;
        let value: Value = serde_json::from_str(tricky).expect("JSON");
        let theirs = tollgate_receipts::canonicalize(&value).expect("canonical");
        assert_eq!(
            ours.as_str(),
            Some(String::from_utf8(theirs).expect("utf-8").as_str())
        );

        // A changed member fails the signature; a changed root fails the inclusion.
        let tampered = page
            .eval(&format!(
                "(async () => {{ const d = {json_text}; d.amounts.USD.total_cost = '0.010000000'; \
                 const keys = await (await fetch('/receipts/public-keys.json')).json(); \
                 return tollgateVerify.checkSignature(crypto.subtle, d, keys); }})()"
            ))
            .await;
        assert_eq!(tampered["ok"], false, "{tampered}");
        assert!(tampered["detail"]
            .as_str()
            .expect("why")
            .starts_with("the signature does not match"));
        let log = stored["batch_summary"]["log_ids"][0]
            .as_str()
            .expect("a log");
        let moved: Value = page
            .eval(&format!(
                "(async () => {{ const d = {json_text}; \
                 d.certified.merkle_root = d.checkpoint.root === d.certified.merkle_root ? btoa('x'.repeat(32)) : d.checkpoint.root; \
                 const p = await (await fetch('/ui/receipts/{id}/proof?log_id={log}')).json(); \
                 return tollgateVerify.checkInclusion(crypto.subtle, d, p, '{log}'); }})()"
            ))
            .await;
        let last = &moved[moved.as_array().expect("checks").len() - 1];
        assert_eq!(last["name"], "inclusion");
        assert_eq!(last["ok"], false, "{moved}");

        // Without WebCrypto the page says so and shows the server's check, labelled.
        page.eval("tollgateVerify.run(document.getElementById('verify'), null)")
            .await;
        let lines = checks(&page).await;
        assert!(page.text("#verify-note").await.contains("no WebCrypto"));
        assert!(
            lines[0].starts_with("✓ signature: Ed25519 signature by")
                && lines[0].ends_with("(the server's check, not this browser's)"),
            "{lines:?}"
        );

        let (csv, disposition) = download(&page, &format!("/ui/receipts/{id}.csv")).await;
        assert_eq!(disposition, format!("attachment; filename=\"{id}.csv\""));
        assert_eq!(
            csv,
            app.get_text(&format!("/api/v1/export/receipt/{id}")).await
        );

        page.goto(&format!("{}/ui/receipts", app.base)).await;
        let row = page
            .text(&format!("#receipts tr[data-receipt=\"{id}\"]"))
            .await;
        assert!(
            row.contains("batch\t3\t2.6057 USD\t1\tconsole, audit\tDecember usage"),
            "{row}"
        );
        assert!(
            page.console_errors().is_empty(),
            "{:?}",
            page.console_errors()
        );
        page.screenshot(&format!("receipts-desktop-{engine}")).await;
        crate::support::phone(&page, &format!("receipts-phone-{engine}")).await;
    }
}

#[tokio::test]
async fn a_key_that_may_not_read_receipts_is_neither_shown_nor_served_the_receipts_pages() {
    let Some(browser) = Browser::launch_or_skip().await else {
        return;
    };
    for app in TestApp::all().await {
        seed(&app).await;
        let (_, ingest) = app.tenant_key("console-ingest", &[Scope::Ingest]).await;
        let page = browser.new_page().await;
        sign_in(&page, &app, &ingest).await;
        // Its first page is already refused; the form token is the session's, as the
        // database keeps it, so that only the scope can be what refuses the forms below.
        assert!(page.text("main h1").await.starts_with("403"));
        let cookies = page.cookies().await;
        let id = cookies
            .iter()
            .find(|c| c["name"] == "tollgate_session")
            .and_then(|c| c["value"].as_str())
            .expect("a session cookie");
        let hash = hex::encode(Sha256::digest(id.as_bytes()));
        let session = app
            .db
            .store
            .console_session(&hash, tollgate_core::time::now_us())
            .await
            .expect("read")
            .expect("a live session");
        let statuses = page
            .eval(&format!(
                "(async () => {{ \
                   const body = () => new URLSearchParams({{csrf: {csrf:?}, mode: 'since_last_receipt'}}); \
                   const post = (u) => fetch(u, {{method: 'POST', body: body()}}).then(r => r.status); \
                   const get = (u) => fetch(u).then(r => r.status); \
                   return [await get('/ui/receipts'), await get('/ui/receipts/new'), \
                           await post('/ui/receipts/preview'), await post('/ui/receipts')]; }})()",
                csrf = session.csrf_token
            ))
            .await;
        assert_eq!(statuses, json!([403, 403, 403, 403]), "{}", app.engine());
        page.goto(&format!("{}/ui/receipts", app.base)).await;
        assert!(!page.exists("#generate").await);
        assert!(!page
            .texts("header nav a")
            .await
            .contains(&"Receipts".to_string()));
        let listed = app.get("/api/v1/receipts").await.body;
        assert_eq!(listed["total"], 0, "nothing was signed");
    }
}
