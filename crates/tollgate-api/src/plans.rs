//! The plans wire (`/api/v1/plans`, operator keys): a plan with its monthly request quota,
//! the list with the default plan, and the body that adds or changes one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::present;
use crate::rate::PlanRateLimits;

/// Who set a plan's quota last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanSource {
    /// It came with the database, and nobody has changed it.
    Builtin,
    /// `billing.plans` at a server's start: the settings keep setting it.
    Settings,
    /// An operator (this API or `tollgate plans`): the settings never change it again.
    Operator,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    /// Its name.
    pub name: String,
    /// Requests a tenant on it may make each UTC calendar month; null: unlimited.
    #[schema(required = true)]
    pub monthly_requests: Option<i64>,
    /// Whether it is the default plan: the plan of every tenant with none set.
    pub default: bool,
    /// Who set its quota last.
    pub source: PlanSource,
    /// Tenants moved to it explicitly (those on the default plan by not having one set are not
    /// counted).
    pub tenants: i64,
    /// When it was added.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When its quota or limits last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The requests and tokens per minute of each key, user and client IP of its tenants.
    pub rate_limits: PlanRateLimits,
}

/// Every plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlanList {
    /// The plans, by name.
    pub plans: Vec<Plan>,
    /// The default plan, the plan of tenants with none set, as the database says.
    pub default_plan: String,
}

/// Body of `PUT /api/v1/plans/{name}`. Fields left `None` are not sent; `monthly_requests:
/// Some(None)` sends `null`, unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPlanBody {
    /// Requests a month (zero or more), or null for unlimited. Required to add a plan, and
    /// unless `default` is given.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>)]
    pub monthly_requests: Option<Option<i64>>,
    /// `true`: make it the default plan, the plan of every tenant with none set. `false` on
    /// the default plan is a conflict: choose another default instead. Absent: the default
    /// stays as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// The plan's rate limits, all at once: a member left out is no limit. Absent: they stay
    /// as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<PlanRateLimits>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_body_tells_unlimited_from_unchanged() {
        let body: PutPlanBody =
            serde_json::from_str(r#"{"monthly_requests": null}"#).expect("a body");
        assert_eq!(body.monthly_requests, Some(None));
        let body: PutPlanBody = serde_json::from_str(r#"{"default": true}"#).expect("a body");
        assert_eq!(body.monthly_requests, None);
        let unlimited = PutPlanBody {
            monthly_requests: Some(None),
            default: None,
            rate_limits: None,
        };
        assert_eq!(
            serde_json::to_string(&unlimited).expect("serializes"),
            r#"{"monthly_requests":null}"#
        );
    }
}
