//! Conversations and their messages (written with their call by the append transaction).

use tollgate_core::Nanos;
use uuid::Uuid;

use super::decode::{json_object, json_value, uuid};
use crate::db::{query, Db, Row};
use crate::model::{Conversation, Message};
use crate::StoreError;

const COLUMNS: &str = "id, tenant_id, title, system_prompt, model_alias, temperature, max_tokens, message_count, \
     total_input_tokens, total_output_tokens, total_cost_nanos, currency, created_us, updated_us, last_message_us";

fn conversation(row: &Row) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: uuid(&row.try_get::<String>(0)?)?,
        tenant_id: row.try_get(1)?,
        title: row.try_get(2)?,
        system_prompt: row.try_get(3)?,
        model_alias: row.try_get(4)?,
        temperature: row.try_get(5)?,
        max_tokens: row.try_get(6)?,
        message_count: row.try_get(7)?,
        total_input_tokens: row.try_get(8)?,
        total_output_tokens: row.try_get(9)?,
        total_cost: Nanos(row.try_get(10)?),
        currency: row.try_get(11)?,
        created_us: row.try_get(12)?,
        updated_us: row.try_get(13)?,
        last_message_us: row.try_get(14)?,
    })
}

fn message(row: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        id: uuid(&row.try_get::<String>(0)?)?,
        conversation_id: uuid(&row.try_get::<String>(1)?)?,
        role: row.try_get(2)?,
        content: json_value(row.try_get(3)?),
        content_hash: row.try_get(4)?,
        input_tokens: row.try_get(5)?,
        output_tokens: row.try_get(6)?,
        tool_calls: json_value(row.try_get(7)?),
        tool_results: json_value(row.try_get(8)?),
        metadata: json_object(row.try_get(9)?),
        ts_us: row.try_get(10)?,
    })
}

pub(super) async fn list_conversations(
    db: &Db,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Conversation>, StoreError> {
    let rows = query(format!(
        "SELECT {COLUMNS} FROM conversations WHERE tenant_id = $1
         ORDER BY updated_us DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(tenant)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    rows.iter().map(conversation).collect()
}

pub(super) async fn get_conversation(
    db: &Db,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Conversation>, StoreError> {
    let row = query(format!(
        "SELECT {COLUMNS} FROM conversations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id.to_string())
    .fetch_optional(db)
    .await?;
    row.as_ref().map(conversation).transpose()
}

pub(super) async fn list_messages(
    db: &Db,
    tenant: &str,
    id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Option<Vec<Message>>, StoreError> {
    if get_conversation(db, tenant, id).await?.is_none() {
        return Ok(None);
    }
    let rows = query(
        "SELECT id, conversation_id, role, content, content_hash, input_tokens, output_tokens, tool_calls,
                tool_results, metadata, ts_us
         FROM messages WHERE tenant_id = $1 AND conversation_id = $2
         ORDER BY position LIMIT $3 OFFSET $4",
    )
    .bind(tenant)
    .bind(id.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
