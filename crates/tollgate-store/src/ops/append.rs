//! The ingestion transaction: appends a batch of calls to their tenants' logs.
//!
//! For each tenant in the batch (in id order, so that concurrent batches lock tenants in the
//! same order), in one transaction: lock the tenant's log head, drop repeats (request ids
//! already recorded, the llmring client's second post of a conversation call, and repeats
//! within the batch), assign gap-free sequence numbers, write each event with its canonical
//! entry and leaf hash, write conversations and messages, add to the rollups, and move the
//! log head. Nothing is acknowledged before the commit.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tollgate_core::time::{day_of, month_of, now_us};
use tollgate_core::{Currency, EventFlags, Nanos, TokenCounts};
use tollgate_receipts::leaf_hash;
use uuid::Uuid;

use super::sql::{Arg, Sql};
use super::{begin_write, uuid};
use crate::db::{Db, Dialect};
use crate::model::{AppendItem, Dedupe, NewConversation, Recorded};
use crate::StoreError;

/// Rows per multi-row insert: keeps the bind count under SQLite's 32,766 and PostgreSQL's
/// 65,535 placeholders.
const ROWS_PER_INSERT: usize = 500;

pub(super) async fn append_usage(
    db: &Db,
    items: &[AppendItem],
) -> Result<Vec<Recorded>, StoreError> {
    let mut by_tenant: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        by_tenant
            .entry(item.event.tenant_id.as_str())
            .or_default()
            .push(i);
    }
    let mut outcomes: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut tx = begin_write(db).await?;
    for (tenant, indexes) in by_tenant {
        append_for_tenant(&mut tx, db.dialect, tenant, items, &indexes, &mut outcomes).await?;
    }
    tx.commit().await?;
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StoreError::Invariant("an item got no outcome".into())))
        .collect()
}

async fn append_for_tenant(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
    outcomes: &mut [Option<Recorded>],
) -> Result<(), StoreError> {
    let lock = match dialect {
        Dialect::Postgres => "SELECT log_size FROM tenants WHERE id = $1 FOR UPDATE",
        // The IMMEDIATE transaction already holds SQLite's write lock.
        Dialect::Sqlite => "SELECT log_size FROM tenants WHERE id = $1",
    };
    let head = sqlx::query(lock)
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await?;
    let mut size: i64 = match head {
        Some(row) => row.try_get(0)?,
        None => return Err(StoreError::NotFound(format!("tenant {tenant}"))),
    };

    let mut by_request = existing_by_request(tx, tenant, items, indexes).await?;
    let mut by_call = existing_calls(tx, tenant, items, indexes).await?;

    let recorded_us = now_us();
    let mut fresh: Vec<(usize, i64)> = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let item = &items[i];
        let earlier = match &item.dedupe {
            Dedupe::RequestId(r) => by_request.get(r),
            Dedupe::ConversationCall(c) => by_call.get(c),
            Dedupe::None => None,
        };
        if let Some(first) = earlier {
            outcomes[i] = Some(Recorded {
                duplicate: true,
                ..first.clone()
            });
            continue;
        }
        let seq = size;
        size += 1;
        let e = &item.event;
        let rec = Recorded {
            log_id: e.log_id,
            seq,
            timestamp_us: e.timestamp_us,
            cost: e.cost,
            currency: e.currency.clone(),
            flags: e.flags,
            price_version: e.price_version.clone(),
            conversation_id: e.conversation_id,
            message_id: item.conversation.as_ref().map(|c| c.response_message_id),
            duplicate: false,
        };
        if let Dedupe::RequestId(r) = &item.dedupe {
            by_request.insert(r.clone(), rec.clone());
        }
        if let Some(c) = &item.conversation {
            by_call.insert(c.id, rec.clone());
        }
        outcomes[i] = Some(rec);
        fresh.push((i, seq));
    }
    if fresh.is_empty() {
        return Ok(());
    }

    insert_events(tx, items, &fresh, recorded_us).await?;
    for &(i, _) in &fresh {
        if let Some(conv) = &items[i].conversation {
            insert_conversation(tx, &items[i], conv).await?;
        }
    }
    add_to_rollups(tx, tenant, items, &fresh).await?;
    sqlx::query("UPDATE tenants SET log_size = $1 WHERE id = $2")
        .bind(size)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const RECORDED_COLUMNS: &str =
    "e.log_id, e.seq, e.ts_us, e.cost_nanos, e.currency, e.flags, e.price_version, \
     e.conversation_id, c.response_message_id";

