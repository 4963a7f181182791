//! Builders shared by the contract stories.

use serde_json::Map;
use tollgate_core::time::{parse_instant, DateEdge};
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{AppendItem, Dedupe, KeyRole, NewApiKey, Scope, Store, Tenant};
use uuid::Uuid;

pub fn at(text: &str) -> i64 {
    parse_instant(text, DateEdge::Start).expect("instant")
}

pub fn event(
    tenant: &Tenant,
    model: &str,
    input: i64,
    output: i64,
    cost: i64,
    ts: &str,
) -> UsageEvent {
    UsageEvent {
        log_id: Uuid::now_v7(),
        tenant_id: tenant.id.clone(),
        request_id: None,
        timestamp_us: at(ts),
        provider: "openai".into(),
        model: model.into(),
        alias: None,
        profile: "default".into(),
        lock_digest: None,
        units: None,
        service_tier: Default::default(),
        quantities: Default::default(),
        origin: None,
        id_at_origin: None,
        user_id: None,
        conversation_id: None,
        tokens: TokenCounts {
            input,
            output,
            ..Default::default()
        },
        latency_ms: None,
        cost: Nanos(cost),
        input_cost: None,
        currency: Currency::usd(),
        price_version: None,
        flags: EventFlags::default(),
        source: EventSource::Usage,
        metadata: Map::new(),
        adjusts: None,
        estimate_method: None,
        dimensions: Default::default(),
    }
}

pub fn item(event: UsageEvent) -> AppendItem {
    let dedupe = match &event.request_id {
        Some(r) => Dedupe::RequestId(r.clone()),
        None => Dedupe::None,
    };
    AppendItem {
        event,
        dedupe,
        execution: None,
        conversation: None,
        charge: None,
    }
}

pub fn with_request(mut e: UsageEvent, request_id: &str) -> UsageEvent {
    e.request_id = Some(request_id.to_string());
    e
}

pub fn new_key(tenant: &Tenant, hash: &str, scopes: &[Scope]) -> NewApiKey {
    NewApiKey {
        id: tollgate_core::new_id(tollgate_core::IdKind::Key),
        tenant_id: tenant.id.clone(),
        key_hash: hash.to_string(),
        prefix: hash.chars().take(8).collect(),
        name: None,
        scopes: scopes.to_vec(),
        role: KeyRole::Tenant,
    }
}

pub async fn tenant(store: &dyn Store, name: &str) -> Tenant {
    store.create_tenant(name).await.expect("create tenant")
}

/// Another connection to a test database, for statements no operation makes (proving the
/// database itself refuses a change).
pub async fn raw_connection(url: &str) -> tollgate_store::SqlStore {
    tollgate_store::SqlStore::connect(&tollgate_store::ConnectOptions::new(url))
        .await
        .expect("connect")
}
