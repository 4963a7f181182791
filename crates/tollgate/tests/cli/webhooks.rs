//! `tollgate webhooks …` against a real server and a real receiver: an endpoint is added (its
//! generated secret shown once), listed without it, sent a signed `receipt.generated` alert,
//! shows the delivery in its log, and is removed; a bad or internal URL is refused and nothing
//! is stored.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::{Sandbox, Server};

/// `tollgate webhooks ARGS` against `server`.
fn webhooks(sb: &Sandbox, server: &Server, args: &[&str], code: i32) -> super::Ran {
    let mut all = vec!["webhooks"];
    all.extend(args);
    sb.client(server, &all).expect(code)
}

/// A receiver on a free port that answers 204 to every POST and passes on each request's
/// head (lower-cased) and body.
fn receiver() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&lower);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            let _ = tx.send((head, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, rx)
}

#[test]
fn an_endpoint_receives_a_signed_receipt_alert_shows_it_delivered_and_can_be_removed() {
    let sb = Sandbox::new();
    // The receiver listens on 127.0.0.1, which webhooks may not reach by default.
    let server = sb.start_with_env(&[("TOLLGATE_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true")]);
    let (url, received) = receiver();

    let added = webhooks(
        &sb,
        &server,
        &["add", &url, "--event", "receipt.generated", "--json"],
        0,
    )
    .json();
    let id = added["id"].as_str().expect("an id").to_string();
    assert!(
        added["secret"]
            .as_str()
            .expect("a generated secret")
            .starts_with("whsec_"),
        "{added}"
    );
    let listed = webhooks(&sb, &server, &["list", "--json"], 0).json();
    let endpoints = listed["webhooks"].as_array().expect("a list");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["url"], url.as_str());
    assert_eq!(
        endpoints[0]["secret"],
        Value::Null,
        "a listing never shows the secret"
    );

    sb.log_usage(&server, 2);
    let receipt = sb.generate(&server, "receipt.json");
    let (head, body) = received
        .recv_timeout(Duration::from_secs(20))
        .expect("the alert is delivered");
    assert!(head.starts_with("post /hooks "), "{head}");
    assert!(head.contains("webhook-id: evt_"), "{head}");
    assert!(head.contains("webhook-timestamp: "), "{head}");
    assert!(head.contains("webhook-signature: v1,"), "{head}");
    let alert: Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(alert["type"], "receipt.generated");
    assert_eq!(alert["data"]["receipt_id"], receipt["receipt_id"]);

    // The log is written after the receiver answers: give it a moment.
    let mut log = Value::Null;
    for _ in 0..100 {
        log = webhooks(&sb, &server, &["deliveries", &id, "--json"], 0).json();
        if log["deliveries"][0]["status"] == "delivered" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(log["deliveries"][0]["status"], "delivered", "{log}");
    assert_eq!(log["deliveries"][0]["attempts"], 1);
    assert_eq!(log["deliveries"][0]["last_status_code"], 204);

    webhooks(&sb, &server, &["remove", &id], 0);
    webhooks(&sb, &server, &["get", &id, "--json"], 1);
    let listed = webhooks(&sb, &server, &["list", "--json"], 0).json();
    assert_eq!(listed["webhooks"], serde_json::json!([]));
}

#[test]
fn a_url_that_is_not_http_or_is_internal_is_refused_and_nothing_is_stored() {
    let sb = Sandbox::new();
    let server = sb.start();
    let refused = webhooks(&sb, &server, &["add", "ftp://example.com/x"], 1);
    assert!(
        refused.stderr.contains("http or https"),
        "{}",
        refused.stderr
    );
    let refused = webhooks(&sb, &server, &["add", "http://169.254.169.254/"], 1);
    assert!(
        refused.stderr.contains("webhooks.allow_private_networks"),
        "{}",
        refused.stderr
    );
    let listed = webhooks(&sb, &server, &["list", "--json"], 0).json();
    assert_eq!(listed["webhooks"], serde_json::json!([]));
}
