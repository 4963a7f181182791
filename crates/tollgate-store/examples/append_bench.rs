//! Times the append transaction alone: `cargo run --release -p tollgate-store --example
//! append_bench -- URL BATCH BATCHES`.

use std::time::Instant;

use serde_json::Map;
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{open, AppendItem, ConnectOptions, Dedupe};
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "sqlite:///tmp/append_bench.db".into());
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let batches: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let store = open(&ConnectOptions::new(&url)).await.expect("open");
    let tenant = store
        .create_tenant(&format!("bench-{}", Uuid::now_v7()))
        .await
        .expect("tenant");
    let started = Instant::now();
    for b in 0..batches {
        let items: Vec<AppendItem> = (0..batch)
            .map(|i| AppendItem {
                event: UsageEvent {
                    log_id: Uuid::now_v7(),
                    tenant_id: tenant.id.clone(),
                    request_id: None,
                    timestamp_us: tollgate_core::time::now_us(),
                    provider: "openai".into(),
                    model: ["gpt-4o", "gpt-4o-mini"][i % 2].into(),
                    alias: Some("chat".into()),
                    profile: "default".into(),
                    lock_digest: None,
                    units: None,
                    service_tier: Default::default(),
                    quantities: Default::default(),
                    origin: Some("bench".into()),
                    id_at_origin: None,
                    user_id: Some(format!("user-{}", (b * batch + i) % 100)),
                    conversation_id: None,
                    tokens: TokenCounts {
                        input: 1000,
                        output: 200,
                        ..Default::default()
                    },
                    latency_ms: Some(300),
                    cost: Nanos(4_500_000),
                    input_cost: None,
                    currency: Currency::usd(),
                    price_version: Some("builtin:openai/gpt-4o@2024-08-06".into()),
                    flags: EventFlags::default(),
                    source: EventSource::Usage,
                    metadata: Map::new(),
                    adjusts: None,
                    estimate_method: None,
                    dimensions: Default::default(),
                },
                dedupe: Dedupe::None,
                execution: None,
                conversation: None,
                charge: None,
            })
            .collect();
        store.append_usage(&items).await.expect("append");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} batches of {batch}: {:.2} ms per commit, {:.0} events/s",
        batches,
        secs * 1000.0 / batches as f64,
        (batches * batch) as f64 / secs
    );
}
