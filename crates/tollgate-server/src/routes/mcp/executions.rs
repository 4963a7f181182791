//! MCP tool executions (llmring-mcp M10, M11), metered like LLM calls.
//!
//! llmring's server records an execution and prices nothing. Here an execution that names a
//! user (or is recorded under an end user's token) is also a usage event of source `tool`:
//! provider `mcp`, model `<server>/<tool>`, no tokens, priced per call and per unit (the
//! tool's own price, else the price book's), appended to the tenant log in the same
//! transaction as the execution, charged to the user's account, settling a hold when it names
//! one, and counted in stats, costs, exports, quotas and receipts. A retried execution (the
//! same `request_id`) is recorded and charged once. A failed one (`error` set) is recorded and,
//! unless `billing.charge_failed_tool_calls` is set, not metered.

use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};
use tollgate_api::tool_calls::{ExecutionBody, HistoryQuery, Metered, ToolExecution};
use tollgate_api::ErrorCode;
use tollgate_core::pricing::{tool_model, Rates, TOOL_PROVIDER};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::{optional_text, Invalid};
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{AppendItem, Charge, Dedupe, Execution, NewExecution, Recorded, ToolTarget};
use uuid::Uuid;

use super::path_id;
use crate::auth::{need, Can};
use crate::error::ApiError;
use crate::extract::{Body, Params, PathParam};
use crate::routes::conversations::bounded;
use crate::state::AppState;

/// Record a tool execution
///
/// llmring's execution record (`MCPHttpClient.record_tool_execution`). With a `user_id` (or
/// under an end user's token) it is metered: a usage event of source `tool`, priced per call
/// and per unit, charged to the user's account, settling `hold_id`. Idempotent on
/// `request_id`.
#[utoipa::path(
    post,
    path = "/api/v1/mcp/tools/{id}/execute",
    tag = "mcp",
    operation_id = "record_tool_execution",
    params(("id" = String, Path, description = "The tool's id (a UUID)")),
    request_body = ExecutionBody,
    responses(
        (status = 200, description = "The execution as recorded; `metered` names its usage event when it was metered, `duplicate` is true for a repeated `request_id`", body = ToolExecution),
        (status = 404, description = "No such tool, or another tenant's"),
        (status = 409, description = "`request_id` already names a call that is not a tool execution"),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it)"),
        (status = 503, description = "Too many requests are waiting for a commit; retry"),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    auth: Can<need::OwnIngest>,
    PathParam(raw_id): PathParam,
    Body(body): Body<ExecutionBody>,
) -> Result<Json<ToolExecution>, ApiError> {
    let tool_id = path_id(&raw_id)?;
    let user_id = auth.account_user(optional_text("user_id", body.user_id.as_deref(), 255)?)?;
    let request_id = optional_text("request_id", body.request_id.as_deref(), 255)?;
    let hold_id = optional_text("hold_id", body.hold_id.as_deref(), 64)?;
    let execution = new_execution(body, tool_id, user_id, request_id)?;
    let target = state
        .store()
        .tool_target(&auth.tenant_id, tool_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;

    let metered = execution.user_id.is_some()
        && (execution.error.is_none() || state.settings().billing.charge_failed_tool_calls);
    if !metered {
        if hold_id.is_some() {
            return Err(Invalid::field(
                "hold_id",
                "hold_id settles a metered execution: name the user it ran for (user_id)",
            )
            .into());
        }
        let (recorded, duplicate) = state
            .store()
            .record_execution(&auth.tenant_id, &execution)
            .await?;
        return Ok(Json(answer(recorded, None, duplicate)));
    }

    // A repeat of an execution recorded without metering (a failure, say) stays that one.
    if let Some(request_id) = &execution.request_id {
        if let Some(found) = state
            .store()
            .find_execution(&auth.tenant_id, request_id)
            .await?
        {
            if found.log_id.is_none() {
                return Ok(Json(answer(found, None, true)));
            }
        }
    }
    let _permit = state.pending(1).await?;
    let item = metered_item(&state, &auth.tenant_id, &target, execution.clone(), hold_id)?;
    let recorded = state.batcher().append(vec![item]).await?;
    let r = recorded
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("append returned no outcome"))?;
    if !r.duplicate {
        let stored = Execution {
            recorded: execution,
            log_id: Some(r.log_id),
        };
        return Ok(Json(answer(stored, Some(&r), false)));
    }
    let request_id = execution.request_id.as_deref().unwrap_or_default();
    let first = state
        .store()
        .find_execution(&auth.tenant_id, request_id)
        .await?
        .filter(|e| e.log_id == Some(r.log_id))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "request_id already names another call, not an execution of this tool; send a new request_id",
            )
            .with_field("request_id")
        })?;
    Ok(Json(answer(first, Some(&r), true)))
}

