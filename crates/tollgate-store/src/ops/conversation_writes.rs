//! The conversation routes' writes (llmring's C1, C4, C6, C7): opening a conversation before
//! any call, changing its settings, adding messages, deleting old messages.
//!
//! Each is one transaction that first locks the conversation rows it changes (level 2 of the
//! lock order, by id; no tenant head), then writes their messages, so that two writers of one
//! conversation take turns. The rows are the append's: messages get the next positions after
//! the conversation's last and are written by the same [`message_row`], so a conversation
//! logged by `POST /api/v1/conversations/log` and one opened here read back the same way.
//!
//! The counters stay true: `message_count` and `last_message_us` describe the messages
//! stored; the token totals add the tokens every message added carries. Deleting old
//! messages recounts `message_count` and `last_message_us` from what remains and leaves the
//! token and cost totals (they count the conversation's calls, which the usage log and its
//! receipts keep) and `updated_us` (retention does not make a conversation recent).

use tollgate_core::time::now_us;
use tollgate_core::Currency;
use uuid::Uuid;

use super::conversations::{ConversationRow, COLUMNS};
use super::rows::{message_row, MESSAGE_TABLE_COLUMNS};
use crate::db::{query, Db, Dialect, Sql, Tx};
use crate::model::{Conversation, ConversationChange, ConversationSettings, Message, NewMessage};
use crate::StoreError;

/// Messages per INSERT: 13 bind values each, far below either engine's limit.
const MESSAGES_PER_INSERT: usize = 200;
/// Conversation ids per DELETE or UPDATE of old messages.
const IDS_PER_STATEMENT: usize = 500;

fn for_update(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " FOR UPDATE",
        // BEGIN IMMEDIATE already holds the whole database.
        Dialect::Sqlite => "",
    }
}

