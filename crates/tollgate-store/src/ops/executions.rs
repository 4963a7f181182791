//! MCP tool executions: the tool an execution names, recording one that is not metered, and
//! reading them back. A metered execution is written by the append transaction, with the
//! usage event that meters it (see [`INSERT`]).

use std::str::FromStr;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::decode::{json_value, uuid};
use crate::db::{numbered, query, row, Arg, Db, Dialect};
use crate::model::{Execution, NewExecution, ToolPrice, ToolTarget};
use crate::StoreError;

/// Inserts one execution (`?1`..`?13` as [`args`] gives them) unless its tool is gone or an
/// execution with its request id exists: inside the append's batch, neither may fail the
/// other calls of the batch. `?N` placeholders (SQLite's; PostgreSQL's after `numbered`).
pub(crate) const INSERT: &str = "INSERT INTO mcp_tool_executions (tenant_id, id, tool_id, \
     conversation_id, input, output, error, duration_ms, units, user_id, request_id, log_id, \
     executed_us) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 \
     WHERE EXISTS (SELECT 1 FROM mcp_tools WHERE tenant_id = ?1 AND id = ?3) \
     ON CONFLICT DO NOTHING";

/// The arguments of [`INSERT`].
pub(crate) fn args(tenant_id: &str, e: &NewExecution, log_id: Option<Uuid>) -> Vec<Arg> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    vec![
        tenant_id.into(),
        e.id.to_string().into(),
        e.tool_id.to_string().into(),
        e.conversation_id.map(|c| c.to_string()).into(),
        json(&e.input).into(),
        json(&e.output).into(),
        e.error.clone().into(),
        e.duration_ms.into(),
        e.units.into(),
        e.user_id.clone().into(),
        e.request_id.clone().into(),
        log_id.map(|l| l.to_string()).into(),
        e.executed_us.into(),
    ]
}

const COLUMNS: &str = "id, tool_id, conversation_id, input, output, error, duration_ms, units, \
     user_id, request_id, log_id, executed_us";

row! {
    /// The columns of [`COLUMNS`].
    struct ExecutionRow {
        id: String,
        tool_id: String,
        conversation_id: Option<String>,
        input: Option<String>,
        output: Option<String>,
        error: Option<String>,
        duration_ms: Option<i64>,
        units: Option<i64>,
        user_id: Option<String>,
        request_id: Option<String>,
        log_id: Option<String>,
        executed_us: i64,
    }
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = StoreError;

    fn try_from(r: ExecutionRow) -> Result<Execution, StoreError> {
        Ok(Execution {
            recorded: NewExecution {
                id: uuid(&r.id)?,
                tool_id: uuid(&r.tool_id)?,
                conversation_id: r.conversation_id.as_deref().map(uuid).transpose()?,
                input: json_value(r.input),
                output: json_value(r.output),
                error: r.error,
                duration_ms: r.duration_ms,
                units: r.units,
                user_id: r.user_id,
                request_id: r.request_id,
                executed_us: r.executed_us,
            },
            log_id: r.log_id.as_deref().map(uuid).transpose()?,
        })
    }
}

row! {
    /// A tool with its server's name and its own prices.
    struct TargetRow {
        id: String,
        name: String,
        server_id: String,
        server_name: String,
        price_per_call: Option<String>,
        price_per_unit: Option<String>,
        currency: Option<String>,
    }
}

fn price(text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.map(|t| {
        Decimal::from_str(&t).map_err(|_| StoreError::Invariant(format!("tool price '{t}'")))
    })
    .transpose()
}

/// The columns of [`TargetRow`], from `mcp_tools t` joined with its server `s`.
const TARGET_SELECT: &str = "SELECT t.id, t.name, t.server_id, s.name AS server_name, \
     t.price_per_call, t.price_per_unit, t.currency FROM mcp_tools t \
     JOIN mcp_servers s ON s.tenant_id = t.tenant_id AND s.id = t.server_id";

