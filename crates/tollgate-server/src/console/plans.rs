//! Operate › Plans and quotas: the tenant's plan, its monthly quota and rate limits; for
//! operators, every plan with its quota, changing a plan's quota and moving the tenant to
//! another plan. Through the API's `/api/v1/billing/limits`, `/api/v1/plans` and
//! `/api/v1/billing/plan` handlers.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_api::billing::PlanBody;
use tollgate_api::plans::{Plan, PutPlanBody};
use tollgate_api::rate::PerMinute;

use super::fmt::{count, instant};
use super::page::{render, Chrome, ConsoleError};
use super::session::Viewer;
use super::sign_in::form;
use super::Notice;
use crate::auth::need;
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::routes::{billing, plans as api};
use crate::state::AppState;

struct PlanRow {
    name: String,
    quota: String,
    rates: String,
    tenants: String,
    default: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/plans.html")]
struct PlansPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    plan: String,
    quota: String,
    resets: String,
    plans: Vec<PlanRow>,
    operator: bool,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PlansQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QuotaForm {
    csrf: String,
    plan: String,
    /// Requests a month; empty: unlimited.
    #[serde(default)]
    monthly_requests: String,
}

#[derive(Debug, Deserialize)]
struct MoveForm {
    csrf: String,
    plan: String,
}

fn per_minute(who: &str, p: &PerMinute) -> Option<String> {
    let parts: Vec<String> = [
        p.requests_per_minute
            .map(|n| format!("{} requests", count(n))),
        p.tokens_per_minute.map(|n| format!("{} tokens", count(n))),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| format!("{who}: {} a minute", parts.join(", ")))
}

fn row(p: &Plan, current: &str) -> PlanRow {
    let rates: Vec<String> = [
        per_minute("per key", &p.rate_limits.key),
        per_minute("per user", &p.rate_limits.user),
        per_minute("per IP", &p.rate_limits.ip),
    ]
    .into_iter()
    .flatten()
    .collect();
    PlanRow {
        name: p.name.clone(),
        quota: p
            .monthly_requests
            .map(|n| format!("{} requests a month", count(n)))
            .unwrap_or_else(|| "unlimited".into()),
        rates: if rates.is_empty() {
            "none".into()
        } else {
            rates.join("; ")
        },
        tenants: count(p.tenants),
        default: p.default,
        current: p.name == current,
    }
}

/// `GET /ui/operate/plans`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<PlansQuery>,
) -> Result<Response, ConsoleError> {
    let axum::Json(limits) =
        billing::limits(State(state.clone()), viewer.may::<need::Read>()?).await?;
    let plans = if viewer.is_operator() {
        let axum::Json(list) =
            api::list(State(state.clone()), viewer.may::<need::Operator>()?).await?;
        list.plans.iter().map(|p| row(p, &limits.plan)).collect()
    } else {
        Vec::new()
    };
    render(&PlansPage {
        chrome: Chrome::new(&viewer, "Plans and quotas", "/ui/operate"),
        notice: Notice::read(q.notice.as_deref()),
        quota: match limits.limit {
            Some(l) => format!(
                "{} of {} requests used in {} (UTC)",
                count(limits.used),
                count(l),
                limits.month
            ),
            None => format!(
                "{} requests in {} (UTC); no monthly limit",
                count(limits.used),
                limits.month
            ),
        },
        resets: instant(&limits.resets_at),
        plan: limits.plan,
        plans,
        operator: viewer.is_operator(),
    })
}

/// `POST /ui/operate/plans/quota`: sets a plan's monthly quota (operators).
pub async fn set_quota(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: QuotaForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let text = f.monthly_requests.trim();
    let monthly = if text.is_empty() {
        None
    } else {
        Some(text.replace(',', "").parse::<i64>().map_err(|_| {
            ApiError::invalid_field(
                "monthly_requests",
                format!("'{text}' is not a whole number of requests; leave it empty for unlimited"),
            )
        })?)
    };
    api::put(
        State(state),
        viewer.may::<need::Operator>()?,
        PathParam(f.plan),
        Body(PutPlanBody {
            monthly_requests: Some(monthly),
            ..PutPlanBody::default()
        }),
    )
    .await?;
    Ok(Redirect::to("/ui/operate/plans?notice=plan-saved").into_response())
}

/// `POST /ui/operate/plans/move`: moves the session's tenant to a plan (operators).
pub async fn move_tenant(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let f: MoveForm = form(&body)?;
    viewer.check_csrf(&f.csrf)?;
    let _moved = billing::set_plan(
        State(state),
        viewer.may::<need::Operator>()?,
        Body(PlanBody {
            plan: Some(Some(f.plan)),
        }),
    )
    .await?;
    Ok(Redirect::to("/ui/operate/plans?notice=tenant-moved").into_response())
}