fn recorded(row: &AnyRow) -> Result<Recorded, StoreError> {
    let conversation: Option<String> = row.try_get(7)?;
    let message: Option<String> = row.try_get(8)?;
    let currency: String = row.try_get(4)?;
    Ok(Recorded {
        log_id: uuid(&row.try_get::<String, _>(0)?)?,
        seq: row.try_get(1)?,
        timestamp_us: row.try_get(2)?,
        cost: Nanos(row.try_get(3)?),
        currency: Currency::try_from(currency).map_err(StoreError::Invariant)?,
        flags: EventFlags::from_bits(row.try_get(5)?),
        price_version: row.try_get(6)?,
        conversation_id: conversation.as_deref().map(uuid).transpose()?,
        message_id: message.as_deref().map(uuid).transpose()?,
        duplicate: true,
    })
}

/// Events already recorded under the request ids of this batch.
async fn existing_by_request(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<HashMap<String, Recorded>, StoreError> {
    let ids: Vec<&str> = indexes
        .iter()
        .filter_map(|&i| match &items[i].dedupe {
            Dedupe::RequestId(r) => Some(r.as_str()),
            _ => None,
        })
        .collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(&format!(
            "SELECT {RECORDED_COLUMNS}, e.request_id FROM usage_events e
             LEFT JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
                                      AND e.source = 'conversation'
             WHERE e.tenant_id = "
        ));
        sql.bind(tenant).push(" AND e.request_id IN ");
        sql.tuple(chunk.iter().map(|r| Arg::from(*r)).collect());
        for row in sql.query().fetch_all(&mut **tx).await? {
            found.insert(row.try_get::<String, _>(9)?, recorded(&row)?);
        }
    }
    Ok(found)
}

/// Conversation calls already recorded for the conversations this batch's llmring usage
/// posts name.
async fn existing_calls(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    items: &[AppendItem],
    indexes: &[usize],
) -> Result<HashMap<Uuid, Recorded>, StoreError> {
    let ids: Vec<String> = indexes
        .iter()
        .filter_map(|&i| match &items[i].dedupe {
            Dedupe::ConversationCall(c) => Some(c.to_string()),
            _ => None,
        })
        .collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(&format!(
            "SELECT {RECORDED_COLUMNS} FROM usage_events e
             JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
             WHERE e.source = 'conversation' AND e.tenant_id = "
        ));
        sql.bind(tenant).push(" AND e.conversation_id IN ");
        sql.tuple(chunk.iter().map(|c| Arg::from(c.clone())).collect());
        for row in sql.query().fetch_all(&mut **tx).await? {
            let rec = recorded(&row)?;
            if let Some(c) = rec.conversation_id {
                found.insert(c, rec);
            }
        }
    }
    Ok(found)
}

