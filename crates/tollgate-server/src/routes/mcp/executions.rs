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

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};
use tollgate_api::tool_calls::{ExecutionBody, HistoryQuery, Metered, ToolExecution};
use tollgate_api::ErrorCode;
use tollgate_core::pricing::{tool_model, PriceBook, Rates, TOOL_PROVIDER};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::validate::{optional_text, Invalid};
use tollgate_core::{Currency, EventFlags, EventSource, Nanos, TokenCounts, UsageEvent};
use tollgate_store::{AppendItem, Charge, Dedupe, Execution, NewExecution, ToolTarget};
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
    Body(mut body): Body<ExecutionBody>,
) -> Result<Json<ToolExecution>, ApiError> {
    let tool_id = path_id(&raw_id)?;
    let dimensions = crate::ingest::dimensions(
        body.kb_id.take().as_deref(),
        body.dimensions.take(),
        &state.settings().dimensions,
    )?;
    let user_id = auth.account_user(optional_text("user_id", body.user_id.as_deref(), 255)?)?;
    let request_id = crate::reprice::unreserved(optional_text(
        "request_id",
        body.request_id.as_deref(),
        255,
    )?)?;
    let hold_id = optional_text("hold_id", body.hold_id.as_deref(), 64)?;
    let execution = new_execution(body, tool_id, user_id, request_id)?;
    let target = state
        .store()
        .tool_target(&auth.tenant_id, tool_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tool"))?;

    // A repeat of a recorded execution is that execution, metered or not, whatever this
    // attempt says: a new attempt (after a failure, say) needs a new request_id.
    if let Some(request_id) = &execution.request_id {
        if let Some(found) = state
            .store()
            .find_execution(&auth.tenant_id, request_id)
            .await?
        {
            return repeat(&state, &auth.tenant_id, found, tool_id).await;
        }
    }
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
        if duplicate {
            return repeat(&state, &auth.tenant_id, recorded, tool_id).await;
        }
        return Ok(Json(answer(recorded, None, false)));
    }

    let _permit = state.pending(1).await?;
    let item = metered_item(
        &state,
        &auth.tenant_id,
        &target,
        execution.clone(),
        hold_id,
        dimensions,
    )?;
    let recorded = state.batcher().append(vec![item]).await?;
    let r = recorded
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("append returned no outcome"))?;
    let metered = Metered {
        log_id: r.log_id.to_string(),
        cost: Some(r.cost.to_string()),
        currency: Some(r.currency.to_string()),
        price_version: r.price_version.clone(),
    };
    if !r.duplicate {
        let stored = Execution {
            recorded: execution,
            log_id: Some(r.log_id),
        };
        return Ok(Json(answer(stored, Some(metered), false)));
    }
    // Recorded meanwhile by a concurrent attempt with the same request_id: that one.
    let request_id = execution.request_id.as_deref().unwrap_or_default();
    match state
        .store()
        .find_execution(&auth.tenant_id, request_id)
        .await?
    {
        Some(first) if first.log_id == Some(r.log_id) && first.recorded.tool_id == tool_id => {
            Ok(Json(answer(first, Some(metered), true)))
        }
        _ => Err(reused(request_id)),
    }
}

/// 409: `request_id` names another call.
fn reused(request_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!(
            "request_id '{request_id}' already names another call (an LLM call, or another tool's \
             execution); send a new request_id"
        ),
    )
    .with_field("request_id")
}

/// The answer to a repeated `request_id`: the execution first recorded with it, when it is of
/// this tool, with the event that metered it.
async fn repeat(
    state: &AppState,
    tenant_id: &str,
    first: Execution,
    tool_id: Uuid,
) -> Result<Json<ToolExecution>, ApiError> {
    if first.recorded.tool_id != tool_id {
        return Err(reused(
            first.recorded.request_id.as_deref().unwrap_or_default(),
        ));
    }
    let metered = match first.log_id {
        Some(log_id) => Some(metered_event(state, tenant_id, log_id).await?),
        None => None,
    };
    Ok(Json(answer(first, metered, true)))
}

/// How the event `log_id` metered an execution, read from its canonical entry (only the id
/// once the entry has been archived).
async fn metered_event(
    state: &AppState,
    tenant_id: &str,
    log_id: Uuid,
) -> Result<Metered, ApiError> {
    let entry = state
        .store()
        .find_log_entry(tenant_id, log_id)
        .await?
        .and_then(|e| e.entry)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let text = |key: &str| {
        entry
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Metered {
        log_id: log_id.to_string(),
        cost: text("cost"),
        currency: text("currency"),
        price_version: text("price_version"),
    })
}

/// The most units one execution may report.
const MAX_UNITS: i64 = 1_000_000;

