//! `tollgate bench mixed`: the workload Tollgate exists for, from many clients at once, over
//! one or several instances of a deployment: authorize a call with a hold, then settle the
//! hold by logging the call (on another instance when there are several), release it, or let
//! it expire; plain logging; top-ups. Users are few and shared, and their balances small, so
//! that decisions contend for the same rows and many are refusals.
//!
//! It reports the decisions per second, then checks the books (`bench_mixed_books`): every hold it
//! was granted closed exactly once, the way it chose; no ledger entry took a balance below
//! zero or a spend past a limit; no answer was a 5xx. It needs a key with the operator role
//! (it puts the tenant on the unlimited plan and tops users up).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use tollgate_api::authorize::{AuthorizeBody, Decision};
use tollgate_api::billing::{CreditBody, PlanBody};

use super::bench_http::{authority, percentile, Conn};
use super::bench_mixed_books::{check_books, Fate};
use super::output::{json as pretty, outln};
use super::usage::ClientArgs;

/// The mixed load.
#[derive(Debug, Args)]
pub struct Mixed {
    #[command(flatten)]
    client: ClientArgs,
    /// Another instance of the same deployment (repeatable); clients spread over all.
    #[arg(long = "also", value_name = "URL")]
    also: Vec<String>,
    /// Clients at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long the load runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users the clients share.
    #[arg(long, default_value_t = 8)]
    users: u64,
    /// Each user's balance at the start, in USD: small, so that some decisions are refusals.
    #[arg(long, default_value = "2")]
    balance: String,
    /// What each top-up adds, in USD: small, so that balances stay contended.
    #[arg(long, default_value = "0.05")]
    top_up: String,
    /// How long to wait for the holds left to expire before checking the books.
    #[arg(long, default_value_t = 60)]
    expiry_wait_seconds: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    granted: u64,
    refused: u64,
    settled: u64,
    released: u64,
    logged: u64,
    topups: u64,
    server_errors: u64,
    unexpected: u64,
    samples: Vec<String>,
    authorize_us: Vec<u64>,
    holds: Vec<(String, String, Fate)>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.granted += o.granted;
        self.refused += o.refused;
        self.settled += o.settled;
        self.released += o.released;
        self.logged += o.logged;
        self.topups += o.topups;
        self.server_errors += o.server_errors;
        self.unexpected += o.unexpected;
        self.samples.extend(o.samples);
        self.authorize_us.extend(o.authorize_us);
        self.holds.extend(o.holds);
    }

    /// Counts an answer that is neither what the step expects nor a refusal it allows.
    fn odd(&mut self, what: &str, status: u16, body: &Value) {
        if status >= 500 {
            self.server_errors += 1;
        } else {
            self.unexpected += 1;
        }
        if self.samples.len() < 5 {
            self.samples.push(format!("{what}: {status} {body}"));
        }
    }
}

impl Mixed {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.seconds == 0 || self.users == 0 {
            bail!("--concurrency, --seconds and --users must be at least 1");
        }
        let mut servers = vec![authority(&self.client.server)?];
        for url in &self.also {
            servers.push(authority(url)?);
        }
        let key = self.client.key()?.to_string();
        let run_id: u32 = rand::thread_rng().gen();
        let users: Arc<Vec<String>> = Arc::new(
            (0..self.users)
                .map(|u| format!("mixed-{run_id:08x}-{u}"))
                .collect(),
        );
        let mut setup = Conn::open(&servers[0], &key).await?;
        let pro = PlanBody {
            plan: Some(Some("pro".into())),
        };
        let (status, body) = setup
            .send("POST", "/api/v1/billing/plan", Some(encode(&pro)))
            .await?;
        if status != 200 {
            bail!(
                "putting the tenant on the unlimited plan needs an operator key: {status} {body}"
            );
        }
        for u in users.iter() {
            let (status, body) = setup
                .send(
                    "POST",
                    "/api/v1/billing/topup",
                    Some(encode(&top_up(&self.balance, u))),
                )
                .await?;
            if status != 200 {
                bail!("topping {u} up failed: {status} {body}");
            }
        }

        let deadline = Instant::now() + Duration::from_secs(self.seconds);
        let started = Instant::now();
        let next_topup = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::with_capacity(self.concurrency);
        for n in 0..self.concurrency {
            let (servers, key, users, next_topup, top_up) = (
                servers.clone(),
                key.clone(),
                users.clone(),
                next_topup.clone(),
                self.top_up.clone(),
            );
            clients.push(tokio::spawn(async move {
                let topups = TopUps {
                    next: &next_topup,
                    amount: &top_up,
                    run_id,
                };
                client(n, &servers, &key, &users, &topups, deadline).await
            }));
        }
        let mut tally = Tally::default();
        for c in clients {
            tally.merge(c.await??);
        }
        let seconds = started.elapsed().as_secs_f64();
        tally.authorize_us.sort_unstable();