/// The execution to record, validated.
fn new_execution(
    body: ExecutionBody,
    tool_id: Uuid,
    user_id: Option<String>,
    request_id: Option<String>,
) -> Result<NewExecution, ApiError> {
    let conversation_id = body
        .conversation_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| Invalid::field("conversation_id", "conversation_id must be a UUID"))
        })
        .transpose()?;
    for (field, value) in [("duration_ms", body.duration_ms), ("units", body.units)] {
        if value.is_some_and(|v| v < 0) {
            return Err(Invalid::field(field, format!("{field} must not be negative")).into());
        }
    }
    Ok(NewExecution {
        id: Uuid::now_v7(),
        tool_id,
        conversation_id,
        input: Some(Value::Object(body.input)),
        output: body.output.map(Value::Object),
        error: body.error,
        duration_ms: body.duration_ms,
        units: body.units,
        user_id,
        request_id,
        executed_us: now_us(),
    })
}

/// The usage event that meters `execution`, priced, with its charge.
fn metered_item(
    state: &AppState,
    tenant_id: &str,
    tool: &ToolTarget,
    execution: NewExecution,
    hold_id: Option<String>,
) -> Result<AppendItem, ApiError> {
    let book = state.prices().current();
    let at = execution.executed_us;
    let own = &tool.price;
    let (rates, currency, version) = if own.per_call.is_some() || own.per_unit.is_some() {
        let currency = match &own.currency {
            Some(c) => Currency::try_from(c.clone()).map_err(ApiError::internal)?,
            None => Currency::usd(),
        };
        let version = format!("tool:{}", tool_model(&tool.server_name, &tool.name));
        (
            Some(Rates::per_call(own.per_call, own.per_unit)),
            currency,
            Some(version),
        )
    } else if let Some(m) = book.find_tool(tenant_id, &tool.server_name, &tool.name, at) {
        (
            Some(m.entry.rates.clone()),
            m.entry.currency.clone(),
            Some(m.entry.version()),
        )
    } else {
        (None, Currency::usd(), None)
    };
    let cost = match &rates {
        Some(r) => r
            .call_cost(execution.units)
            .map_err(|e| Invalid::field("units", e.to_string()))?,
        None => Nanos::ZERO,
    };
    let mut metadata = Map::new();
    metadata.insert("tool_id".into(), tool.id.to_string().into());
    metadata.insert("execution_id".into(), execution.id.to_string().into());
    if let Some(error) = &execution.error {
        metadata.insert("error".into(), error.clone().into());
    }
    let event = UsageEvent {
        log_id: Uuid::now_v7(),
        tenant_id: tenant_id.to_string(),
        request_id: execution.request_id.clone(),
        timestamp_us: at,
        provider: TOOL_PROVIDER.to_string(),
        model: tool_model(&tool.server_name, &tool.name),
        alias: None,
        profile: "default".to_string(),
        lock_digest: None,
        origin: None,
        id_at_origin: None,
        user_id: execution.user_id.clone(),
        conversation_id: execution.conversation_id,
        tokens: TokenCounts::default(),
        units: execution.units,
        latency_ms: execution.duration_ms,
        cost,
        input_cost: None,
        currency,
        price_version: version,
        flags: EventFlags {
            unpriced: rates.is_none(),
            ..Default::default()
        },
        source: EventSource::Tool,
        metadata,
    };
    let billing = state.billing();
    Ok(AppendItem {
        dedupe: match &event.request_id {
            Some(r) => Dedupe::RequestId(r.clone()),
            None => Dedupe::None,
        },
        event,
        execution: Some(execution),
        conversation: None,
        charge: Some(Charge {
            hold_id,
            defaults: billing.defaults.clone(),
            balance_low: billing.balance_low,
        }),
    })
}

/// An execution on the wire, with its event when it was metered.
fn answer(e: Execution, event: Option<&Recorded>, duplicate: bool) -> ToolExecution {
    let r = e.recorded;
    ToolExecution {
        id: r.id.to_string(),
        tool_id: r.tool_id.to_string(),
        conversation_id: r.conversation_id.map(|c| c.to_string()),
        input: r.input.unwrap_or_else(|| Value::Object(Map::new())),
        output: r.output,
        error: r.error,
        duration_ms: r.duration_ms,
        executed_at: format_us(r.executed_us),
        units: r.units,
        user_id: r.user_id,
        request_id: r.request_id,
        metered: e.log_id.map(|log_id| Metered {
            log_id: log_id.to_string(),
            cost: event.map(|r| r.cost.to_string()),
            currency: event.map(|r| r.currency.to_string()),
            price_version: event.and_then(|r| r.price_version.clone()),
        }),
        duplicate,
    }
}

/// A tool's executions
///
/// Newest first, metered or not.
#[utoipa::path(
    get,
    path = "/api/v1/mcp/tools/{id}/history",
    tag = "mcp",
    operation_id = "tool_history",
    params(("id" = String, Path, description = "The tool's id (a UUID)"), HistoryQuery),
    responses(
        (status = 200, description = "The tool's executions, newest first", body = Vec<ToolExecution>),
        (status = 404, description = "No such tool, or another tenant's"),
        (status = 422, description = "`limit` is out of range"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    auth: Can<need::Read>,
    PathParam(raw_id): PathParam,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<Vec<ToolExecution>>, ApiError> {
    let tool_id = path_id(&raw_id)?;
    let limit = bounded("limit", q.limit, 100, 1, 1000)?;
    let found = state
        .store()
        .tool_executions(&auth.tenant_id, tool_id, limit)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;
    Ok(Json(
        found.into_iter().map(|e| answer(e, None, false)).collect(),
    ))
}
