//! `GET /registry/…`: llmring's model registry filled from the price book in force.

use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::Value;
use tollgate_core::pricing::{parse_price_file, PriceSource};
use tollgate_store::Scope;

use crate::support::{assert_error, TestApp};

/// A GET with an optional key and `If-None-Match`: status, headers and JSON body (Null when
/// there is none).
async fn fetch(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    if_none_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.http.get(format!("{}{path}", app.base));
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    if let Some(tag) = if_none_match {
        req = req.header(IF_NONE_MATCH, tag);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    if status == 304 {
        assert!(bytes.is_empty(), "a 304 has no body");
    }
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn header(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> String {
    headers[name].to_str().expect("ascii").to_string()
}

#[tokio::test]
async fn the_registry_lists_a_built_in_model_at_the_rates_of_the_price_book_without_a_key() {
    for app in TestApp::all().await {
        let (status, headers, body) = fetch(&app, "/registry/", None, None).await;
        assert_eq!(status, 200, "{}: {body}", app.engine());
        let m = &body["models"]["openai:gpt-4o"];
        assert_eq!(m["provider"], "openai");
        assert_eq!(m["model_name"], "gpt-4o");
        assert_eq!(m["display_name"], "gpt-4o");
        assert_eq!(m["dollars_per_million_tokens_input"], 2.5);
        assert_eq!(m["dollars_per_million_tokens_output"], 10.0);
        assert_eq!(m["dollars_per_million_tokens_cached_input"], 1.25);
        assert_eq!(m["dollars_per_million_tokens_input_exact"], "2.50");
        assert_eq!(m["dollars_per_million_tokens_output_exact"], "10.00");
        assert_eq!(m["dollars_per_million_tokens_cached_input_exact"], "1.25");
        assert_eq!(m["currency"], "USD");
        assert_eq!(m["price_source"], "builtin");
        assert_eq!(m["price_version"], "builtin:openai/gpt-4o@2024-08-06");
        assert_eq!(m["max_input_tokens"], Value::Null);
        assert_eq!(m["supports_vision"], false);
        assert_eq!(m["is_active"], true);
        assert_eq!(body["providers"]["openai"]["name"], "OpenAI");
        assert!(body["providers"]["anthropic"].is_object());

        let version = body["version"].as_str().expect("a version");
        assert_eq!(header(&headers, ETAG), format!("\"{version}\""));
        assert_eq!(header(&headers, CACHE_CONTROL), "public, max-age=3600");

        let (status, _, same) = fetch(&app, "/registry.json", None, None).await;
        assert_eq!(status, 200);
        assert_eq!(same, body, "/registry.json is the same answer");
    }
}

#[tokio::test]
async fn a_tenant_price_override_shows_for_that_tenant_s_key_only() {
    for mut app in TestApp::all().await {
        let (tenant, key) = app.tenant_key("acme", &[Scope::Ingest]).await;
        let file = "[[prices]]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n\
                    effective_from = \"2025-01-01\"\ninput = \"1.10\"\noutput = \"4.40\"\n";
        let entries = parse_price_file(file, PriceSource::Tenant, Some(&tenant)).expect("file");
        app.db.store.import_prices(&entries).await.expect("import");
        app.restart(|_| {}).await;

        let (status, headers, own) = fetch(&app, "/registry/", Some(&key), None).await;
        assert_eq!(status, 200, "{}: {own}", app.engine());
        let m = &own["models"]["openai:gpt-4o"];
        assert_eq!(m["dollars_per_million_tokens_input"], 1.1);
        assert_eq!(m["dollars_per_million_tokens_input_exact"], "1.10");
        assert_eq!(m["dollars_per_million_tokens_output_exact"], "4.40");
        assert_eq!(m["price_source"], "tenant");
        assert_eq!(header(&headers, CACHE_CONTROL), "private, max-age=3600");
        let file = fetch(&app, "/registry/openai/models.json", Some(&key), None).await;
        assert_eq!(
            file.2["models"]["openai:gpt-4o"]["dollars_per_million_tokens_input_exact"],
            "1.10"
        );

        let (_, _, anonymous) = fetch(&app, "/registry/", None, None).await;
        let (_, _, other) = fetch(&app, "/registry/", Some(&app.key.clone()), None).await;
        for seen in [&anonymous, &other] {
            let m = &seen["models"]["openai:gpt-4o"];
            assert_eq!(m["dollars_per_million_tokens_input_exact"], "2.50");
            assert_eq!(m["price_source"], "builtin");
        }
        assert_ne!(own["version"], anonymous["version"]);
        assert_eq!(other["version"], anonymous["version"]);

        let (status, _, bad) = fetch(&app, "/registry/", Some("tg_not_a_key"), None).await;
        assert_eq!(status, 401, "a key that is sent must be valid: {bad}");
    }
}

#[tokio::test]
async fn providers_and_capabilities_filter_the_models_and_unknown_capabilities_give_none() {
    for app in TestApp::all().await {
        let models = |body: &Value| -> Vec<String> {
            body["models"]
                .as_object()
                .expect("models")
                .keys()
                .cloned()
                .collect()
        };
        let all = models(&fetch(&app, "/registry/", None, None).await.2);
        assert!(all.iter().any(|k| k.starts_with("anthropic:")));

        let (_, _, anthropic) = fetch(&app, "/registry/?providers=anthropic", None, None).await;
        let only = models(&anthropic);
        assert!(!only.is_empty());
        assert!(only.iter().all(|k| k.starts_with("anthropic:")), "{only:?}");
        assert!(
            anthropic["providers"]["openai"].is_object(),
            "providers stay"
        );

        let two = models(
            &fetch(&app, "/registry/?providers=openai,%20anthropic", None, None)
                .await
                .2,
        );
        assert!(two
            .iter()
            .all(|k| k.starts_with("openai:") || k.starts_with("anthropic:")));
        assert!(two.iter().any(|k| k.starts_with("openai:")));
        assert!(!two.iter().any(|k| k.starts_with("google:")));

        for caps in ["vision", "function_calling,json_mode", "teleportation"] {
            let (status, _, body) =
                fetch(&app, &format!("/registry/?capabilities={caps}"), None, None).await;
            assert_eq!(status, 200, "{caps}: {body}");
            assert_eq!(models(&body), Vec::<String>::new(), "{caps}");
        }
        let active = models(
            &fetch(&app, "/registry/?capabilities=is_active", None, None)
                .await
                .2,
        );
        assert_eq!(active, all, "a truthy field keeps every model");
        let unfiltered = models(
            &fetch(&app, "/registry/?providers=&capabilities=", None, None)
                .await
                .2,
        );
        assert_eq!(unfiltered, all, "an empty value is no filter");
    }
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_with_an_empty_body() {
    for app in TestApp::all().await {
        let (_, headers, body) = fetch(&app, "/registry/", None, None).await;
        let etag = header(&headers, ETAG);
        let (status, headers, _) = fetch(&app, "/registry/", None, Some(&etag)).await;
        assert_eq!(status, 304, "{}", app.engine());
        assert_eq!(header(&headers, ETAG), etag);
        assert_eq!(header(&headers, CACHE_CONTROL), "public, max-age=3600");
        let listed = format!("\"other\", W/{etag}");
        assert_eq!(fetch(&app, "/registry/", None, Some(&listed)).await.0, 304);
        let filtered = fetch(&app, "/registry/?providers=google", None, Some(&etag)).await;
        assert_eq!(filtered.0, 304, "the validator is the unfiltered version");

        let (status, _, again) = fetch(&app, "/registry/", None, Some("\"stale\"")).await;
        assert_eq!(status, 200);
        assert_eq!(again, body);
    }
}

#[tokio::test]
async fn the_per_provider_file_is_what_the_llmring_client_reads() {
    for app in TestApp::all().await {
        let (status, headers, file) = fetch(&app, "/registry/openai/models.json", None, None).await;
        assert_eq!(status, 200, "{}: {file}", app.engine());
        assert_eq!(file["provider"], "openai");
        let models = file["models"]
            .as_object()
            .expect("models keyed provider:model");
        assert!(!models.is_empty());
        for (k, m) in models {
            assert!(k.starts_with("openai:"), "{k}");
            assert_eq!(m["provider"], "openai");
            assert!(m["display_name"].as_str().is_some_and(|d| !d.is_empty()));
        }
        assert_eq!(
            models["openai:gpt-4o"]["dollars_per_million_tokens_input"],
            2.5
        );
        let version = file["version"].as_i64().expect("an integer version");
        assert!(version >= 20240806, "{version}");
        let digest = file["digest"].as_str().expect("digest");
        assert_eq!(header(&headers, ETAG), format!("\"{digest}\""));
        let tag = format!("\"{digest}\"");
        let (status, _, _) = fetch(&app, "/registry/openai/models.json", None, Some(&tag)).await;
        assert_eq!(status, 304);

        let (_, _, manifest) = fetch(&app, "/registry/manifest.json", None, None).await;
        assert_eq!(
            manifest["providers"]["openai"]["file"],
            "openai/models.json"
        );
        assert_eq!(manifest["providers"]["openai"]["version"], version);
        assert_eq!(manifest["providers"]["openai"]["model_count"], models.len());
        let (_, _, merged) = fetch(&app, "/registry/", None, None).await;
        assert_eq!(manifest["version"], merged["version"]);

        let r = app.get("/registry/nobody/models.json").await;
        assert_error(&r, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn the_current_version_and_dates_are_addressable_and_other_versions_are_not() {
    for app in TestApp::all().await {
        let (_, _, current) = fetch(&app, "/registry/", None, None).await;
        let version = current["version"].as_str().expect("version").to_string();
        let path = format!("/registry/v/{version}/registry.json");
        let (status, headers, pinned) = fetch(&app, &path, None, None).await;
        assert_eq!(status, 200, "{}: {pinned}", app.engine());
        assert_eq!(pinned, current);
        assert_eq!(
            header(&headers, CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );

        // gpt-5.1's built-in price starts on 2025-11-13.
        let day = |d: &str| format!("/registry/v/{d}/registry.json");
        let (status, _, before) = fetch(&app, &day("2025.11.12"), None, None).await;
        assert_eq!(status, 200, "{before}");
        assert_eq!(before["version"], "2025.11.12");
        assert!(before["models"]["openai:gpt-5.1"].is_null());
        assert!(before["models"]["openai:gpt-4o"].is_object());
        let (_, _, on) = fetch(&app, &day("2025.11.13"), None, None).await;
        assert!(on["models"]["openai:gpt-5.1"].is_object());

        let r = app.get("/registry/v/0123456789abcdef/registry.json").await;
        assert_error(&r, 404, "NOT_FOUND");
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not keep past registries")));
    }
}

#[tokio::test]
async fn the_root_links_the_registry() {
    for app in TestApp::all().await {
        let (status, _, root) = fetch(&app, "/", None, None).await;
        assert_eq!(status, 200);
        assert_eq!(root["registry"], "/registry/");
        let (status, _, _) = fetch(&app, "/registry/", None, None).await;
        assert_eq!(status, 200);
    }
}
