//! `POST /api/v1/pricing/reprice`: prices the calls recorded without a price, now that the
//! book has a price for their time, by appending an adjustment for each (see `reprice`). The
//! calls are read a page at a time in log order and each page's adjustments appended through
//! the batcher, billed as calls are; a rerun finds nothing left, and a run that stops part way
//! leaves the pages it appended, so running it again prices the rest.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use tollgate_api::usage::{RepriceAdjustment, RepriceRequest, Repriced, StillUnpriced};
use tollgate_core::pricing::TOOL_PROVIDER;
use tollgate_core::time::{parse_instant, DateEdge};
use tollgate_core::{EventSource, Nanos, UsageEvent};
use tollgate_store::ToolTarget;
use uuid::Uuid;

use super::mcp::executions::tool_price;
use super::usage::context;
use crate::auth::{need, Auth, Can};
use crate::error::ApiError;
use crate::extract::Body;
use crate::ingest::IngestContext;
use crate::reprice::{self, NewPrice};
use crate::state::AppState;

/// The most adjustments an answer lists.
const LISTED: usize = 100;

/// Reprice unpriced calls
///
/// Prices the calls of a tenant recorded without a price (flagged `unpriced`, not served from
/// a cache, not repriced yet), in `[since, until)`, for which the price book now has a price at
/// the call's own time, found as ingestion finds one. The log is never rewritten: each call
/// gets an adjustment, a new event of source `adjustment` naming it in `adjusts`, with its
/// labels and time, no tokens, and the call's cost at that price (less the zero it was
/// recorded at), charged to its user's account as a call is. Totals and statistics add the
/// adjustment's cost but count no request for it, and the call no longer counts as unpriced.
/// Running it again reprices nothing twice; `dry_run` writes nothing. The caller's tenant with
/// an `admin` key; another tenant (`for_tenant`, or `X-Tenant-Id`) with an operator key.
#[utoipa::path(
    post,
    path = "/api/v1/pricing/reprice",
    tag = "usage",
    operation_id = "reprice",
    request_body = RepriceRequest,
    responses(
        (status = 200, description = "What was repriced (or would be, on a dry run) and what still has no price", body = Repriced),
        (status = 403, description = "Repricing needs the `admin` scope; another tenant's calls, an operator key"),
        (status = 404, description = "An operator named a tenant that does not exist"),
        (status = 422, description = "`since` or `until` is not a date or RFC 3339 instant, or `until` is not after `since` (`field` names it)"),
        (status = 503, description = "Too many requests are waiting for a commit; retry (what was appended stays, a rerun prices the rest)"),
    )
)]
pub async fn reprice(
    State(state): State<AppState>,
    auth: Can<need::Admin>,
    Body(b): Body<RepriceRequest>,
) -> Result<Json<Repriced>, ApiError> {
    let since = instant("since", b.since.as_deref())?.unwrap_or(i64::MIN);
    let until = instant("until", b.until.as_deref())?.unwrap_or(i64::MAX);
    if until <= since {
        return Err(ApiError::invalid_field(
            "until",
            "until must be after since",
        ));
    }
    let tenant_id = target_tenant(&state, &auth, b.for_tenant.as_deref()).await?;
    let book = state.prices().current();
    let ctx = IngestContext {
        tenant_id: &tenant_id,
        ..context(&state, &auth, &book)
    };
    let page = state.settings().ingest.max_batch_events.clamp(1, 1000) as i64;
    let mut run = Run::default();
    let mut tools: HashMap<Uuid, Option<ToolTarget>> = HashMap::new();
    let mut after = -1;
    loop {
        let calls = state
            .store()
            .reprice_candidates(&tenant_id, since, until, after, page)
            .await?;
        let Some(last) = calls.last() else { break };
        after = last.seq;
        let mut items = Vec::new();
        for call in &calls {
            let e = &call.event;
            match price_of(&state, &ctx, &mut tools, e).await? {
                Some(price) => items.push(reprice::adjustment(e, &price, &ctx)?),
                None => {
                    *run.still
                        .entry((e.provider.clone(), e.model.clone()))
                        .or_default() += 1;
                }
            }
        }
        let made: Vec<RepriceAdjustment> = items
            .iter()
            .map(|i| RepriceAdjustment {
                log_id: None,
                adjusts: i.event.adjusts.map(|a| a.to_string()).unwrap_or_default(),
                cost: i.event.cost.to_string(),
                currency: i.event.currency.to_string(),
                price_version: i.event.price_version.clone().unwrap_or_default(),
            })
            .collect();
        let costs: Vec<(String, Nanos)> = items
            .iter()
            .map(|i| (i.event.currency.to_string(), i.event.cost))
            .collect();
        if b.dry_run || items.is_empty() {
            for (m, (currency, cost)) in made.into_iter().zip(costs) {
                run.add(m, &currency, cost)?;
            }
        } else {
            let _permit = state.pending(items.len()).await?;
            let recorded = state.batcher().append(items).await?;
            for ((mut m, (currency, cost)), r) in made.into_iter().zip(costs).zip(recorded) {
                // Another run appended this one meanwhile: it counted it.
                if r.duplicate {
                    continue;
                }
                m.log_id = Some(r.log_id.to_string());
                run.add(m, &currency, cost)?;
            }
        }
        if (calls.len() as i64) < page {
            break;
        }
    }
    Ok(Json(run.answer(tenant_id, b.dry_run)))
}

