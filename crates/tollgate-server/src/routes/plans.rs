//! The plans of the deployment (`/api/v1/plans`): list, add or change (the default plan
//! too), delete. Operator keys only: a plan applies to every tenant on it.
//!
//! Plans and the choice of the default plan are rows of the database, read by every decision
//! as it is made, so a change here applies on every instance from the next request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tollgate_api::plans::{Plan, PlanList, PutPlanBody};
use tollgate_core::validate::{monthly_requests, plan_name};
use tollgate_store::{PlanPut, PlanUpdate, StoreError};

use crate::auth::{need, Can};
use crate::billing::plan_view;
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::state::AppState;

/// List the plans
///
/// Every plan of the deployment, with its monthly request quota.
#[utoipa::path(
    get,
    path = "/api/v1/plans",
    tag = "billing",
    operation_id = "list_plans",
    responses(
        (status = 200, description = "The plans and the default plan", body = PlanList),
        (status = 403, description = "The key is not an operator key"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _auth: Can<need::Operator>,
) -> Result<Json<PlanList>, ApiError> {
    let plans = state.store().list_plans().await?;
    let default_plan = plans
        .iter()
        .find(|p| p.default)
        .map(|p| p.name.clone())
        .ok_or_else(|| StoreError::Invariant("the database has no default plan".into()))?;
    Ok(Json(PlanList {
        plans: plans.iter().map(plan_view).collect(),
        default_plan,
    }))
}

/// Add a plan or change it
///
/// Sets its quota, its rate limits (requests and tokens per minute of each key, user and
/// client IP of its tenants), or makes it the default plan, in one transaction. What this sets
/// is the operator's: a server's settings never change it again. The change applies on every
/// instance from the next request: every decision reads the plan from the database as it is
/// made.
#[utoipa::path(
    put,
    path = "/api/v1/plans/{name}",
    tag = "billing",
    operation_id = "put_plan",
    params(("name" = String, Path, description = "The plan's name (1 to 64 characters; not `default`)")),
    request_body = PutPlanBody,
    responses(
        (status = 200, description = "The plan, changed", body = Plan),
        (status = 201, description = "The plan, added", body = Plan),
        (status = 403, description = "The key is not an operator key"),
        (status = 409, description = "`default: false` for the default plan (`CONFLICT`)"),
        (status = 422, description = "A bad name; `monthly_requests` negative, or missing where it is required"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    _auth: Can<need::Operator>,
    PathParam(name): PathParam,
    Body(body): Body<PutPlanBody>,
) -> Result<Response, ApiError> {
    let name = plan_name("name", &name)?;
    let quota = match body.monthly_requests {
        Some(quota) => Some(monthly_requests("monthly_requests", quota)?),
        None if body.default.is_none() && body.rate_limits.is_none() => {
            return Err(ApiError::invalid_field(
                "monthly_requests",
                "monthly_requests is required: a number of requests a month, or null for \
                 unlimited (or send only `default` to choose the default plan, or only \
                 `rate_limits` to change its rate limits)",
            ))
        }
        None => None,
    };
    let rates = body
        .rate_limits
        .map(crate::routes::rate_limits::plan_rates_in)
        .transpose()?;
    let update = PlanUpdate {
        monthly_requests: quota,
        default: body.default,
        rates,
    };
    match state.store().put_plan(&name, &update).await? {
        PlanPut::Saved { plan, added } => {
            let status = if added {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(plan_view(&plan))).into_response())
        }
        PlanPut::Missing => Err(ApiError::invalid_field(
            "monthly_requests",
            format!(
                "there is no plan '{name}': monthly_requests is required to add it (a number of \
                 requests a month, or null for unlimited)"
            ),
        )),
    }
}

/// Delete a plan
///
/// Refused while a tenant is on it, or while it is the default plan (choose another default
/// first).
#[utoipa::path(
    delete,
    path = "/api/v1/plans/{name}",
    tag = "billing",
    operation_id = "delete_plan",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The key is not an operator key"),
        (status = 404, description = "No such plan"),
        (status = 409, description = "A tenant is on it, or it is the default plan (`CONFLICT`, with the reason)"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    _auth: Can<need::Operator>,
    PathParam(name): PathParam,
) -> Result<StatusCode, ApiError> {
    if state.store().delete_plan(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(&format!("plan '{name}'")))
    }
}