/// The tenant's conversation `id`, locked until the transaction ends; None when it is not
/// the tenant's.
async fn locked(
    tx: &mut Tx,
    dialect: Dialect,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Conversation>, StoreError> {
    query(format!(
        "SELECT {COLUMNS} FROM conversations WHERE tenant_id = $1 AND id = $2{}",
        for_update(dialect)
    ))
    .bind(tenant)
    .bind(id.to_string())
    .fetch_optional_as::<ConversationRow>(tx)
    .await?
    .map(Conversation::try_from)
    .transpose()
}

/// Opens a conversation with no messages, its cost zero in USD (the currency of the built-in
/// prices; messages added here carry no cost).
pub(super) async fn create(
    db: &Db,
    tenant: &str,
    c: &ConversationSettings,
) -> Result<Conversation, StoreError> {
    let now = now_us();
    let currency = Currency::usd();
    query(
        "INSERT INTO conversations (tenant_id, id, title, system_prompt, model_alias, temperature, \
         max_tokens, message_count, total_input_tokens, total_output_tokens, total_cost_nanos, \
         currency, created_us, updated_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0, 0, $8, $9, $9)",
    )
    .bind(tenant)
    .bind(c.id.to_string())
    .bind(c.title.clone())
    .bind(c.system_prompt.clone())
    .bind(c.model_alias.as_str())
    .bind(c.temperature)
    .bind(c.max_tokens)
    .bind(currency.as_str())
    .bind(now)
    .execute(db.write())
    .await?;
    Ok(Conversation {
        id: c.id,
        tenant_id: tenant.to_string(),
        title: c.title.clone(),
        system_prompt: c.system_prompt.clone(),
        model_alias: c.model_alias.clone(),
        temperature: c.temperature,
        max_tokens: c.max_tokens,
        message_count: 0,
        total_input_tokens: 0,
        total_output_tokens: 0,
        total_cost: tollgate_core::Nanos::ZERO,
        currency: currency.to_string(),
        created_us: now,
        updated_us: now,
        last_message_us: None,
    })
}

/// Applies `change`; an empty one returns the conversation as it is, `updated_us` included.
pub(super) async fn update(
    db: &Db,
    tenant: &str,
    id: Uuid,
    change: &ConversationChange,
) -> Result<Option<Conversation>, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(mut c) = locked(&mut tx, db.dialect, tenant, id).await? else {
        return Ok(None);
    };
    if change.is_empty() {
        return Ok(Some(c));
    }
    if let Some(title) = &change.title {
        c.title.clone_from(title);
    }
    if let Some(prompt) = &change.system_prompt {
        c.system_prompt.clone_from(prompt);
    }
    if let Some(alias) = &change.model_alias {
        c.model_alias.clone_from(alias);
    }
    if let Some(t) = change.temperature {
        c.temperature = t;
    }
    if let Some(m) = change.max_tokens {
        c.max_tokens = m;
    }
    c.updated_us = c.updated_us.max(now_us());
    query(
        "UPDATE conversations SET title = $3, system_prompt = $4, model_alias = $5, \
         temperature = $6, max_tokens = $7, updated_us = $8 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id.to_string())
    .bind(c.title.clone())
    .bind(c.system_prompt.clone())
    .bind(c.model_alias.as_str())
    .bind(c.temperature)
    .bind(c.max_tokens)
    .bind(c.updated_us)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(Some(c))
}

/// Appends `messages` after the conversation's last, in order, and counts them in.
pub(super) async fn add_messages(
    db: &Db,
    tenant: &str,
    id: Uuid,
    messages: &[NewMessage],
) -> Result<Option<Vec<Message>>, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(c) = locked(&mut tx, db.dialect, tenant, id).await? else {
        return Ok(None);
    };
    if messages.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let next: i64 = query(
        "SELECT COALESCE(MAX(position), -1) + 1 AS next FROM messages \
         WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(tenant)
    .bind(id.to_string())
    .fetch_one(&mut tx)
    .await?
    .get("next")?;
    let mut position = next;
    for chunk in messages.chunks(MESSAGES_PER_INSERT) {
        let mut insert = Sql::new(&format!(
            "INSERT INTO messages ({MESSAGE_TABLE_COLUMNS}) VALUES "
        ));
        for (i, m) in chunk.iter().enumerate() {
            insert.push(if i == 0 { "(" } else { ", (" });
            for (j, arg) in message_row(tenant, id, position, m).into_iter().enumerate() {
                if j > 0 {
                    insert.push(", ");
                }
                insert.push_bind(arg);
            }
            insert.push(")");
            position += 1;
        }
        insert.execute(&mut tx).await?;
    }
    let count = i64::try_from(messages.len())
        .map_err(|_| StoreError::Invariant("too many messages".into()))?;
    let sum = |tokens: fn(&NewMessage) -> Option<i64>| -> i64 {
        messages
            .iter()
            .filter_map(tokens)
            .fold(0, i64::saturating_add)
    };
    let last = messages.iter().map(|m| m.ts_us).max();
    query(
        "UPDATE conversations SET message_count = $3, total_input_tokens = $4, \
         total_output_tokens = $5, last_message_us = $6, updated_us = $7 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id.to_string())
    .bind(c.message_count.saturating_add(count))
    .bind(c.total_input_tokens.saturating_add(sum(|m| m.input_tokens)))
    .bind(
        c.total_output_tokens
            .saturating_add(sum(|m| m.output_tokens)),
    )
    .bind(c.last_message_us.max(last))
    .bind(c.updated_us.max(now_us()))
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(Some(messages.iter().map(|m| stored(id, m)).collect()))
}

/// A message as it reads back once stored.
fn stored(conversation_id: Uuid, m: &NewMessage) -> Message {
    Message {
        id: m.id,
        conversation_id,
        role: m.role.clone(),
        content: m.content.clone(),
        content_hash: m.content_hash.clone(),
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        tool_calls: m.tool_calls.clone(),
        tool_results: m.tool_results.clone(),
        metadata: m.metadata.clone(),
        ts_us: m.ts_us,
    }
}

/// Deletes the tenant's messages older than `before_us` (by message time) and recounts the
/// conversations that held them; how many messages went.
pub(super) async fn delete_old_messages(
    db: &Db,
    tenant: &str,
    before_us: i64,
) -> Result<u64, StoreError> {
    let mut tx = db.begin_write().await?;
    let ids = query(format!(
        "SELECT id FROM conversations WHERE tenant_id = $1 AND id IN \
         (SELECT conversation_id FROM messages WHERE tenant_id = $1 AND ts_us < $2) \
         ORDER BY id{}",
        for_update(db.dialect)
    ))
    .bind(tenant)
    .bind(before_us)
    .fetch_all(&mut tx)
    .await?
    .iter()
    .map(|row| row.get::<String>("id"))
    .collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        // Only the conversations locked above: a message another transaction adds meanwhile
        // belongs to a conversation this one did not recount.
        let mut delete = query(
            "DELETE FROM messages WHERE tenant_id = $1 AND ts_us < $2 AND conversation_id IN (",
        )
        .bind(tenant)
        .bind(before_us);
        in_list(&mut delete, chunk);
        deleted += delete.execute(&mut tx).await?;
        let mut recount = query(
            "UPDATE conversations SET \
             message_count = (SELECT COUNT(*) FROM messages m \
                WHERE m.tenant_id = conversations.tenant_id AND m.conversation_id = conversations.id), \
             last_message_us = (SELECT MAX(m.ts_us) FROM messages m \
                WHERE m.tenant_id = conversations.tenant_id AND m.conversation_id = conversations.id) \
             WHERE tenant_id = $1 AND id IN (",
        )
        .bind(tenant);
        in_list(&mut recount, chunk);
        recount.execute(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

/// Ends `sql`'s open `IN (` with a placeholder per id and the closing parenthesis.
fn in_list(sql: &mut Sql, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(id);
    }
    sql.push(")");
}