async fn insert_events(
    tx: &mut Transaction<'static, Any>,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
    recorded_us: i64,
) -> Result<(), StoreError> {
    for chunk in fresh.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(
            "INSERT INTO usage_events (tenant_id, seq, log_id, request_id, ts_us, recorded_us, provider,
                model, alias, profile, origin, id_at_origin, user_id, conversation_id, input_tokens,
                output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
                cost_nanos, currency, price_version, flags, source, metadata, entry, leaf_hash) VALUES ",
        );
        for (n, &(i, seq)) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            let e = &items[i].event;
            let entry = e.canonical_entry(seq);
            let leaf = leaf_hash(&entry).to_vec();
            let metadata = (!e.metadata.is_empty())
                .then(|| serde_json::Value::Object(e.metadata.clone()).to_string());
            sql.tuple(vec![
                e.tenant_id.as_str().into(),
                seq.into(),
                e.log_id.to_string().into(),
                e.request_id.clone().into(),
                e.timestamp_us.into(),
                recorded_us.into(),
                e.provider.as_str().into(),
                e.model.as_str().into(),
                e.alias.clone().into(),
                e.profile.as_str().into(),
                e.origin.clone().into(),
                e.id_at_origin.clone().into(),
                e.user_id.clone().into(),
                e.conversation_id.map(|c| c.to_string()).into(),
                e.tokens.input.into(),
                e.tokens.output.into(),
                e.tokens.cached_input.into(),
                e.tokens.cache_write.into(),
                e.tokens.reasoning.into(),
                e.latency_ms.into(),
                e.cost.0.into(),
                e.currency.as_str().into(),
                e.price_version.clone().into(),
                e.flags.bits().into(),
                e.source.as_str().into(),
                metadata.into(),
                entry.into(),
                leaf.into(),
            ]);
        }
        sql.query().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_conversation(
    tx: &mut Transaction<'static, Any>,
    item: &AppendItem,
    conv: &NewConversation,
) -> Result<(), StoreError> {
    let e = &item.event;
    let last = conv.messages.iter().map(|m| m.ts_us).max();
    let mut sql = Sql::new(
        "INSERT INTO conversations (tenant_id, id, title, system_prompt, model_alias, temperature,
            max_tokens, message_count, total_input_tokens, total_output_tokens, total_cost_nanos,
            currency, response_message_id, created_us, updated_us, last_message_us) VALUES ",
    );
    sql.tuple(vec![
        e.tenant_id.as_str().into(),
        conv.id.to_string().into(),
        conv.title.clone().into(),
        conv.system_prompt.clone().into(),
        conv.model_alias.as_str().into(),
        conv.temperature.into(),
        conv.max_tokens.into(),
        (conv.messages.len() as i64).into(),
        e.tokens.input.into(),
        e.tokens.output.into(),
        e.cost.0.into(),
        e.currency.as_str().into(),
        conv.response_message_id.to_string().into(),
        e.timestamp_us.into(),
        e.timestamp_us.into(),
        last.into(),
    ]);
    sql.query().execute(&mut **tx).await?;

    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    for (chunk_no, chunk) in conv.messages.chunks(ROWS_PER_INSERT / 2).enumerate() {
        let mut sql = Sql::new(
            "INSERT INTO messages (tenant_id, conversation_id, position, id, role, content, content_hash,
                input_tokens, output_tokens, tool_calls, tool_results, metadata, ts_us) VALUES ",
        );
        for (n, m) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            let metadata = (!m.metadata.is_empty())
                .then(|| serde_json::Value::Object(m.metadata.clone()).to_string());
            sql.tuple(vec![
                e.tenant_id.as_str().into(),
                conv.id.to_string().into(),
                ((chunk_no * (ROWS_PER_INSERT / 2) + n) as i64).into(),
                m.id.to_string().into(),
                m.role.as_str().into(),
                json(&m.content).into(),
                m.content_hash.clone().into(),
                m.input_tokens.into(),
                m.output_tokens.into(),
                json(&m.tool_calls).into(),
                json(&m.tool_results).into(),
                metadata.into(),
                m.ts_us.into(),
            ]);
        }
        sql.query().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The measures a rollup row adds up.
#[derive(Default, Clone, Copy)]
struct Measures {
    requests: i64,
    tokens: TokenCounts,
    cost: i64,
    cached_responses: i64,
    unpriced: i64,
}

