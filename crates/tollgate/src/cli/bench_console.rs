//! `tollgate bench console`: how long the console's overview takes to open for a tenant with
//! a million events, beside one with a hundred, on the same server.
//!
//! It seeds two tenants through the store (their calls spread over the last 30 days), starts
//! an in-process server on a socket, signs in to the console through its form as a browser
//! would, and times `GET /ui/` for the last 30 days (every seeded call in range) and for
//! today, reporting the median of several reads. The overview answers from the daily
//! rollups, so the two tenants' times should be alike.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde::Serialize;
use tollgate_core::time::{day_string, now_us, DAY_US};
use tollgate_server::keys;
use tollgate_store::Scope;

use super::bench_receipts::{seed, seeded, serve};
use super::output::{json as pretty, outln};

/// Opening the console's overview for a large tenant.
#[derive(Debug, Args)]
pub struct Console {
    /// Logs of the large tenant.
    #[arg(long, default_value_t = 1_000_000)]
    logs: u64,
    /// Logs of the small tenant it is compared with.
    #[arg(long, default_value_t = 100)]
    small_logs: u64,
    /// Reads of each page (the median is reported).
    #[arg(long, default_value_t = 15)]
    reads: usize,
    /// Database to use (default: a new SQLite file in a temporary directory). The bench
    /// adds tenants of its own; nothing else is touched.
    #[arg(long, env = "TOLLGATE_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `bench console --json` prints.
#[derive(Serialize)]
struct ConsoleReport {
    engine: &'static str,
    seed_seconds: f64,
    tenants: Vec<TenantRun>,
}

/// One tenant's overview times.
#[derive(Serialize)]
struct TenantRun {
    logs: u64,
    last_30_days_ms: f64,
    today_ms: f64,
}

/// A console session over plain HTTP: its cookie.
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Session {
    /// Signs in through the form with `key`.
    async fn open(base: &str, key: &str) -> anyhow::Result<Session> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = http.get(format!("{base}/ui/sign-in")).send().await?;
        let bound = cookie_pair(&form, "tollgate_sign_in")?;
        let html = form.text().await?;
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).context("the sign-in form has no csrf")? + marker.len();
        let csrf = &html[start..start + html[start..].find('"').context("csrf ends")?];
        let signed = http
            .post(format!("{base}/ui/sign-in"))
            .header(COOKIE, bound)
            .form(&[("csrf", csrf), ("next", "/ui/"), ("credential", key)])
            .send()
            .await?;
        if signed.status().as_u16() != 303 {
            bail!("signing in to the console answered {}", signed.status());
        }
        let cookie = cookie_pair(&signed, "tollgate_session")?;
        Ok(Session {
            http,
            base: base.to_string(),
            cookie,
        })
    }

    /// The median time of `reads` GETs of `path`, checking each answers 200.
    async fn time(&self, path: &str, reads: usize) -> anyhow::Result<f64> {
        let mut times: Vec<Duration> = Vec::with_capacity(reads);
        for _ in 0..reads.max(1) {
            let started = Instant::now();
            let r = self
                .http
                .get(format!("{}{path}", self.base))
                .header(COOKIE, &self.cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.bytes().await?;
            times.push(started.elapsed());
            if !status.is_success() || body.is_empty() {
                bail!("{path} answered {status}");
            }
        }
        times.sort();
        Ok(times[times.len() / 2].as_secs_f64() * 1e3)
    }
}

/// `name=value` of the cookie `name` a response sets.
fn cookie_pair(r: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .with_context(|| format!("no {name} cookie was set"))
}

impl Console {
    pub async fn run(self) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let large = seeded(
            self.database_url.clone(),
            dir.path(),
            "console",
            vec![Scope::Read],
            self.logs,
        )
        .await?;
        let store = large.store.clone();
        let small_tenant = store
            .create_tenant(&format!("bench-console-small-{}", now_us()))
            .await?;
        let small_key = keys::generate(&small_tenant.id, vec![Scope::Read], None);
        store.create_key(small_key.record).await?;
        let small_seconds = seed(&*store, &small_tenant.id, self.small_logs.max(1)).await?;
        let (base, stop, task) = serve(store.clone(), dir.path()).await?;

        let today = now_us().div_euclid(DAY_US);
        let last_30 = format!(
            "/ui/?period=custom&start={}&end={}",
            day_string(today - 29),
            day_string(today)
        );
        let mut tenants = Vec::new();
        for (logs, key) in [
            (self.logs, large.secret.as_str()),
            (self.small_logs.max(1), small_key.secret.as_str()),
        ] {
            let session = Session::open(&base, key).await?;
            // One read first, so neither tenant pays for a cold cache the other warmed.
            session.time(&last_30, 1).await?;
            tenants.push(TenantRun {
                logs,
                last_30_days_ms: session.time(&last_30, self.reads).await?,
                today_ms: session.time("/ui/?period=today", self.reads).await?,
            });
        }
        let _ = stop.send(());
        task.await??;

        let report = ConsoleReport {
            engine: store.dialect().as_str(),
            seed_seconds: large.seed_seconds + small_seconds,
            tenants,
        };
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!(
                "console overview on {}, seeded in {:.1} s; median of {} reads",
                report.engine,
                report.seed_seconds,
                self.reads
            );
            for t in &report.tenants {
                outln!(
                    "  {:>9} logs: last 30 days {:>7.1} ms, today {:>7.1} ms",
                    t.logs,
                    t.last_30_days_ms,
                    t.today_ms
                );
            }
        }
        Ok(())
    }
}
