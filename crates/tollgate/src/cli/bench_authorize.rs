//! `tollgate bench authorize`: decisions per second of `POST /api/v1/authorize` with holds,
//! from many clients over many users, against a running server.
//!
//! It puts the tenant on the unlimited plan and tops every user up first (so that decisions
//! are admissions, the costlier path: each writes a hold), which needs an operator key.

use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use tollgate_api::authorize::AuthorizeBody;
use tollgate_api::billing::CreditBody;

use super::bench_http::{authority, load, percentile};
use super::output::{json as pretty, outln};
use super::usage::ClientArgs;

/// Authorization load.
#[derive(Debug, Args)]
pub struct Authorize {
    #[command(flatten)]
    client: ClientArgs,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Decisions to ask for in all.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Users the requests are spread over.
    #[arg(long, default_value_t = 1000)]
    users: u64,
    /// Estimated cost of each call (held).
    #[arg(long, default_value = "0.0001")]
    estimate: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl Authorize {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.count == 0 || self.users == 0 {
            bail!("--concurrency, --count and --users must be at least 1");
        }
        let authority = authority(&self.client.server)?;
        let key = self.client.key()?;
        // Set-up: unlimited plan, and enough balance on every user's account.
        let http = self.client.client()?;
        http.set_plan(Some("pro"))
            .await
            .map_err(|e| anyhow::anyhow!("setting the plan needs an operator key: {e}"))?;
        let topups: Vec<bytes::Bytes> = (0..self.users)
            .map(|u| {
                body(&CreditBody {
                    amount: Some("1000".into()),
                    user_id: Some(format!("bench-user-{u}")),
                    ..Default::default()
                })
            })
            .collect();
        let setup = load(
            &authority,
            key,
            "/api/v1/billing/topup",
            Arc::new(topups),
            self.users,
            16,
            |s| s.is_success(),
        )
        .await?;
        if setup.errors > 0 {
            bail!(
                "{} top-ups failed (an operator key is needed for the set-up)",
                setup.errors
            );
        }

        let bodies: Vec<bytes::Bytes> = (0..self.users)
            .map(|u| {
                body(&AuthorizeBody {
                    user_id: Some(format!("bench-user-{u}")),
                    estimated_cost: Some(self.estimate.as_str().into()),
                    hold: true,
                    ..Default::default()
                })
            })
            .collect();
        // A 402 is a decision too; anything else is an error.
        let run = load(
            &authority,
            key,
            "/api/v1/authorize",
            Arc::new(bodies),
            self.count,
            self.concurrency,
            |s| s.is_success() || s.as_u16() == 402,
        )
        .await?;
        let n = run.latencies.len() as f64;
        let pct = |p: f64| percentile(&run.latencies, p);
        let report = json!({
            "route": "/api/v1/authorize",
            "hold": true,
            "concurrency": self.concurrency,
            "users": self.users,
            "decisions": run.latencies.len(),
            "errors": run.errors,
            "seconds": run.seconds,
            "decisions_per_second": n / run.seconds,
            "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
        });
        if self.json {
            outln!("{}", pretty(&report));
        } else {
            outln!(
                "{} decisions (with holds, over {} users) in {:.2} s with {} in flight, {} errors\n  {:.0} decisions/s\n  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                run.latencies.len(),
                self.users,
                run.seconds,
                self.concurrency,
                run.errors,
                n / run.seconds,
                pct(0.50),
                pct(0.90),
                pct(0.99),
                pct(1.0),
            );
        }
        if run.errors > 0 {
            bail!("{} requests failed", run.errors);
        }
        Ok(())
    }
}

/// A request body, encoded once before the load starts.
fn body<T: Serialize>(value: &T) -> bytes::Bytes {
    bytes::Bytes::from(
        serde_json::to_vec(value).expect("request bodies have string keys, so they serialize"),
    )
}