/// The longest `error` kept.
const MAX_ERROR_BYTES: usize = 16 * 1024;

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
    for (field, value, max) in [
        ("duration_ms", body.duration_ms, i64::MAX),
        ("units", body.units, MAX_UNITS),
    ] {
        if value.is_some_and(|v| !(0..=max).contains(&v)) {
            return Err(
                Invalid::field(field, format!("{field} must be between 0 and {max}")).into(),
            );
        }
    }
    // An empty error is no error; a long one is refused rather than cut.
    let error = body
        .error
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if error.as_ref().is_some_and(|e| e.len() > MAX_ERROR_BYTES) {
        return Err(Invalid::field(
            "error",
            format!("error must be at most {MAX_ERROR_BYTES} bytes of UTF-8"),
        )
        .into());
    }
    Ok(NewExecution {
        id: Uuid::now_v7(),
        tool_id,
        conversation_id,
        input: Some(Value::Object(body.input)),
        output: body.output.map(Value::Object),
        error,
        duration_ms: body.duration_ms,
        units: body.units,
        user_id,
        request_id,
        executed_us: now_us(),
    })
}

/// What a tool's executions cost: its rates, their currency and the price version events
/// carry.
pub(crate) struct ToolPriced {
    /// Per call and per unit.
    pub(crate) rates: Rates,
    /// The rates' currency.
    pub(crate) currency: Currency,
    /// `tool:<server>/<tool>@<per call>+<per unit>/unit` for the tool's own price, else the
    /// price book entry's version.
    pub(crate) version: String,
}

/// The price of `tool` at `at_us`: its own price, else the price book's (the tenant's own
/// prices first), else none.
pub(crate) fn tool_price(
    book: &PriceBook,
    tenant_id: &str,
    tool: &ToolTarget,
    at_us: i64,
) -> Result<Option<ToolPriced>, ApiError> {
    let own = &tool.price;
    if own.per_call.is_some() || own.per_unit.is_some() {
        let currency = match &own.currency {
            Some(c) => Currency::try_from(c.clone()).map_err(ApiError::internal)?,
            None => Currency::usd(),
        };
        // The rates are in the version, so that events charged before and after a change of
        // the tool's price name different prices.
        let rate = |d: Option<rust_decimal::Decimal>| {
            d.map_or_else(|| "0".to_string(), |d| d.normalize().to_string())
        };
        let version = format!(
            "tool:{}@{}+{}/unit",
            tool_model(&tool.server_name, &tool.name),
            rate(own.per_call),
            rate(own.per_unit),
        );
        return Ok(Some(ToolPriced {
            rates: Rates::per_call(own.per_call, own.per_unit),
            currency,
            version,
        }));
    }
    Ok(book
        .find_tool(tenant_id, &tool.server_name, &tool.name, at_us)
        .map(|m| ToolPriced {
            rates: m.entry.rates.clone(),
            currency: m.entry.currency.clone(),
            version: m.version.to_string(),
        }))
}

/// The usage event that meters `execution`, priced, with its charge.
fn metered_item(
    state: &AppState,
    tenant_id: &str,
    tool: &ToolTarget,
    execution: NewExecution,
    hold_id: Option<String>,
    dimensions: BTreeMap<String, String>,
) -> Result<AppendItem, ApiError> {
    let book = state.prices().current();
    let at = execution.executed_us;
    let price = tool_price(&book, tenant_id, tool, at)?;
    let (rates, currency, version) = match price {
        Some(p) => (Some(p.rates), p.currency, Some(p.version)),
        None => (None, Currency::usd(), None),
    };
    let cost = match &rates {
        Some(r) => r.call_cost(execution.units).map_err(|e| {
            let field = if execution.units.is_some() {
                "units"
            } else {
                "tool_id"
            };
            Invalid::field(field, format!("the execution's cost is out of range: {e}"))
        })?,
        None => Nanos::ZERO,
    };
    let mut metadata = Map::new();
    metadata.insert("tool_id".into(), tool.id.to_string().into());
    metadata.insert("execution_id".into(), execution.id.to_string().into());
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
        service_tier: Default::default(),
        quantities: Default::default(),
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
        adjusts: None,
        estimate_method: None,
        dimensions,
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

/// An execution on the wire, with how it was metered (only the event's id when not given).
fn answer(e: Execution, metered: Option<Metered>, duplicate: bool) -> ToolExecution {
    let r = e.recorded;
    let metered = metered.or_else(|| {
        e.log_id.map(|log_id| Metered {
            log_id: log_id.to_string(),
            cost: None,
            currency: None,
            price_version: None,
        })
    });
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
        metered,
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
