//! One query vocabulary: every query parameter of the OpenAPI document is a known name, an idea
//! with several names is spelled the canonical way except where a contract Tollgate does not
//! own fixes another spelling, every alias is documented beside its name, and the server
//! reads an alias as the name and refuses both at once.

use std::collections::BTreeMap;

use serde_json::json;
use tollgate_api::vocabulary::{idea_of, IDEAS};
use tollgate_server::openapi_document as document;

use crate::support::{assert_error, TestApp};

/// Query parameter names with one spelling, each one idea no other name stands for. A new
/// parameter name must be added here or to `tollgate_api::vocabulary::IDEAS` (as an idea of
/// its own, or as an alias of one), which is where a new synonym is caught.
const ONE_NAME: &[(&str, &str)] = &[
    ("alias", "an llmring alias"),
    ("all", "every price, not only the ones in force"),
    ("api_key_id", "an API key"),
    ("at", "the instant prices were in force"),
    ("bucket", "the time bucket of analytics rows"),
    ("capabilities", "registry models with a capability"),
    ("conversation_id", "a conversation"),
    ("currency", "an ISO 4217 currency"),
    ("date", "one UTC day"),
    ("dimension", "a recorded dimension"),
    ("format", "an output format"),
    ("from", "the earlier size of a tenant log"),
    (
        "include_messages",
        "whether a conversation comes with its messages",
    ),
    ("is_active", "active MCP objects only"),
    ("limit", "how many items at most"),
    ("log_id", "a log certified by a receipt"),
    (
        "message_limit",
        "how many messages of a conversation at most",
    ),
    ("model", "a model"),
    ("month", "a calendar month"),
    ("offset", "how many items to skip"),
    ("origin", "where a call came from"),
    (
        "period",
        "a day or month of usage (the ClientSphere billing contract)",
    ),
    ("project_id", "an MCP project"),
    ("provider", "a provider"),
    ("providers", "registry models of providers"),
    (
        "range",
        "a month or all time of costs (the ClientSphere billing contract)",
    ),
    ("retention_days", "how many days of messages to keep"),
    ("seq", "an entry of a tenant log"),
    ("server_id", "an MCP server"),
    ("size", "a size of a tenant log"),
    ("tag", "a receipt label"),
    ("to", "the later size of a tenant log"),
    ("type", "a kind of ledger entry"),
    ("unpriced", "calls without a price only"),
    ("user_id", "an end user"),
    ("user_prefix", "end users whose id starts so"),
    ("value", "a recorded dimension's value"),
    ("year", "a calendar year"),
];

/// Each operation's query parameters, by `METHOD path`: `(name, description)`.
fn query_parameters() -> BTreeMap<String, Vec<(String, String)>> {
    let doc = serde_json::to_value(document()).expect("the document is JSON");
    let mut found = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let params: Vec<(String, String)> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    let name = p["name"].as_str().expect("a name").to_string();
                    let text = p["description"].as_str().unwrap_or_default().to_string();
                    (name, text)
                })
                .collect();
            if !params.is_empty() {
                found.insert(format!("{} {path}", method.to_uppercase()), params);
            }
        }
    }
    found
}

fn is_alias(description: &str) -> bool {
    description.starts_with("Alias of `")
}