/// An optional instant of the body: a date is its first instant (UTC).
fn instant(field: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            parse_instant(t, DateEdge::Start)
                .map_err(|e| ApiError::invalid_field(field, format!("{field}: {e}")))
        })
        .transpose()
}

/// The tenant to reprice: the caller's, or the one `named` (id or name). Naming another
/// tenant needs an operator key; anyone else is refused before the name is looked up, so the
/// answer says nothing of whether it exists.
async fn target_tenant(
    state: &AppState,
    auth: &Auth,
    named: Option<&str>,
) -> Result<String, ApiError> {
    let Some(name) = named.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(auth.tenant_id.clone());
    };
    if name == auth.tenant_id {
        return Ok(auth.tenant_id.clone());
    }
    let operator = auth.require_operator();
    let found = state.store().find_tenant(name).await?;
    match (found, operator) {
        (Some(t), _) if t.id == auth.tenant_id => Ok(t.id),
        (_, Err(_)) => Err(ApiError::forbidden(
            "only an operator key may reprice another tenant's calls (for_tenant)",
        )),
        (Some(t), Ok(())) => Ok(t.id),
        (None, Ok(())) => Err(ApiError::not_found("tenant")),
    }
}

/// The price now known for call `e` at its time: an LLM call's from the book as ingestion
/// finds it; a tool execution's as executions are priced (its tool's own price, else the
/// book's), by the tool its metadata names, else by its name in the book.
async fn price_of(
    state: &AppState,
    ctx: &IngestContext<'_>,
    tools: &mut HashMap<Uuid, Option<ToolTarget>>,
    e: &UsageEvent,
) -> Result<Option<NewPrice>, ApiError> {
    if e.source != EventSource::Tool || e.provider != TOOL_PROVIDER {
        return Ok(reprice::book_price(ctx, e));
    }
    let tool_id = e
        .metadata
        .get("tool_id")
        .and_then(Value::as_str)
        .and_then(|t| Uuid::parse_str(t).ok());
    let tool = match tool_id {
        Some(id) => match tools.get(&id) {
            Some(t) => t.clone(),
            None => {
                let t = state.store().tool_target(ctx.tenant_id, id).await?;
                tools.insert(id, t.clone());
                t
            }
        },
        None => None,
    };
    let price = match &tool {
        Some(tool) => tool_price(ctx.book, ctx.tenant_id, tool, e.timestamp_us)?
            .map(|p| (p.rates, p.currency, p.version)),
        // The book names a tool `<server>/<tool>`, wherever the name is split.
        None => e
            .model
            .split_once('/')
            .and_then(|(server, name)| {
                ctx.book
                    .find_tool(ctx.tenant_id, server, name, e.timestamp_us)
            })
            .map(|m| {
                (
                    m.entry.rates.clone(),
                    m.entry.currency.clone(),
                    m.version.to_string(),
                )
            }),
    };
    let Some((rates, currency, version)) = price else {
        return Ok(None);
    };
    match rates.call_cost(e.units) {
        Ok(cost) => Ok(Some(NewPrice {
            cost,
            currency,
            version,
        })),
        Err(err) => {
            tracing::warn!(log_id = %e.log_id, error = %err, "a tool call's price does not fit an amount; left unpriced");
            Ok(None)
        }
    }
}

/// What a run has done so far.
#[derive(Default)]
struct Run {
    repriced: i64,
    totals: BTreeMap<String, i64>,
    listed: Vec<RepriceAdjustment>,
    still: BTreeMap<(String, String), i64>,
}

impl Run {
    fn add(&mut self, m: RepriceAdjustment, currency: &str, cost: Nanos) -> Result<(), ApiError> {
        self.repriced += 1;
        let total = self.totals.entry(currency.to_string()).or_default();
        *total = total
            .checked_add(cost.0)
            .ok_or_else(|| ApiError::internal("a repricing total overflows"))?;
        if self.listed.len() < LISTED + 1 {
            self.listed.push(m);
        }
        Ok(())
    }

    fn answer(mut self, tenant_id: String, dry_run: bool) -> Repriced {
        let currency = reprice::primary_currency(&self.totals);
        let complete = self.listed.len() <= LISTED;
        self.listed.truncate(LISTED);
        let mut still: Vec<StillUnpriced> = self
            .still
            .into_iter()
            .map(|((provider, model), events)| StillUnpriced {
                provider,
                model,
                events,
            })
            .collect();
        still.sort_by_key(|s| std::cmp::Reverse(s.events));
        Repriced {
            tenant_id,
            dry_run,
            repriced: self.repriced,
            cost: Nanos(self.totals.get(&currency).copied().unwrap_or(0)).to_string(),
            currency,
            costs_by_currency: self
                .totals
                .iter()
                .map(|(c, n)| (c.clone(), Nanos(*n).to_string()))
                .collect(),
            still_unpriced: still,
            adjustments: self.listed,
            adjustments_complete: complete,
        }
    }
}
