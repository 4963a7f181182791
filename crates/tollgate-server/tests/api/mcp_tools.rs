//! Tools (`/api/v1/mcp/tools`): registered by hand on one of the tenant's servers with
//! llmring's `MCPToolCreate` (and Tollgate's optional price), listed as llmring's `mcp tools`
//! lists them, each with its server, and changed with Tollgate's `PATCH`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::mcp::{id, in_order, key_set, Llmring};
use crate::support::{assert_error, TestApp};

const TOOL_KEYS: [&str; 8] = [
    "name",
    "description",
    "input_schema",
    "is_active",
    "id",
    "server_id",
    "api_key_id",
    "created_at",
];

#[tokio::test]
async fn tools_are_registered_on_the_tenants_servers_with_an_optional_price_and_listed_with_their_server(
) {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let s = c
            .register("files", "https://files.example/mcp", "http")
            .await;
        let other = c
            .register("other", "https://other.example/mcp", "http")
            .await;
        let (status, text) = c
            .raw(
                Method::POST,
                "/api/v1/mcp/tools",
                Some(
                    &json!({"server_id": s, "name": "search", "description": "Search files",
                             "input_schema": {"type": "object"}, "is_active": false,
                             "api_key_id": "ignored"})
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(status, 200, "{}: {text}", app.engine());
        in_order(&text, &TOOL_KEYS);
        let search: Value = serde_json::from_str(&text).expect("json");
        let mut expected: Vec<String> = TOOL_KEYS.iter().map(|k| k.to_string()).collect();
        expected.sort();
        assert_eq!(
            key_set(&search),
            expected,
            "an unpriced tool is llmring's MCPTool exactly"
        );
        assert_eq!(search["is_active"], true);
        assert_eq!(search["server_id"], s.as_str());

        let priced = c
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": s, "name": "fetch", "input_schema": {},
                        "price_per_call": "0.010", "price_per_unit": "0.0000005"}),
            )
            .await;
        assert_eq!(priced.status, 200, "{}", priced.body);
        assert_eq!(priced.body["price_per_call"], "0.010");
        assert_eq!(priced.body["price_per_unit"], "0.0000005");
        assert_eq!(priced.body["currency"], "USD", "the default");
        c.post(
            "/api/v1/mcp/tools",
            &json!({"server_id": other, "name": "alpha", "input_schema": {},
                    "price_per_call": "1", "currency": "eur"}),
        )
        .await;

        let dup = c
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": s, "name": "search", "input_schema": {}}),
            )
            .await;
        assert_error(&dup, 409, "CONFLICT");
        assert_eq!(dup.body["error"]["field"], "name");

        let missing = c
            .post(
                "/api/v1/mcp/tools",
                &json!({"server_id": uuid::Uuid::new_v4(), "name": "x", "input_schema": {}}),
            )
            .await;
        assert_error(&missing, 404, "NOT_FOUND");
        assert_eq!(missing.body["error"]["field"], "server_id");
        for (body, field) in [
            (json!({"server_id": s, "name": "x"}), ""),
            (
                json!({"server_id": s, "name": "x", "input_schema": []}),
                "input_schema",
            ),
            (
                json!({"server_id": "nope", "name": "x", "input_schema": {}}),
                "server_id",
            ),
            (
                json!({"server_id": s, "name": "", "input_schema": {}}),
                "name",
            ),
            (
                json!({"server_id": s, "name": "x", "input_schema": {}, "price_per_call": "-1"}),
                "price_per_call",
            ),
            (
                json!({"server_id": s, "name": "x", "input_schema": {}, "price_per_unit": 0.5}),
                "price_per_unit",
            ),
            (
                json!({"server_id": s, "name": "x", "input_schema": {}, "price_per_call": "abc"}),
                "price_per_call",
            ),
            (
                json!({"server_id": s, "name": "x", "input_schema": {}, "currency": "dollars"}),
                "currency",
            ),
        ] {
            let r = c.post("/api/v1/mcp/tools", &body).await;
            assert_error(&r, 422, "INVALID_FIELD");
            if !field.is_empty() {
                assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
            }
        }

        // `llmring mcp tools [--server-id]`.
        let all = c.get("/api/v1/mcp/tools?is_active=true").await;
        let names: Vec<&str> = all
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(|t| t["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, vec!["alpha", "fetch", "search"], "by name");
        assert_eq!(all.body[0]["currency"], "EUR");
        let mine = c
            .get(&format!(
                "/api/v1/mcp/tools?is_active=true&server_id={s}&project_id="
            ))
            .await;
        assert_eq!(mine.body.as_array().expect("a list").len(), 2);
        assert_eq!(
            mine.body[1]["server"],
            json!({"id": s, "name": "files", "url": "https://files.example/mcp"})
        );
        assert_error(
            &c.get("/api/v1/mcp/tools?server_id=nope").await,
            400,
            "INVALID_QUERY",
        );
        let one = c.get(&format!("/api/v1/mcp/tools/{}", id(&search))).await;
        assert_eq!(one.body["server"]["name"], "files");
        assert_eq!(one.body["name"], "search");

        // Tollgate's PATCH: a price and a schema, then the price cleared.
        let path = format!("/api/v1/mcp/tools/{}", id(&priced.body));
        let changed = c
            .patch(
                &path,
                &json!({"price_per_call": null, "price_per_unit": "0.25", "currency": "GBP",
                        "description": "Fetch a URL", "input_schema": {"type": "object"}}),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert!(
            changed.body.get("price_per_call").is_none(),
            "{}",
            changed.body
        );
        assert_eq!(
            (&changed.body["price_per_unit"], &changed.body["currency"]),
            (&json!("0.25"), &json!("GBP"))
        );
        assert_eq!(changed.body["description"], "Fetch a URL");
        assert_eq!(changed.body["server"]["id"], s.as_str());
        let unpriced = c.patch(&path, &json!({"price_per_unit": null})).await;
        assert_eq!(
            key_set(&unpriced.body),
            {
                let mut k = expected.clone();
                k.push("server".into());
                k.sort();
                k
            },
            "{}: no price left, no currency",
            app.engine()
        );
        assert_error(
            &c.patch(&path, &json!({"price_per_call": "-0.5"})).await,
            422,
            "INVALID_FIELD",
        );
        let off = c.patch(&path, &json!({"is_active": false})).await;
        assert_eq!(off.body["is_active"], false);
        let inactive = c
            .get(&format!("/api/v1/mcp/tools?is_active=false&server_id={s}"))
            .await;
        assert_eq!(inactive.body[0]["id"], id(&priced.body).as_str());
    }
}