pub(super) async fn tool_target(
    db: &Db,
    tenant_id: &str,
    tool_id: Uuid,
) -> Result<Option<ToolTarget>, StoreError> {
    query(format!(
        "{TARGET_SELECT} WHERE t.tenant_id = $1 AND t.id = $2"
    ))
    .bind(tenant_id)
    .bind(tool_id.to_string())
    .fetch_optional_as::<TargetRow>(db)
    .await?
    .map(ToolTarget::try_from)
    .transpose()
}

pub(super) async fn tool_by_name(
    db: &Db,
    tenant_id: &str,
    server: &str,
    tool: &str,
) -> Result<Option<ToolTarget>, StoreError> {
    query(format!(
        "{TARGET_SELECT} WHERE t.tenant_id = $1 AND s.name = $2 AND t.name = $3"
    ))
    .bind(tenant_id)
    .bind(server)
    .bind(tool)
    .fetch_optional_as::<TargetRow>(db)
    .await?
    .map(ToolTarget::try_from)
    .transpose()
}

impl TryFrom<TargetRow> for ToolTarget {
    type Error = StoreError;

    fn try_from(r: TargetRow) -> Result<ToolTarget, StoreError> {
        Ok(ToolTarget {
            id: uuid(&r.id)?,
            name: r.name,
            server_id: uuid(&r.server_id)?,
            server_name: r.server_name,
            price: ToolPrice {
                per_call: price(r.price_per_call)?,
                per_unit: price(r.price_per_unit)?,
                currency: r.currency,
            },
        })
    }
}

pub(super) async fn find_execution(
    db: &Db,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<Execution>, StoreError> {
    query(format!(
        "SELECT {COLUMNS} FROM mcp_tool_executions WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional_as::<ExecutionRow>(db)
    .await?
    .map(Execution::try_from)
    .transpose()
}

/// Records an execution that no event meters, once per request id: a repeat returns the
/// first, with `true`.
pub(super) async fn record_execution(
    db: &Db,
    tenant_id: &str,
    e: &NewExecution,
) -> Result<(Execution, bool), StoreError> {
    let mut tx = db.begin_write().await?;
    if let Some(request_id) = &e.request_id {
        let found = query(format!(
            "SELECT {COLUMNS} FROM mcp_tool_executions WHERE tenant_id = $1 AND request_id = $2"
        ))
        .bind(tenant_id)
        .bind(request_id)
        .fetch_optional_as::<ExecutionRow>(&mut tx)
        .await?;
        if let Some(found) = found {
            return Ok((Execution::try_from(found)?, true));
        }
    }
    // `query` takes `$N` on both engines.
    let mut insert = query(numbered(Dialect::Postgres, INSERT));
    for a in args(tenant_id, e, None) {
        insert = insert.bind(a);
    }
    if insert.execute(&mut tx).await? == 0 {
        drop(tx);
        // Either the tool is not the tenant's, or a concurrent execution with the same
        // request id committed first (PostgreSQL; SQLite's writer takes them in turn).
        if let Some(request_id) = &e.request_id {
            if let Some(first) = find_execution(db, tenant_id, request_id).await? {
                return Ok((first, true));
            }
        }
        return Err(StoreError::NotFound(format!("tool {}", e.tool_id)));
    }
    tx.commit().await?;
    Ok((
        Execution {
            recorded: e.clone(),
            log_id: None,
        },
        false,
    ))
}

/// The newest `limit` executions of a tool, newest first; None when the tool is not the
/// tenant's.
pub(super) async fn tool_executions(
    db: &Db,
    tenant_id: &str,
    tool_id: Uuid,
    limit: i64,
) -> Result<Option<Vec<Execution>>, StoreError> {
    let tool = query("SELECT id FROM mcp_tools WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(tool_id.to_string())
        .fetch_optional(db)
        .await?;
    if tool.is_none() {
        return Ok(None);
    }
    query(format!(
        "SELECT {COLUMNS} FROM mcp_tool_executions WHERE tenant_id = $1 AND tool_id = $2 \
         ORDER BY executed_us DESC, id DESC LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(tool_id.to_string())
    .bind(limit)
    .fetch_all_as::<ExecutionRow>(db)
    .await?
    .into_iter()
    .map(Execution::try_from)
    .collect::<Result<Vec<_>, _>>()
    .map(Some)
}
