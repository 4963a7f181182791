//! A small SMTP server on loopback for the alert email tests: it speaks enough of RFC 5321
//! (EHLO, AUTH PLAIN, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT; no TLS) to take messages, and
//! records each one's envelope and data. It can refuse the first few `MAIL FROM`s with 451.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message the server took.
#[derive(Debug, Clone)]
pub struct Message {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, dot-stuffing undone, lines joined with "\n".
    pub data: String,
}

impl Message {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\n\n").next().unwrap_or_default();
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body (after the blank line).
    pub fn body(&self) -> String {
        self.data
            .split_once("\n\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }
}

/// The running server.
pub struct FakeSmtp {
    pub port: u16,
    got: Arc<Mutex<Vec<Message>>>,
    /// `MAIL FROM`s still to refuse with 451.
    pub refusing: Arc<AtomicUsize>,
    /// The `AUTH PLAIN` tokens received, decoded.
    logins: Arc<Mutex<Vec<String>>>,
}

impl FakeSmtp {
    pub async fn start(refuse_first: usize) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicUsize::new(refuse_first));
        let logins = Arc::new(Mutex::new(Vec::new()));
        let (g, r, l) = (got.clone(), refusing.clone(), logins.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, g.clone(), r.clone(), l.clone()));
            }
        });
        FakeSmtp {
            port,
            got,
            refusing,
            logins,
        }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.got.lock().expect("lock").clone()
    }

    pub fn logins(&self) -> Vec<String> {
        self.logins.lock().expect("lock").clone()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    got: Arc<Mutex<Vec<Message>>>,
    refusing: Arc<AtomicUsize>,
    logins: Arc<Mutex<Vec<String>>>,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 fake.test ESMTP\r\n").await.is_err() {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-fake.test\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 1000000\r\n".into()
        } else if let Some(rest) = upper.strip_prefix("MAIL FROM:") {
            let refuse = refusing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                ("451 4.3.0 try again later\r\n").into()
            } else {
                from = line[line.len() - rest.len()..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_string();
                to.clear();
                ("250 2.1.0 ok\r\n").into()
            }
        } else if let Some(rest) = upper.strip_prefix("RCPT TO:") {
            to.push(
                line[line.len() - rest.len()..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_string(),
            );
            ("250 2.1.5 ok\r\n").into()
        } else if upper == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut data = Vec::new();
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
            }
            got.lock().expect("lock").push(Message {
                from: from.clone(),
                to: to.clone(),
                data: data.join("\n"),
            });
            ("250 2.0.0 queued\r\n").into()
        } else if let Some(token) = line.strip_prefix("AUTH PLAIN ") {
            let decoded = STANDARD.decode(token.trim()).unwrap_or_default();
            logins
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&decoded).into_owned());
            ("235 2.7.0 accepted\r\n").into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            ("250 ok\r\n").into()
        } else {
            ("502 5.5.2 not implemented\r\n").into()
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
