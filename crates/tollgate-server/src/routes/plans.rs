//! The plans of the deployment (`/api/v1/plans`): list, add or change, delete. Operator keys
//! only: a plan applies to every tenant on it.
//!
//! Plans are rows of the database, read by every decision as it is made, so a change here
//! applies on every instance from the next request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_core::time::format_us;
use tollgate_core::validate::{monthly_requests, plan_name};
use tollgate_store::Plan;

use super::billing::present;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{Body, PathParam};
use crate::state::AppState;

/// A plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    /// Its name.
    name: String,
    /// Requests a tenant on it may make each UTC calendar month; null: unlimited.
    monthly_requests: Option<i64>,
    /// Whether it is the default plan (`billing.default_plan`): the plan of every tenant with
    /// none set.
    default: bool,
    /// Tenants moved to it explicitly (those on the default plan by not having one set are not
    /// counted).
    tenants: i64,
    /// When it was added (RFC 3339).
    created_at: String,
    /// When its quota last changed (RFC 3339).
    updated_at: String,
}

/// Every plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanList {
    /// The plans, by name.
    plans: Vec<PlanView>,
    /// The plan of tenants with none set.
    default_plan: String,
}

fn view(p: &Plan, default_plan: &str) -> PlanView {
    PlanView {
        name: p.name.clone(),
        monthly_requests: p.monthly_requests,
        default: p.name == default_plan,
        tenants: p.tenants,
        created_at: format_us(p.created_us),
        updated_at: format_us(p.updated_us),
    }
}

/// Body of `PUT /api/v1/plans/{name}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPlanBody {
    /// Requests a month (zero or more), or null for unlimited; required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    monthly_requests: Option<Option<i64>>,
}

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
pub async fn list(State(state): State<AppState>, auth: Auth) -> Result<Json<PlanList>, ApiError> {
    auth.require_operator()?;
    let default_plan = &state.billing().default_plan;
    let plans = state.store().list_plans().await?;
    Ok(Json(PlanList {
        plans: plans.iter().map(|p| view(p, default_plan)).collect(),
        default_plan: default_plan.clone(),
    }))
}

/// Add a plan or change its quota
///
/// The change applies on every instance from the next request: every decision reads the plan
/// from the database as it is made.
#[utoipa::path(
    put,
    path = "/api/v1/plans/{name}",
    tag = "billing",
    operation_id = "put_plan",
    params(("name" = String, Path, description = "The plan's name (1 to 64 characters; not `default`)")),
    request_body = PutPlanBody,
    responses(
        (status = 200, description = "The plan, changed", body = PlanView),
        (status = 201, description = "The plan, added", body = PlanView),
        (status = 403, description = "The key is not an operator key"),
        (status = 422, description = "A bad name, or `monthly_requests` missing or negative"),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    auth: Auth,
    PathParam(name): PathParam,
    Body(body): Body<PutPlanBody>,
) -> Result<Response, ApiError> {
    auth.require_operator()?;
    let name = plan_name("name", &name)?;
    let Some(quota) = body.monthly_requests else {
        return Err(ApiError::invalid_field(
            "monthly_requests",
            "monthly_requests is required: a number of requests a month, or null for unlimited",
        ));
    };
    let quota = monthly_requests("monthly_requests", quota)?;
    let (plan, added) = state.store().put_plan(&name, quota).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&plan, &state.billing().default_plan))).into_response())
}

/// Delete a plan
///
/// Refused while a tenant is on it, or while it is the default plan.
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
    auth: Auth,
    PathParam(name): PathParam,
) -> Result<StatusCode, ApiError> {
    auth.require_operator()?;
    if state
        .store()
        .delete_plan(&name, &state.billing().default_plan)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(&format!("plan '{name}'")))
    }
}