impl Measures {
    fn add(&mut self, item: &AppendItem) {
        let e = &item.event;
        self.requests += 1;
        self.tokens.input += e.tokens.input;
        self.tokens.output += e.tokens.output;
        self.tokens.cached_input += e.tokens.cached_input;
        self.tokens.cache_write += e.tokens.cache_write;
        self.tokens.reasoning += e.tokens.reasoning;
        self.cost += e.cost.0;
        self.cached_responses += i64::from(e.flags.cached_response);
        self.unpriced += i64::from(e.flags.unpriced);
    }

    fn args(&self) -> [Arg; 9] {
        [
            self.requests.into(),
            self.tokens.input.into(),
            self.tokens.output.into(),
            self.tokens.cached_input.into(),
            self.tokens.cache_write.into(),
            self.tokens.reasoning.into(),
            self.cost.into(),
            self.cached_responses.into(),
            self.unpriced.into(),
        ]
    }
}

const MEASURE_COLUMNS: &str =
    "requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, \
     reasoning_tokens, cost_nanos, cached_responses, unpriced";

fn measure_updates(table: &str) -> String {
    MEASURE_COLUMNS
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn add_to_rollups(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    items: &[AppendItem],
    fresh: &[(usize, i64)],
) -> Result<(), StoreError> {
    type DayKey = (i64, String, String, String, String, String, String);
    type MonthKey = (i64, String, String, String);
    let mut daily: BTreeMap<DayKey, Measures> = BTreeMap::new();
    let mut monthly: BTreeMap<MonthKey, Measures> = BTreeMap::new();
    for &(i, _) in fresh {
        let e = &items[i].event;
        let day = (
            day_of(e.timestamp_us),
            e.provider.clone(),
            e.model.clone(),
            e.alias.clone().unwrap_or_default(),
            e.origin.clone().unwrap_or_default(),
            e.user_id.clone().unwrap_or_default(),
            e.currency.as_str().to_string(),
        );
        daily.entry(day).or_default().add(&items[i]);
        let month = (
            month_of(e.timestamp_us),
            e.provider.clone(),
            e.model.clone(),
            e.currency.as_str().to_string(),
        );
        monthly.entry(month).or_default().add(&items[i]);
    }

    let daily_rows: Vec<(DayKey, Measures)> = daily.into_iter().collect();
    for chunk in daily_rows.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(&format!(
            "INSERT INTO usage_daily (tenant_id, day, provider, model, alias, origin, user_id, currency, \
             {MEASURE_COLUMNS}) VALUES "
        ));
        for (n, ((day, provider, model, alias, origin, user, currency), m)) in
            chunk.iter().enumerate()
        {
            if n > 0 {
                sql.push(", ");
            }
            let mut args: Vec<Arg> = vec![
                tenant.into(),
                (*day).into(),
                provider.as_str().into(),
                model.as_str().into(),
                alias.as_str().into(),
                origin.as_str().into(),
                user.as_str().into(),
                currency.as_str().into(),
            ];
            args.extend(m.args());
            sql.tuple(args);
        }
        sql.push(&format!(
            " ON CONFLICT (tenant_id, day, provider, model, alias, origin, user_id, currency) DO UPDATE SET {}",
            measure_updates("usage_daily")
        ));
        sql.query().execute(&mut **tx).await?;
    }

    let monthly_rows: Vec<(MonthKey, Measures)> = monthly.into_iter().collect();
    for chunk in monthly_rows.chunks(ROWS_PER_INSERT) {
        let mut sql = Sql::new(&format!(
            "INSERT INTO usage_monthly (tenant_id, month, provider, model, currency, {MEASURE_COLUMNS}) VALUES "
        ));
        for (n, ((month, provider, model, currency), m)) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            let mut args: Vec<Arg> = vec![
                tenant.into(),
                (*month).into(),
                provider.as_str().into(),
                model.as_str().into(),
                currency.as_str().into(),
            ];
            args.extend(m.args());
            sql.tuple(args);
        }
        sql.push(&format!(
            " ON CONFLICT (tenant_id, month, provider, model, currency) DO UPDATE SET {}",
            measure_updates("usage_monthly")
        ));
        sql.query().execute(&mut **tx).await?;
    }
    Ok(())
}