        let books = check_books(
            &mut setup,
            &users,
            &tally.holds,
            Duration::from_secs(self.expiry_wait_seconds),
        )
        .await?;
        let decisions = tally.granted + tally.refused;
        let pct = |p: f64| percentile(&tally.authorize_us, p);
        let report = json!({
            "instances": servers.len(),
            "clients": self.concurrency,
            "users": self.users,
            "seconds": seconds,
            "decisions": decisions,
            "decisions_per_second": decisions as f64 / seconds,
            "granted": tally.granted,
            "refused": tally.refused,
            "settled": tally.settled,
            "released": tally.released,
            "left_to_expire": tally.holds.iter().filter(|h| h.2 == Fate::Expire).count(),
            "plain_logs": tally.logged,
            "topups": tally.topups,
            "server_errors": tally.server_errors,
            "unexpected_answers": tally.unexpected,
            "samples": tally.samples,
            "authorize_latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
            "books": books.json(),
        });
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!(
                "{decisions} decisions ({} granted, {} refused) in {seconds:.1} s over {} instance(s), {} clients, {} users\n  {:.0} decisions/s; authorize p50 {:.2} ms, p99 {:.2} ms\n  holds: {} settled, {} released, {} left to expire; {} plain logs, {} top-ups\n  5xx answers: {}; other unexpected answers: {}\n  books: {}",
                tally.granted,
                tally.refused,
                servers.len(),
                self.concurrency,
                self.users,
                decisions as f64 / seconds,
                pct(0.5),
                pct(0.99),
                tally.settled,
                tally.released,
                tally.holds.iter().filter(|h| h.2 == Fate::Expire).count(),
                tally.logged,
                tally.topups,
                tally.server_errors,
                tally.unexpected,
                books.summary(),
            );
            for s in &tally.samples {
                outln!("  e.g. {s}");
            }
        }
        if tally.server_errors > 0 || tally.unexpected > 0 || !books.clean() {
            bail!("the mixed load found errors (see above)");
        }
        Ok(())
    }
}

/// How clients top users up: each with its own idempotency key.
struct TopUps<'a> {
    next: &'a AtomicU64,
    amount: &'a str,
    run_id: u32,
}

/// One client's loop until `deadline`.
async fn client(
    n: usize,
    servers: &[String],
    key: &str,
    users: &[String],
    topups: &TopUps<'_>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut conns = Vec::with_capacity(servers.len());
    for s in servers {
        conns.push(Conn::open(s, key).await?);
    }
    let mut t = Tally::default();
    let mut i = n;
    while Instant::now() < deadline {
        i += 1;
        let (here, there) = (i % conns.len(), (i + 1) % conns.len());
        let (roll, user, fate_roll): (f64, usize, f64) = {
            let mut rng = rand::thread_rng();
            (rng.gen(), rng.gen_range(0..users.len()), rng.gen())
        };
        let user = &users[user];
        if roll < 0.7 {
            let fate = match fate_roll {
                r if r < 0.65 => Fate::Settle,
                r if r < 0.9 => Fate::Release,
                _ => Fate::Expire,
            };
            let ttl = if fate == Fate::Expire { 1 } else { 120 };
            let asked = Instant::now();
            let ask = AuthorizeBody {
                user_id: Some(user.clone()),
                estimated_cost: Some("0.01".into()),
                hold: true,
                hold_ttl_seconds: Some(ttl),
                ..Default::default()
            };
            let (status, body) = conns[here]
                .send("POST", "/api/v1/authorize", Some(encode(&ask)))
                .await?;
            t.authorize_us.push(asked.elapsed().as_micros() as u64);
            match status {
                402 => {
                    t.refused += 1;
                    continue;
                }
                200 => t.granted += 1,
                _ => {
                    t.odd("authorize", status, &body);
                    continue;
                }
            }
            let decision = serde_json::from_value::<Decision>(body.clone());
            let Some(hold) = decision.ok().and_then(|d| d.hold_id) else {
                t.odd("authorize without a hold id", status, &body);
                continue;
            };
            match fate {
                Fate::Settle => {
                    let (status, body) = conns[there]
                        .send("POST", "/api/v1/log", Some(encode(&json!({"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 200, "user_id": user, "hold_id": hold}))))
                        .await?;
                    if status == 200 {
                        t.settled += 1;
                    } else {
                        t.odd("settle", status, &body);
                    }
                }
                Fate::Release => {
                    let path = format!("/api/v1/authorize/{hold}/release");
                    let (status, body) = conns[there].send("POST", &path, None).await?;
                    if status == 200 {
                        t.released += 1;
                    } else {
                        t.odd("release", status, &body);
                    }
                }
                Fate::Expire => {}
            }
            t.holds.push((user.clone(), hold, fate));
        } else if roll < 0.9 {
            let (status, body) = conns[here]
                .send("POST", "/api/v1/log", Some(encode(&json!({"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 20, "output_tokens": 5}))))
                .await?;
            if status == 200 {
                t.logged += 1;
            } else {
                t.odd("log", status, &body);
            }
        } else {
            let k = topups.next.fetch_add(1, Ordering::Relaxed);
            let (status, body) = conns[here]
                .send_with(
                    "POST",
                    "/api/v1/billing/topup",
                    Some(encode(&top_up(topups.amount, user))),
                    Some(&format!("mixed-{:08x}-topup-{k}", topups.run_id)),
                )
                .await?;
            if status == 200 {
                t.topups += 1;
            } else {
                t.odd("top-up", status, &body);
            }
        }
    }
    Ok(t)
}

/// A top-up of `amount` for `user`.
fn top_up(amount: &str, user: &str) -> CreditBody {
    CreditBody {
        amount: Some(amount.into()),
        user_id: Some(user.to_string()),
        ..Default::default()
    }
}

/// A request body as JSON bytes.
fn encode<T: Serialize>(body: &T) -> bytes::Bytes {
    bytes::Bytes::from(
        serde_json::to_vec(body).expect("request bodies have string keys, so they serialize"),
    )
}
