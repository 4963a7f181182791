//! Conversations and their messages as read back. They are written with their call by the
//! append transaction, or by the conversation routes (`conversation_writes`).

use tollgate_core::Nanos;
use uuid::Uuid;

use super::decode::{json_object, json_value, uuid};
use crate::db::{query, row, Db};
use crate::model::{Conversation, Message};
use crate::StoreError;

pub(super) const COLUMNS: &str = "id, tenant_id, title, system_prompt, model_alias, temperature, max_tokens, message_count, \
     total_input_tokens, total_output_tokens, total_cost_nanos, currency, created_us, updated_us, last_message_us";

row! {
    /// The columns of [`COLUMNS`].
    pub(super) struct ConversationRow {
        id: String,
        tenant_id: String,
        title: Option<String>,
        system_prompt: Option<String>,
        model_alias: String,
        temperature: f64,
        max_tokens: Option<i64>,
        message_count: i64,
        total_input_tokens: i64,
        total_output_tokens: i64,
        total_cost_nanos: i64,
        currency: String,
        created_us: i64,
        updated_us: i64,
        last_message_us: Option<i64>,
    }
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(r: ConversationRow) -> Result<Conversation, StoreError> {
        Ok(Conversation {
            id: uuid(&r.id)?,
            tenant_id: r.tenant_id,
            title: r.title,
            system_prompt: r.system_prompt,
            model_alias: r.model_alias,
            temperature: r.temperature,
            max_tokens: r.max_tokens,
            message_count: r.message_count,
            total_input_tokens: r.total_input_tokens,
            total_output_tokens: r.total_output_tokens,
            total_cost: Nanos(r.total_cost_nanos),
            currency: r.currency,
            created_us: r.created_us,
            updated_us: r.updated_us,
            last_message_us: r.last_message_us,
        })
    }
}

row! {
    struct MessageRow {
        id: String,
        conversation_id: String,
        role: String,
        content: Option<String>,
        content_hash: Option<String>,
        input_tokens: Option<i64>,
        output_tokens: Option<i64>,
        tool_calls: Option<String>,
        tool_results: Option<String>,
        metadata: Option<String>,
        ts_us: i64,
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Message, StoreError> {
        Ok(Message {
            id: uuid(&r.id)?,
            conversation_id: uuid(&r.conversation_id)?,
            role: r.role,
            content: json_value(r.content),
            content_hash: r.content_hash,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            tool_calls: json_value(r.tool_calls),
            tool_results: json_value(r.tool_results),
            metadata: json_object(r.metadata),
            ts_us: r.ts_us,
        })
    }
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
    .fetch_all_as::<ConversationRow>(db)
    .await?;
    rows.into_iter().map(Conversation::try_from).collect()
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
    .fetch_optional_as::<ConversationRow>(db)
    .await?;
    row.map(Conversation::try_from).transpose()
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
    .fetch_all_as::<MessageRow>(db)
    .await?;
    rows.into_iter()
        .map(Message::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
