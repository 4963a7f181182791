//! The receipt answers as llmring 1.3.0 reads them: `ServerClient.generate_receipt` (all four
//! modes), `preview_receipt`, `get_uncertified_logs`, `get_receipt_logs`, `list_receipts` and
//! `get_receipt`, the `llmring receipts …`, `stats` and `export` commands that print them, and
//! the client's `Receipt` model (llmring-wire §2 R4–R11, §3.1, §8).
//!
//! Requests go out as the client sends them: `Authorization: Bearer` and `X-API-Key`, JSON
//! bodies with only the fields it sets, dates from Python's `datetime.isoformat()`, log ids
//! as strings, `limit` and `offset` on every listing. Redirects are not followed, so a route
//! that answered with a redirect (llmring-server's 307 for `/api/v1/receipts`) fails here.
//!
//! JSON types are pinned as Python's `json` module would hand them to the client: "int" is a
//! number without fraction or exponent, "float" one with (Python `float`, what the `Receipt`
//! model declares and the `:.6f` formatting in the CLI expects), "isotime" a string that
//! `datetime.fromisoformat` parses (Python 3.11+).

use std::collections::BTreeSet;

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::TestApp;

/// A client that sends what llmring's `BaseHTTPClient` sends, and follows no redirect.
struct Llmring<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl<'a> Llmring<'a> {
    fn new(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("http client");
        Llmring { app, http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.app.base))
            .header("Authorization", format!("Bearer {}", self.app.key))
            .header("X-API-Key", &self.app.key)
            .header("Content-Type", "application/json")
    }

    async fn answer(resp: reqwest::RequestBuilder) -> Answer {
        let resp = resp.send().await.expect("send");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// `GET path?limit=…&offset=…`, as every listing method of the client asks.
    async fn get(&self, path: &str, limit: i64, offset: i64) -> Answer {
        let path = format!("{path}?limit={limit}&offset={offset}");
        Self::answer(self.request(reqwest::Method::GET, &path)).await
    }

    /// `GET path` without a query (`get_receipt`).
    async fn get_bare(&self, path: &str) -> Answer {
        Self::answer(self.request(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        Self::answer(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// A 200 answer's body.
    #[track_caller]
    fn ok(&self, what: &str, a: Answer) -> Value {
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{}: {what} answered {}: {}",
            self.app.engine(),
            a.status,
            a.body
        );
        a.body
    }

    /// `POST /api/v1/receipts/generate` with `body`: `{"receipt", "certified_count"}`.
    async fn generate(&self, body: Value) -> (Value, i64) {
        let what = format!("generate {body}");
        let a = self.post("/api/v1/receipts/generate", &body).await;
        let r = self.ok(&what, a);
        assert_keys(
            &what,
            &r,
            &[("receipt", "object"), ("certified_count", "int")],
        );
        assert_receipt(&what, &r["receipt"]);
        let count = r["certified_count"].as_i64().expect("count");
        assert_eq!(
            r["receipt"]["batch_summary"]["total_calls"], count,
            "{what}: the summary counts what was certified"
        );
        (r["receipt"].clone(), count)
    }

    async fn preview(&self, body: Value) -> Value {
        let what = format!("preview {body}");
        let a = self.post("/api/v1/receipts/preview", &body).await;
        self.ok(&what, a)
    }

    async fn uncertified(&self, limit: i64, offset: i64) -> Value {
        let a = self
            .get("/api/v1/receipts/uncertified", limit, offset)
            .await;
        let u = self.ok("uncertified", a);
        assert_uncertified(&u, limit, offset);
        u
    }
}

// ---------------------------------------------------------------------------------------
// What the client posts when it logs a call (llmring 1.3.0 `LoggingService`).

/// One call logged with `log_conversations=True`: `/api/v1/conversations/log`, then the same
/// call again to `/api/v1/log` naming the returned conversation. Returns (conversation id,
/// log id).
async fn log_conversation_call(c: &Llmring<'_>) -> (String, String) {
    let conv = c
        .post(
            "/api/v1/conversations/log",
            &json!({
                "messages": [
                    {"role": "system", "content": "be brief", "tool_calls": null, "tool_call_id": null,
                     "timestamp": null, "metadata": null},
                    {"role": "user", "content": "hello", "tool_calls": null, "tool_call_id": null,
                     "timestamp": null, "metadata": null}
                ],
                "response": {"content": "hi", "model": "openai:gpt-4o", "finish_reason": "stop",
                             "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "cached_tokens": 0}},
                "metadata": {"provider": "openai", "model": "gpt-4o", "alias": "summarizer",
                             "profile": "default", "origin": "llmring", "cost": 0.0075,
                             "input_cost": 0.0025, "output_cost": 0.005, "input_tokens": 1000,
                             "output_tokens": 500, "cached_tokens": 0}
            }),
        )
        .await;
    let conv = c.ok("conversations/log", conv);
    let conversation_id = conv["conversation_id"].as_str().expect("id").to_string();
    let log_id = conv["log_id"].as_str().expect("log id").to_string();
    let twin = c
        .post(
            "/api/v1/log",
            &json!({"model": "gpt-4o", "provider": "openai", "input_tokens": 1000, "output_tokens": 500,
                    "cached_input_tokens": 0, "origin": "llmring", "alias": "summarizer",
                    "profile": "default", "cost": 0.0075, "id_at_origin": conversation_id,
                    "metadata": {"model_alias": "openai:gpt-4o", "finish_reason": "stop",
                                 "conversation_id": conversation_id}}),
        )
        .await;
    let twin = c.ok("the usage post of a conversation call", twin);
    assert_eq!(
        twin["log_id"],
        log_id.as_str(),
        "the same call, counted once"
    );
    (conversation_id, log_id)
}

/// One call logged with `log_metadata` only; `alias` is left out as the client does for a
/// `provider:model` string. `extra` adds Tollgate-only fields (such as `timestamp`).
async fn log_usage_call(
    c: &Llmring<'_>,
    model: &str,
    alias: Option<&str>,
    cost: Option<f64>,
    extra: Value,
) -> String {
    let mut body = json!({"model": model, "provider": "openai", "input_tokens": 200,
                          "output_tokens": 20, "cached_input_tokens": 0, "origin": "llmring",
                          "profile": "default",
                          "metadata": {"model_alias": format!("openai:{model}"), "finish_reason": "stop"}});
    if let Some(alias) = alias {
        body["alias"] = json!(alias);
    }
    if let Some(cost) = cost {
        body["cost"] = json!(cost);
    }
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let r = c.post("/api/v1/log", &body).await;
    let r = c.ok("log", r);
    r["log_id"].as_str().expect("log id").to_string()
}

// ---------------------------------------------------------------------------------------
// Shapes.

/// Whether `v` has one of the `|`-separated JSON types of `ty`.
fn has_type(v: &Value, ty: &str) -> bool {
    ty.split('|').any(|t| match t {
        "string" => v.is_string(),
        "int" => v.is_i64() || v.is_u64(),
        "float" => v.is_f64(),
        "bool" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "isotime" => v.as_str().is_some_and(python_isoformat),
        other => panic!("unknown type {other}"),
    })
}

/// Every key is present in `v` with its type.
#[track_caller]
fn assert_keys(what: &str, v: &Value, keys: &[(&str, &str)]) {
    assert!(v.is_object(), "{what}: not an object: {v}");
    for (key, ty) in keys {
        let got = v.get(key);
        assert!(
            got.is_some_and(|x| has_type(x, ty)),
            "{what}: `{key}` should be {ty}, is {got:?} in {v}"
        );
    }
}

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?(Z|[+-]\d{2}:\d{2})?$` with the
/// fields in range: what Python's `datetime.fromisoformat` reads on 3.11 and later (3.10 and
/// earlier refuse the `Z`). Spelled out by hand: the tests have no regex crate.
fn python_isoformat(s: &str) -> bool {
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    let b = s.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let (head, mut rest) = b.split_at(19);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| head[i] != c) {
        return false;
    }
    let field = |from: usize, to: usize| digits(&head[from..to]);
    let ranges = [
        (0, 4, 1, 9999),
        (5, 7, 1, 12),
        (8, 10, 1, 31),
        (11, 13, 0, 23),
        (14, 16, 0, 59),
        (17, 19, 0, 59),
    ];
    if !ranges
        .iter()
        .all(|&(from, to, lo, hi)| field(from, to).is_some_and(|n| (lo..=hi).contains(&n)))
    {
        return false;
    }
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n != 3 && n != 6 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            digits(&[*h1, *h2]).is_some_and(|h| h < 24)
                && digits(&[*m1, *m2]).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}

/// An isotime in UTC (`Z` or `+00:00`).
#[track_caller]
fn assert_utc(what: &str, v: &Value) {
    let s = v.as_str().unwrap_or_default();
    assert!(
        python_isoformat(s) && (s.ends_with('Z') || s.ends_with("+00:00")),
        "{what}: {v} is not a UTC time datetime.fromisoformat reads"
    );
}

/// The fields of llmring's `Receipt` model (`receipts.py`), with the types it validates.
const RECEIPT_MODEL: &[(&str, &str)] = &[
    ("receipt_id", "string"),
    ("timestamp", "isotime"),
    ("receipt_type", "string"),
    ("alias", "string"),
    ("profile", "string"),
    ("lock_digest", "string"),
    ("provider", "string"),
    ("model", "string"),
    ("prompt_tokens", "int"),
    ("completion_tokens", "int"),
    ("total_tokens", "int"),
    ("input_cost", "float"),
    ("output_cost", "float"),
    ("total_cost", "float"),
    ("batch_summary", "object|null"),
    ("description", "string|null"),
    ("tags", "array|null"),
    ("signature", "string|null"),
];

/// `batch_summary` (BatchReceipt, llmring-wire §3.1); the CLI prints `total_calls`,
/// `total_tokens` (with `:,`), `start_date` and `end_date`.
const BATCH_SUMMARY: &[(&str, &str)] = &[
    ("total_conversations", "int"),
    ("total_calls", "int"),
    ("total_tokens", "int"),
    ("total_cost", "float"),
    ("start_date", "isotime"),
    ("end_date", "isotime"),
    ("by_model", "object"),
    ("by_alias", "object"),
    ("conversation_ids", "array"),
    ("log_ids", "array"),
];

/// An entry of `by_model` / `by_alias`; the CLI prints `calls` and `cost` (`:.6f`).
const GROUP: &[(&str, &str)] = &[("calls", "int"), ("cost", "float"), ("tokens", "int")];

#[track_caller]
fn assert_groups(what: &str, groups: &Value) {
    let groups = groups.as_object().expect("groups");
    assert!(!groups.is_empty(), "{what}: no groups");
    for (name, g) in groups {
        assert_keys(&format!("{what}.{name}"), g, GROUP);
    }
}

/// A receipt as `Receipt(**receipt)` validates it and as the CLI prints it.
#[track_caller]
fn assert_receipt(what: &str, r: &Value) {
    assert_keys(what, r, RECEIPT_MODEL);
    assert_utc(&format!("{what}.timestamp"), &r["timestamp"]);
    let kind = r["receipt_type"].as_str().expect("receipt_type");
    assert!(kind == "single" || kind == "batch", "{what}: {kind}");
    assert_eq!(
        r["total_tokens"].as_i64(),
        Some(
            r["prompt_tokens"].as_i64().expect("prompt")
                + r["completion_tokens"].as_i64().expect("completion")
        ),
        "{what}"
    );
    for tag in r["tags"].as_array().into_iter().flatten() {
        assert!(tag.is_string(), "{what}: tags are List[str]: {tag}");
    }
    // The CLI reads `r.get("batch_summary", {}).get(…)` for a batch: null would crash it.
    let summary = &r["batch_summary"];
    if kind == "batch" || !summary.is_null() {
        let at = format!("{what}.batch_summary");
        assert_keys(&at, summary, BATCH_SUMMARY);
        assert_utc(&format!("{at}.start_date"), &summary["start_date"]);
        assert_utc(&format!("{at}.end_date"), &summary["end_date"]);
        let calls = summary["total_calls"].as_i64().expect("calls");
        assert_eq!(
            kind == "single",
            calls == 1,
            "{what}: {kind} with {calls} calls"
        );
        assert_eq!(summary["total_tokens"], r["total_tokens"], "{what}");
        assert_groups(&format!("{at}.by_model"), &summary["by_model"]);
        assert_groups(&format!("{at}.by_alias"), &summary["by_alias"]);
        for id in summary["log_ids"].as_array().into_iter().flatten() {
            assert!(id.is_string(), "{at}.log_ids: {id}");
        }
    }
}

/// `preview_receipt` when something matches; the CLI prints every one of these.
const PREVIEW: &[(&str, &str)] = &[
    ("total_logs", "int"),
    ("total_conversations", "int"),
    ("total_tokens", "int"),
    ("total_cost", "float"),
    ("start_date", "isotime"),
    ("end_date", "isotime"),
    ("by_model", "object"),
    ("by_alias", "object"),
    ("receipt_type", "string"),
];

#[track_caller]
fn assert_preview(what: &str, p: &Value, logs: i64) {
    assert_keys(what, p, PREVIEW);
    assert_eq!(p["total_logs"], logs, "{what}: {p}");
    assert_utc(&format!("{what}.start_date"), &p["start_date"]);
    assert_utc(&format!("{what}.end_date"), &p["end_date"]);
    assert_eq!(
        p["receipt_type"],
        if logs == 1 { "single" } else { "batch" },
        "{what}"
    );
    assert_groups(&format!("{what}.by_model"), &p["by_model"]);
    assert_groups(&format!("{what}.by_alias"), &p["by_alias"]);
}

/// `get_uncertified_logs` and the `llmring receipts uncertified` lines.
const UNCERTIFIED_LOG: &[(&str, &str)] = &[
    ("id", "string"),
    ("type", "string"),
    ("alias", "string"),
    ("provider", "string"),
    ("model", "string"),
    ("input_tokens", "int"),
    ("output_tokens", "int"),
    ("cost", "float"),
    ("timestamp", "isotime"),
];

#[track_caller]
fn assert_uncertified(u: &Value, limit: i64, offset: i64) {
    assert_keys(
        "uncertified",
        u,
        &[
            ("logs", "array"),
            ("total", "int"),
            ("limit", "int"),
            ("offset", "int"),
        ],
    );
    assert_eq!(
        (u["limit"].as_i64(), u["offset"].as_i64()),
        (Some(limit), Some(offset))
    );
    for log in u["logs"].as_array().expect("logs") {
        assert_keys("uncertified.logs[]", log, UNCERTIFIED_LOG);
        assert!(
            log["type"] == "usage" || log["type"] == "conversation",
            "{log}"
        );
        let id = log["id"].as_str().expect("id");
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "ids go back as log_ids: {id}"
        );
        assert_utc("uncertified.logs[].timestamp", &log["timestamp"]);
    }
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string id").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------

#[test]
fn the_isoformat_check_accepts_python_isoformat_output_and_refuses_partial_or_unreadable_times() {
    // What datetime.isoformat() writes, naive and aware, and Tollgate's `Z` form.
    for good in [
        "2026-02-03T00:00:00",
        "2026-02-03T23:59:59.999999",
        "2026-02-03T00:00:00+00:00",
        "2026-02-03T10:30:00.123456+01:00",
        "2026-02-03T10:30:00.123-05:30",
        "2026-11-22T01:32:11.725900Z",
    ] {
        assert!(python_isoformat(good), "{good}");
    }
    // datetime.fromisoformat refuses these (Python 3.11).
    for unreadable in [
        "",
        "2026-13-03T00:00:00",
        "2026-02-03T24:00:00",
        "2026-02-03T00:00:00z",
        "2026-02-03T00:00:00ZZ",
        "1770076800",
    ] {
        assert!(!python_isoformat(unreadable), "{unreadable}");
    }
    // Python 3.11 reads these, 3.10 not all of them; a receipt time is a full instant in
    // the shape above, so the check refuses them too.
    for partial in [
        "2026-02-03",
        "2026-02-03 00:00:00",
        "2026-02-03T00:00",
        "2026-02-03T00:00:00.12",
        "2026-02-03T00:00:00.1234567",
        "2026-02-03T00:00:00+0000",
    ] {
        assert!(!python_isoformat(partial), "{partial}");
    }
}

/// A receipt as Tollgate issues one, trimmed to what llmring reads.
fn sample_receipt() -> Value {
    json!({
        "receipt_id": "rcpt_01", "timestamp": "2026-02-03T10:00:00.123456Z", "receipt_type": "batch",
        "alias": "default", "profile": "default", "lock_digest": "", "provider": "openai",
        "model": "batch:2 calls", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "input_cost": 0.0001, "output_cost": 0.0002, "total_cost": 0.0003,
        "description": null, "tags": ["monthly"], "signature": "ed25519:AAAA",
        "batch_summary": {
            "total_conversations": 0, "total_calls": 2, "total_tokens": 15, "total_cost": 0.0003,
            "start_date": "2026-02-03T09:00:00.000000Z", "end_date": "2026-02-03T09:30:00.000000Z",
            "by_model": {"gpt-4o": {"calls": 2, "cost": 0.0003, "tokens": 15}},
            "by_alias": {"default": {"calls": 2, "cost": 0.0003, "tokens": 15}},
            "conversation_ids": [], "log_ids": ["a", "b"]
        }
    })
}

#[test]
fn the_receipt_check_refuses_what_llmrings_model_or_cli_would_choke_on() {
    assert_receipt("sample", &sample_receipt());
    let broken: [(&str, Value); 11] = [
        ("/total_cost", json!(1)),
        ("/total_cost", json!("0.0003")),
        ("/prompt_tokens", json!("10")),
        ("/timestamp", json!("2026-02-03 10:00:00")),
        ("/timestamp", json!("2026-02-03T10:00:00")),
        ("/receipt_type", json!("multi")),
        ("/tags", json!([1])),
        ("/batch_summary", Value::Null),
        ("/batch_summary/total_calls", json!(1)),
        ("/batch_summary/total_tokens", json!(15.0)),
        ("/batch_summary/by_model/gpt-4o/cost", Value::Null),
    ];
    for (path, value) in broken {
        let mut r = sample_receipt();
        *r.pointer_mut(path).expect("path") = value.clone();
        let refused = std::panic::catch_unwind(|| assert_receipt("mutated", &r)).is_err();
        assert!(refused, "{path} = {value} passed the check");
    }
    let mut r = sample_receipt();
    r.as_object_mut().expect("object").remove("profile");
    assert!(std::panic::catch_unwind(|| assert_receipt("no profile", &r)).is_err());
}

#[tokio::test]
async fn list_receipts_answers_at_the_path_without_a_slash_with_receipts_total_limit_and_offset() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let empty = c.get("/api/v1/receipts", 100, 0).await;
        let empty = c.ok("list_receipts (none yet)", empty);
        assert_keys(
            "list (empty)",
            &empty,
            &[
                ("receipts", "array"),
                ("total", "int"),
                ("limit", "int"),
                ("offset", "int"),
            ],
        );
        assert_eq!(empty["total"], 0);

        let mut issued = Vec::new();
        for _ in 0..3 {
            log_usage_call(&c, "gpt-4o-mini", Some("fast"), None, json!({})).await;
            let (receipt, _) = c.generate(json!({"since_last_receipt": true})).await;
            issued.push(receipt["receipt_id"].clone());
        }

        // What list_receipts() sends: GET /api/v1/receipts?limit=100&offset=0, answered
        // directly (a redirect would be a 3xx here).
        let all = c.get("/api/v1/receipts", 100, 0).await;
        assert_eq!(all.status, StatusCode::OK, "no redirect: {}", all.body);
        let all = all.body;
        assert_keys(
            "list",
            &all,
            &[
                ("receipts", "array"),
                ("total", "int"),
                ("limit", "int"),
                ("offset", "int"),
            ],
        );
        assert_eq!(
            (
                all["total"].as_i64(),
                all["limit"].as_i64(),
                all["offset"].as_i64()
            ),
            (Some(3), Some(100), Some(0))
        );
        let receipts = all["receipts"].as_array().expect("receipts");
        assert_eq!(receipts.len(), 3);
        assert_eq!(receipts[0]["receipt_id"], issued[2], "newest first");

        // A page: `total` still counts every receipt; limit and offset are echoed.
        let page = c.get("/api/v1/receipts", 2, 1).await;
        let page = c.ok("list page", page);
        assert_eq!(
            (
                page["total"].as_i64(),
                page["limit"].as_i64(),
                page["offset"].as_i64()
            ),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(page["receipts"].as_array().map(Vec::len), Some(2));
        assert_eq!(page["receipts"][0], receipts[1]);

        // `llmring stats` asks for limit=1000.
        let stats = c.get("/api/v1/receipts", 1000, 0).await;
        let stats = c.ok("list as llmring stats asks", stats);
        assert_eq!(stats["limit"], 1000);
        assert_eq!(stats["receipts"].as_array().map(Vec::len), Some(3));
    }
}

#[tokio::test]
async fn every_listed_and_fetched_receipt_fits_llmrings_receipt_model_in_all_four_modes() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let (conversation_id, conversation_log) = log_conversation_call(&c).await;
        let fast = log_usage_call(&c, "gpt-4o-mini", Some("fast"), Some(0.0001), json!({})).await;
        let dated = log_usage_call(
            &c,
            "gpt-4o",
            None,
            None,
            json!({"timestamp": "2026-02-03T10:00:00Z"}),
        )
        .await;

        let (by_conversation, n) = c
            .generate(
                json!({"conversation_id": conversation_id, "description": "one conversation"}),
            )
            .await;
        assert_eq!(n, 1);
        assert_eq!(by_conversation["receipt_type"], "single");
        assert_eq!(by_conversation["description"], "one conversation");
        let (by_dates, n) = c
            .generate(json!({"start_date": "2026-02-03T00:00:00",
                             "end_date": "2026-02-03T23:59:59.999999", "tags": ["february"]}))
            .await;
        assert_eq!(n, 1);
        assert_eq!(by_dates["tags"], json!(["february"]));
        let (by_ids, n) = c
            .generate(json!({"log_ids": [conversation_log, dated]}))
            .await;
        assert_eq!(n, 2);
        assert_eq!(by_ids["receipt_type"], "batch");
        let (since_last, n) = c
            .generate(json!({"since_last_receipt": true, "description": "October",
                             "tags": ["billing", "monthly"]}))
            .await;
        assert_eq!(n, 1, "only the fast call was never certified");
        assert_eq!(since_last["batch_summary"]["log_ids"], json!([fast]));
        let issued = [by_conversation, by_dates, by_ids, since_last];

        let list = c.get("/api/v1/receipts", 100, 0).await;
        let list = c.ok("list_receipts", list);
        assert_eq!(list["total"], 4);
        let listed = list["receipts"].as_array().expect("receipts");
        assert_eq!(listed.len(), 4);
        for r in listed {
            assert_receipt("list_receipts().receipts[]", r);
            let id = r["receipt_id"].as_str().expect("id");
            let got = c.get_bare(&format!("/api/v1/receipts/{id}")).await;
            let got = c.ok("get_receipt", got);
            assert_receipt("get_receipt()", &got);
            assert_eq!(&got, r, "get_receipt and list_receipts agree");
            assert!(
                issued.iter().any(|i| i == r),
                "a listed receipt is the one generate answered: {r}"
            );
        }
    }
}

#[tokio::test]
async fn generate_and_preview_take_the_dates_python_isoformat_writes_with_and_without_an_offset() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let dated = log_usage_call(
            &c,
            "gpt-4o",
            Some("dated"),
            None,
            json!({"timestamp": "2026-02-03T10:00:00Z"}),
        )
        .await;
        log_usage_call(
            &c,
            "gpt-4o",
            Some("dated"),
            None,
            json!({"timestamp": "2026-02-04T10:00:00Z"}),
        )
        .await;

        // datetime(2026, 2, 3).isoformat() and friends: naive (taken as UTC), aware in UTC,
        // aware in another zone (10:30+01:00 is 09:30Z: the offset must be honoured), and
        // with microseconds.
        for (start, end) in [
            ("2026-02-03T00:00:00", "2026-02-03T23:59:59.999999"),
            (
                "2026-02-03T00:00:00+00:00",
                "2026-02-03T23:59:59.999999+00:00",
            ),
            ("2026-02-03T10:30:00+01:00", "2026-02-03T11:30:00+01:00"),
            ("2026-02-03T09:59:59.500000", "2026-02-03T10:00:00.500000"),
            ("2026-02-03T10:00:00", "2026-02-03T10:00:00"),
        ] {
            let what = format!("{start} .. {end}");
            let body = json!({"start_date": start, "end_date": end});
            let p = c.preview(body.clone()).await;
            assert_preview(&format!("preview {what}"), &p, 1);
            assert_eq!(p["total_conversations"], 0);
            assert_eq!(p["start_date"], p["end_date"]);
            assert!(
                p["start_date"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("2026-02-03T10:00:00"),
                "{what}: {p}"
            );
            let (receipt, n) = c.generate(body).await;
            assert_eq!(n, 1, "{what}");
            assert_eq!(receipt["receipt_type"], "single", "{what}");
            assert_eq!(
                receipt["batch_summary"]["log_ids"],
                json!([dated]),
                "{what}"
            );
        }

        // Both days, then a window that misses the log by a microsecond.
        let p = c
            .preview(json!({"start_date": "2026-02-03T00:00:00+00:00",
                            "end_date": "2026-02-05T00:00:00+00:00"}))
            .await;
        assert_preview("preview of two days", &p, 2);
        let p = c
            .preview(json!({"start_date": "2026-02-03T10:00:00.000001",
                            "end_date": "2026-02-03T23:59:59"}))
            .await;
        assert_eq!(p["total_logs"], 0, "{p}");
    }
}

#[tokio::test]
async fn generate_takes_a_conversation_id_log_id_strings_and_since_last_receipt_as_llmring_sends_them(
) {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let (conversation_id, conversation_log) = log_conversation_call(&c).await;
        let fast = log_usage_call(&c, "gpt-4o-mini", Some("fast"), Some(0.0001), json!({})).await;
        log_usage_call(&c, "gpt-4o-mini", None, None, json!({})).await;

        // The ids get_uncertified_logs() lists are what the client sends back as log_ids.
        let u = c.uncertified(100, 0).await;
        assert_eq!(
            u["total"], 3,
            "the conversation call was posted twice and counts once"
        );
        let listed = ids(&json!(u["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .map(|l| l["id"].clone())
            .collect::<Vec<_>>()));
        assert!(listed.contains(&conversation_log) && listed.contains(&fast));

        let (r, n) = c
            .generate(json!({"conversation_id": conversation_id}))
            .await;
        assert_eq!(n, 1);
        assert_eq!(r["receipt_type"], "single");
        assert_eq!(r["provider"], "openai");
        assert_eq!(r["batch_summary"]["total_conversations"], 1);
        assert_eq!(
            r["batch_summary"]["conversation_ids"],
            json!([conversation_id])
        );
        assert_eq!(r["batch_summary"]["log_ids"], json!([conversation_log]));

        let chosen = [conversation_log.clone(), fast.clone()];
        let (r, n) = c.generate(json!({"log_ids": chosen})).await;
        assert_eq!(n, 2, "a log already in a receipt may be certified again");
        assert_eq!(r["receipt_type"], "batch");
        assert_eq!(
            ids(&r["batch_summary"]["log_ids"]),
            chosen.into_iter().collect()
        );
        let p = c
            .preview(json!({"log_ids": listed.iter().collect::<Vec<_>>()}))
            .await;
        assert_preview("preview of log ids", &p, 3);

        let before = c.uncertified(100, 0).await["total"]
            .as_i64()
            .expect("total");
        assert_eq!(
            before, 1,
            "only the call without an alias was never certified"
        );
        let p = c.preview(json!({"since_last_receipt": true})).await;
        assert_preview("preview since the last receipt", &p, before);
        let (r, n) = c
            .generate(json!({"since_last_receipt": true, "description": "October",
                             "tags": ["billing", "monthly"]}))
            .await;
        assert_eq!(n, before);
        assert_eq!(r["description"], "October");
        assert_eq!(r["tags"], json!(["billing", "monthly"]));
        assert_eq!(c.uncertified(100, 0).await["total"], 0);
    }
}

#[tokio::test]
async fn preview_answers_what_llmring_prints_and_zeros_when_nothing_matches() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let (conversation_id, _) = log_conversation_call(&c).await;
        log_usage_call(&c, "gpt-4o-mini", Some("fast"), Some(0.0001), json!({})).await;

        let p = c.preview(json!({"since_last_receipt": true})).await;
        assert_preview("preview since the last receipt", &p, 2);
        assert_eq!(p["total_conversations"], 1);
        assert_eq!(p["total_tokens"], 1500 + 220);
        assert!(p["total_cost"].as_f64().expect("cost") > 0.0);
        assert_eq!(p["by_model"]["gpt-4o"]["calls"], 1);
        assert_eq!(p["by_alias"]["fast"]["calls"], 1);
        let p = c.preview(json!({"conversation_id": conversation_id})).await;
        assert_preview("preview of a conversation", &p, 1);
        assert_eq!(p["total_conversations"], 1);
        assert_eq!(
            c.get("/api/v1/receipts", 100, 0).await.body["total"],
            0,
            "a preview stores nothing"
        );

        // Nothing matches: 200 with zeros the CLI can still format; no null where it reads
        // with a default (`preview.get("by_model", {})`).
        let empty = c
            .preview(
                json!({"start_date": "2020-01-01T00:00:00", "end_date": "2020-01-02T00:00:00"}),
            )
            .await;
        assert_keys(
            "empty preview",
            &empty,
            &[
                ("total_logs", "int"),
                ("total_cost", "float"),
                ("total_tokens", "int"),
                ("message", "string"),
            ],
        );
        assert_eq!(empty["total_logs"], 0);
        assert_eq!(empty["total_tokens"], 0);
        assert_eq!(empty["total_cost"].as_f64(), Some(0.0));
        for key in ["by_model", "by_alias"] {
            assert!(
                empty.get(key).is_none_or(Value::is_object),
                "{key}: {empty}"
            );
        }
    }
}

#[tokio::test]
async fn uncertified_logs_carry_the_keys_llmring_reads_for_usage_and_conversation_calls() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let empty = c.uncertified(100, 0).await;
        assert_eq!(empty["total"], 0);
        assert_eq!(empty["logs"], json!([]));

        let (_, conversation_log) = log_conversation_call(&c).await;
        let fast = log_usage_call(&c, "gpt-4o-mini", Some("fast"), Some(0.0001), json!({})).await;
        let bare = log_usage_call(&c, "gpt-4o-mini", None, None, json!({})).await;
        // An unknown model without a client cost: still a float the CLI can format.
        let unknown = log_usage_call(&c, "mystery-model-1", Some("odd"), None, json!({})).await;

        let u = c.uncertified(100, 0).await;
        assert_eq!(
            u["total"], 4,
            "llmring's second post of a conversation call counts once"
        );
        let logs = u["logs"].as_array().expect("logs");
        assert_eq!(logs.len(), 4);
        let find = |id: &str| {
            logs.iter()
                .find(|l| l["id"] == id)
                .unwrap_or_else(|| panic!("{id} not listed: {u}"))
                .clone()
        };
        let conv = find(&conversation_log);
        assert_eq!(conv["type"], "conversation");
        assert_eq!(conv["provider"], "openai");
        assert_eq!(conv["model"], "gpt-4o");
        assert_eq!(conv["alias"], "summarizer");
        assert_eq!(
            (
                conv["input_tokens"].as_i64(),
                conv["output_tokens"].as_i64()
            ),
            (Some(1000), Some(500))
        );
        assert!(conv["cost"].as_f64().expect("cost") > 0.0);
        let fast = find(&fast);
        assert_eq!(fast["type"], "usage");
        assert_eq!(fast["alias"], "fast");
        assert_eq!(
            (
                fast["input_tokens"].as_i64(),
                fast["output_tokens"].as_i64()
            ),
            (Some(200), Some(20))
        );
        assert_eq!(
            find(&bare)["alias"],
            "default",
            "no alias shows as llmring-server showed it"
        );
        assert_eq!(find(&unknown)["cost"].as_f64(), Some(0.0));

        // Paging as `llmring receipts uncertified --limit 2 --offset 1` asks.
        let page = c.uncertified(2, 1).await;
        assert_eq!(page["total"], 4);
        assert_eq!(page["logs"].as_array().map(Vec::len), Some(2));
        assert_eq!(page["logs"][0], logs[1]);
    }
}

#[tokio::test]
async fn receipt_logs_answer_the_receipt_id_logs_total_limit_and_offset_llmring_reads() {
    for app in TestApp::all().await {
        let c = Llmring::new(&app);
        let (_, conversation_log) = log_conversation_call(&c).await;
        log_usage_call(&c, "gpt-4o-mini", Some("fast"), Some(0.0001), json!({})).await;
        log_usage_call(&c, "gpt-4o-mini", None, None, json!({})).await;
        let (receipt, n) = c.generate(json!({"since_last_receipt": true})).await;
        assert_eq!(n, 3);
        let id = receipt["receipt_id"].as_str().expect("id");
        let path = format!("/api/v1/receipts/{id}/logs");

        let all = c.get(&path, 100, 0).await;
        let all = c.ok("get_receipt_logs", all);
        assert_keys(
            "receipt logs",
            &all,
            &[
                ("receipt_id", "string"),
                ("logs", "array"),
                ("total", "int"),
                ("limit", "int"),
                ("offset", "int"),
            ],
        );
        assert_eq!(all["receipt_id"], id);
        assert_eq!(
            (
                all["total"].as_i64(),
                all["limit"].as_i64(),
                all["offset"].as_i64()
            ),
            (Some(3), Some(100), Some(0))
        );
        let logs = all["logs"].as_array().expect("logs");
        for log in logs {
            assert_keys(
                "receipt logs.logs[]",
                log,
                &[("id", "string"), ("type", "string")],
            );
        }
        assert_eq!(
            ids(&json!(logs
                .iter()
                .map(|l| l["id"].clone())
                .collect::<Vec<_>>())),
            ids(&receipt["batch_summary"]["log_ids"]),
            "the logs are the ones the receipt certifies"
        );
        assert!(logs
            .iter()
            .any(|l| l["id"] == conversation_log.as_str() && l["type"] == "conversation"));

        let page = c.get(&path, 1, 1).await;
        let page = c.ok("get_receipt_logs page", page);
        assert_eq!(
            (
                page["total"].as_i64(),
                page["limit"].as_i64(),
                page["offset"].as_i64()
            ),
            (Some(3), Some(1), Some(1))
        );
        assert_eq!(page["logs"].as_array().map(Vec::len), Some(1));
        assert_eq!(page["logs"][0]["id"], logs[1]["id"]);
    }
}