#[test]
fn every_query_parameter_of_the_document_is_a_name_the_vocabulary_knows() {
    let mut unknown = Vec::new();
    for (op, params) in query_parameters() {
        for (name, _) in params {
            let known =
                ONE_NAME.iter().any(|(n, _)| *n == name) || IDEAS.iter().any(|i| i.has(&name));
            if !known {
                unknown.push(format!("{op}: ?{name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "query parameters no vocabulary entry knows (a synonym of a known idea? then use the \
         canonical name and list the new one as an alias in tollgate_api::vocabulary; a new \
         idea? then add it to ONE_NAME):\n  {}",
        unknown.join("\n  ")
    );
    for idea in IDEAS {
        for name in idea.names() {
            assert!(
                !ONE_NAME.iter().any(|(n, _)| *n == name),
                "{name} is both a one-name idea and a name of {}",
                idea.meaning
            );
        }
    }
}

#[test]
fn every_route_spells_an_idea_the_canonical_way_unless_its_contract_says_otherwise() {
    let mut wrong = Vec::new();
    for (op, params) in query_parameters() {
        let path = op.split_once(' ').expect("METHOD path").1;
        for (name, description) in &params {
            let Some(idea) = idea_of(path, name) else {
                continue;
            };
            let own = idea.name_on(path);
            if is_alias(description) {
                if !description.starts_with(&format!("Alias of `{own}`")) {
                    wrong.push(format!(
                        "{op}: ?{name} is documented as an alias of another name than {own}"
                    ));
                }
                continue;
            }
            if name != own {
                wrong.push(format!("{op}: ?{name} where the route's name is ?{own}"));
            }
            for other in idea.names().filter(|n| n != name) {
                let listed = params.iter().any(|(n, d)| n == other && is_alias(d));
                if !listed {
                    wrong.push(format!(
                        "{op}: the alias ?{other} of ?{name} is not documented"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_routes_that_keep_a_contract_name_are_llmrings_and_take_that_name() {
    let ops = query_parameters();
    for idea in IDEAS {
        for (path, name) in idea.contract {
            assert!(
                ["/api/v1/logs", "/api/v1/stats"].contains(path),
                "{path} keeps ?{name}, but only llmring's routes keep llmring's names"
            );
            let params = &ops[&format!("GET {path}")];
            assert!(
                params.iter().any(|(n, d)| n == name && !is_alias(d)),
                "GET {path} does not take ?{name}: {params:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_reads_as_the_routes_own_name_on_both_engines() {
    for app in TestApp::all().await {
        for time in ["2026-01-10T10:00:00Z", "2026-03-10T10:00:00Z"] {
            let mut body = json!({"provider": "openai", "model": "gpt-4o", "timestamp": time,
                                  "input_tokens": 1000, "output_tokens": 0, "user_id": "u1"});
            let r = app.post("/api/v1/log", &body).await;
            assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
            body["model"] = json!("gpt-4o-mini");
        }
        let pairs: [(&str, &str); 4] = [
            // The canonical names on an analytics route, and llmring's on it.
            (
                "/api/v1/analytics/usage?group_by=model&start=2026-01-01&end=2026-01-31",
                "/api/v1/analytics/usage?group_by=model&start_date=2026-01-01&end_date=2026-01-31",
            ),
            (
                "/api/v1/analytics/top?group_by=model&start=2026-01-01&end=2026-01-31",
                "/api/v1/analytics/top?by=model&start=2026-01-01&end=2026-01-31",
            ),
            // llmring's names on llmring's routes, and the canonical ones there.
            (
                "/api/v1/logs?start_date=2026-03-01&end_date=2026-03-31",
                "/api/v1/logs?start=2026-03-01&end=2026-03-31",
            ),
            (
                "/api/v1/stats?start_date=2026-01-01&end_date=2026-01-31",
                "/api/v1/stats?start=2026-01-01&end=2026-01-31",
            ),
        ];
        for (own, alias) in pairs {
            let a = app.get(own).await;
            let b = app.get(alias).await;
            assert_eq!(a.status, 200, "{}: {own}: {}", app.engine(), a.body);
            assert_eq!(a.body, b.body, "{}: {alias}", app.engine());
        }
        // The period is the one asked for, not the default: one call in it.
        let logs = app
            .get("/api/v1/logs?start=2026-03-01&end=2026-03-31")
            .await;
        assert_eq!(
            logs.body.as_array().map(Vec::len),
            Some(1),
            "{}: {}",
            app.engine(),
            logs.body
        );
        let usage = app
            .get("/api/v1/analytics/usage?group_by=model&start_date=2026-01-01&end_date=2026-01-31")
            .await;
        assert_eq!(
            usage.body["start_date"], "2026-01-01T00:00:00.000000Z",
            "{}",
            usage.body
        );
        assert_eq!(usage.body["rows"][0]["key"], "gpt-4o", "{}", usage.body);
        let coverage = app
            .get("/api/v1/pricing/coverage?start_date=2026-01-01&end=2026-01-31")
            .await;
        assert_eq!(coverage.status, 200, "{}", coverage.body);
        assert!(
            coverage.body["start_date"]
                .as_str()
                .is_some_and(|s| s.starts_with("2026-01-01")),
            "{}",
            coverage.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_and_its_alias_in_one_request_are_refused_naming_both() {
    for app in TestApp::all().await {
        for (path, own, other) in [
            (
                "/api/v1/analytics/usage?start=2026-01-01&start_date=2026-01-02",
                "start",
                "start_date",
            ),
            (
                "/api/v1/logs?end=2026-01-01&end_date=2026-01-02",
                "end_date",
                "end",
            ),
            (
                "/api/v1/analytics/top?by=user&group_by=model",
                "group_by",
                "by",
            ),
            (
                "/api/billing/history?user_id=u&start_date=2026-01-01&start=2026-01-01",
                "start",
                "start_date",
            ),
        ] {
            let r = app.get(path).await;
            assert_error(&r, 400, "INVALID_QUERY");
            assert_eq!(r.body["error"]["field"], own, "{}: {path}", app.engine());
            let message = r.body["error"]["message"].as_str().expect("message");
            assert!(
                message.contains(own) && message.contains(other),
                "{}: {path}: {message}",
                app.engine()
            );
        }
        // On the tenant log's entries `start` is a position, and `start_date` no name of it.
        let r = app
            .get("/api/v1/transparency/entries?start=0&start_date=2026-01-01")
            .await;
        assert_eq!(r.status, 200, "{}: {}", app.engine(), r.body);
    }
}
