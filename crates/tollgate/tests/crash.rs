//! `kill -9` under load loses nothing that was acknowledged. A server takes single calls
//! (plain ones, and ones with request ids) and batches from many clients at once, and is
//! killed with SIGKILL in the middle of it, three times over on one database. After a
//! restart: every call the clients were told was recorded is in the log, the log's positions
//! run without a gap, and posting every request id again (acknowledged or not, as a client
//! that lost its answer would) records none of them twice.
//!
//! On SQLite (always) and PostgreSQL (when `TOLLGATE_TEST_DATABASE_URL` is set; CI sets it,
//! and fails without it). Each run gets a database of its own.

mod instances;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_store::testing::TestDatabase;

const KEY: &str = "tg_crash_test_key_0123456789abcdef";
const CLIENTS: u64 = 24;

/// What the clients sent and were told.
#[derive(Default)]
struct Seen {
    /// Log ids the server acknowledged.
    acknowledged: BTreeSet<String>,
    /// Every request id sent, whether or not its answer came back.
    request_ids: BTreeSet<String>,
}

fn call(n: u64, request_id: Option<String>) -> Value {
    let mut body = json!({
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100 + n % 50,
        "output_tokens": 20 + n % 7,
    });
    if let Some(id) = request_id {
        body["request_id"] = json!(id);
    }
    body
}

/// Posts calls until `stop`: in turn a plain call, a call with a request id, and a batch of
/// ten plain calls. Requests that fail (the server is gone) are not acknowledged.
async fn client(url: String, c: u64, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let http = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = c * 1_000_000 + n;
        let (path, body) = match n % 3 {
            0 => ("/api/v1/log", call(id, None)),
            1 => {
                let request_id = format!("crash-{id}");
                seen.lock()
                    .expect("seen")
                    .request_ids
                    .insert(request_id.clone());
                ("/api/v1/log", call(id, Some(request_id)))
            }
            _ => {
                let events: Vec<Value> = (0..10).map(|k| call(id * 10 + k, None)).collect();
                ("/api/v1/log/batch", json!({ "events": events }))
            }
        };
        let answer = http
            .post(format!("{url}{path}"))
            .header("X-API-Key", KEY)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let Ok(answer) = answer else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        if !answer.status().is_success() {
            continue;
        }
        let Ok(answer) = answer.json::<Value>().await else {
            continue;
        };
        let mut seen = seen.lock().expect("seen");
        match answer["results"].as_array() {
            Some(results) => {
                for r in results {
                    let log_id = r["log_id"].as_str().expect("every event is recorded");
                    seen.acknowledged.insert(log_id.to_string());
                }
            }
            None => {
                let log_id = answer["log_id"].as_str().expect("a log id");
                seen.acknowledged.insert(log_id.to_string());
            }
        }
    }
}

/// The tenant's log as exported: log id → position, and request id → how many times.
async fn exported(url: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let text = reqwest::Client::new()
        .get(format!("{url}/api/v1/export/usage?format=jsonl"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("export")
        .error_for_status()
        .expect("export answers 200")
        .text()
        .await
        .expect("export body");
    let (mut positions, mut request_ids) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let id = v["id"].as_str().expect("an id").to_string();
        let index = v["index"].as_u64().expect("an index");
        assert!(
            positions.insert(id, index).is_none(),
            "a log id exported twice"
        );
        if let Some(r) = v["request_id"].as_str() {
            *request_ids.entry(r.to_string()).or_insert(0) += 1;
        }
    }
    (positions, request_ids)
}

/// The exported positions are 0, 1, 2, ... with none missing or repeated.
fn assert_gap_free(engine: &str, positions: &BTreeMap<String, u64>) {
    let mut indexes: Vec<u64> = positions.values().copied().collect();
    indexes.sort_unstable();
    assert!(
        indexes.iter().copied().eq(0..indexes.len() as u64),
        "{engine}: the log's positions have gaps or repeats"
    );
}

async fn killed_under_load(engine: &str, database_url: &str) {
    let data = tempfile::tempdir().expect("data dir");
    let seen = Arc::new(Mutex::new(Seen::default()));
    for round in 0..3 {
        let server = instances::start(database_url, KEY, Some(data.path()), &[]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(client(
                    server.url.clone(),
                    round * CLIENTS + c,
                    stop.clone(),
                    seen.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // SIGKILL, with requests in flight.
        drop(server);
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.expect("client");
        }
    }
    let server = instances::start(database_url, KEY, Some(data.path()), &[]);
    let (positions, _) = exported(&server.url).await;
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert!(
        seen.acknowledged.len() > 100,
        "{engine}: the load was acknowledged {} calls",
        seen.acknowledged.len()
    );
    let lost: Vec<_> = seen
        .acknowledged
        .iter()
        .filter(|id| !positions.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{engine}: acknowledged calls missing after kill -9: {lost:?}"
    );
    assert_gap_free(engine, &positions);

    // A client that lost its answer posts the same request again.
    let http = reqwest::Client::new();
    for (n, request_id) in (0..).zip(&seen.request_ids) {
        let answer = http
            .post(format!("{}/api/v1/log", server.url))
            .header("X-API-Key", KEY)
            .json(&call(n, Some(request_id.clone())))
            .send()
            .await
            .expect("post again");
        assert!(
            answer.status().is_success(),
            "{engine}: {}",
            answer.status()
        );
    }
    let (positions, request_ids) = exported(&server.url).await;
    let counts: BTreeSet<u64> = request_ids.values().copied().collect();
    assert_eq!(
        (request_ids.len(), counts),
        (seen.request_ids.len(), BTreeSet::from([1])),
        "{engine}: every request id recorded exactly once"
    );
    assert_gap_free(engine, &positions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_server_killed_under_load_keeps_every_acknowledged_call_once() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    killed_under_load("sqlite", &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_server_killed_under_load_keeps_every_acknowledged_call_once() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set");
        return;
    };
    killed_under_load("postgres", &db.url).await;
    drop(db);
}
