//! `POST /api/v1/log` and `POST /api/v1/log/batch`: the ingestion hot path.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_api::usage::{
    EventFlag, LogBatchBody, LogBatchResponse, LogBatchResult, Logged, LoggedEvent, RejectedEvent,
    UsageLogBody,
};
use tollgate_core::time::{format_us, now_us};
use tollgate_core::EventFlags;
use tollgate_store::Recorded;

use crate::auth::{need, Auth, Can};
use crate::error::ApiError;
use crate::extract::{parse_json, Body, Gated, RawBody};
use crate::ingest::{usage_item, IngestContext};
use crate::state::AppState;
use tollgate_api::{ErrorCode, ErrorDetail};

pub(crate) fn context<'a>(
    state: &'a AppState,
    auth: &'a Auth,
    book: &'a tollgate_core::PriceBook,
) -> IngestContext<'a> {
    IngestContext {
        tenant_id: &auth.tenant_id,
        now_us: now_us(),
        book,
        client_cost: state.settings().pricing.client_cost,
        logging_level: state.settings().message_logging_level,
        billing: Some(state.billing().defaults.clone()),
        balance_low: state.billing().balance_low,
        dimensions: &state.settings().dimensions,
    }
}

/// The flags that are set, in the fixed order of [`EventFlags::names`].
pub(crate) fn flags(f: EventFlags) -> Vec<EventFlag> {
    [
        (f.cached_response, EventFlag::CachedResponse),
        (f.client_cost, EventFlag::ClientCost),
        (f.estimated, EventFlag::Estimated),
        (f.unpriced, EventFlag::Unpriced),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect()
}

/// The llmring answer (`log_id`, `cost` as a float, `timestamp`) plus Tollgate's exact
/// fields.
pub(crate) fn logged(r: &Recorded) -> Logged {
    Logged {
        log_id: r.log_id.to_string(),
        cost: r.cost.to_f64(),
        timestamp: format_us(r.timestamp_us),
        cost_exact: r.cost.to_string(),
        currency: r.currency.to_string(),
        seq: r.seq,
        price_version: r.price_version.clone(),
        flags: flags(r.flags),
        duplicate: r.duplicate,
    }
}

/// Log one call
///
/// llmring's `UsageLogRequest` plus Tollgate's optional fields. The call is priced at its own
/// time and acknowledged once its transaction is durable. A repeated `request_id` is counted
/// once.
#[utoipa::path(
    post,
    path = "/api/v1/log",
    tag = "usage",
    operation_id = "log_usage",
    request_body = UsageLogBody,
    responses(
        (status = 200, description = "Recorded, or recognised as a repeat (`duplicate: true`)", body = Logged),
        (status = 422, description = "A field is invalid (`INVALID_FIELD`, naming it)"),
        (status = 503, description = "Too many requests are waiting for a commit; retry"),
    )
)]
pub async fn log(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    body: Gated<Body<UsageLogBody>>,
) -> Result<Json<Logged>, ApiError> {
    let Gated {
        body: Body(body),
        permit,
    } = body;
    drop(permit);
    let _permit = state.pending(1).await?;
    let book = state.prices().current();
    let item = usage_item(body, &context(&state, &auth, &book))?;
    let recorded = state.batcher().append(vec![item]).await?;
    let first = recorded
        .first()
        .ok_or_else(|| ApiError::internal("append returned no outcome"))?;
    Ok(Json(logged(first)))
}

/// Body of `POST /api/v1/log/batch` as read here: each event is kept as raw JSON and parsed
/// on its own, so an invalid one rejects only itself. Documented as [`LogBatchBody`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// An event's error as its result shows it: `field` is the path in the whole body
/// (`events[3].userid`), as for any other body.
fn item_error(index: usize, e: &ApiError) -> ErrorDetail {
    let mut detail = e.detail();
    detail.field = match detail.field.take() {
        Some(f) if f.starts_with('[') => Some(format!("events[{index}]{f}")),
        Some(f) => Some(format!("events[{index}].{f}")),
        // The event as a whole has the wrong shape (not an object, say): the event is the
        // field at fault. Other refusals (a quota, a conflict) concern no field.
        None if matches!(
            detail.code,
            ErrorCode::InvalidField | ErrorCode::InvalidBody | ErrorCode::InvalidCharacter
        ) =>
        {
            Some(format!("events[{index}]"))
        }
        None => None,
    };
    detail
}

/// Log many calls at once
///
/// Up to `ingest.max_batch_events` (1,000 by default) calls. An invalid one is reported by its
/// index, with `field` its path in the body (`events[3].userid`), and rejects nothing else.
#[utoipa::path(
    post,
    path = "/api/v1/log/batch",
    tag = "usage",
    operation_id = "log_usage_batch",
    request_body = LogBatchBody,
    responses(
        (status = 200, description = "`results` by index, each `recorded`, `duplicate` (with the fields of `POST /api/v1/log`) or `rejected` (with its `error`, whose `field` is the path in this body, `events[INDEX].…`), and the counts", body = LogBatchResponse),
        (status = 422, description = "`events` is empty or holds too many"),
        (status = 503, description = "Too many requests are waiting for a commit; retry"),
    )
)]
pub async fn log_batch(
    State(state): State<AppState>,
    auth: Can<need::Ingest>,
    body: Gated<RawBody>,
) -> Result<Json<LogBatchResponse>, ApiError> {
    let Gated {
        body: RawBody(bytes),
        permit: body_permit,
    } = body;
    let batch: BatchBody<'_> = parse_json(&bytes)?;
    let max = state.settings().ingest.max_batch_events;
    if batch.events.is_empty() || batch.events.len() > max {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            format!(
                "events must hold 1 to {max} events, got {}",
                batch.events.len()
            ),
        )
        .with_field("events"));
    }
    let _permit = state.pending(batch.events.len()).await?;
    let book = state.prices().current();
    let ctx = context(&state, &auth, &book);
    let mut results: Vec<Option<LogBatchResult>> = Vec::with_capacity(batch.events.len());
    let mut items = Vec::with_capacity(batch.events.len());
    let mut slots = Vec::with_capacity(batch.events.len());
    for (index, raw) in batch.events.iter().enumerate() {
        let parsed = parse_json::<UsageLogBody>(raw.get().as_bytes())
            .and_then(|body| usage_item(body, &ctx).map_err(ApiError::from));
        match parsed {
            Ok(item) => {
                slots.push(index);
                items.push(item);
                results.push(None);
            }
            Err(e) => results.push(Some(LogBatchResult::Rejected(RejectedEvent {
                index: index as u64,
                error: item_error(index, &e),
            }))),
        }
    }
    // The events are parsed: the request body is no longer needed while the commit waits.
    drop(batch);
    drop(bytes);
    drop(body_permit);
    let (mut recorded, mut duplicates) = (0, 0);
    if !items.is_empty() {
        let outcomes = state.batcher().append(items).await?;
        for (index, outcome) in slots.into_iter().zip(outcomes) {
            let event = LoggedEvent {
                index: index as u64,
                logged: logged(&outcome),
            };
            results[index] = Some(if outcome.duplicate {
                duplicates += 1;
                LogBatchResult::Duplicate(event)
            } else {
                recorded += 1;
                LogBatchResult::Recorded(event)
            });
        }
    }
    let results: Vec<LogBatchResult> = results.into_iter().flatten().collect();
    let rejected = results.len() as u64 - recorded - duplicates;
    Ok(Json(LogBatchResponse {
        results,
        recorded,
        duplicates,
        rejected,
    }))
}
