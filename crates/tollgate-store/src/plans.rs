//! Plans: the values of the plan operations that cross the [`Store`](crate::Store) boundary.
//!
//! Plans live in the database (the `plans` table), managed by operators; no process keeps a
//! copy, so every instance reads the same answer at the next request.

use crate::model::QuotaState;

/// A plan: a name and its monthly request quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Unique name.
    pub name: String,
    /// Requests a tenant on the plan may make each UTC calendar month (None: unlimited).
    pub monthly_requests: Option<i64>,
    /// Tenants whose plan is set to this one (tenants with none set are on the default plan
    /// and not counted here).
    pub tenants: i64,
    /// When it was added.
    pub created_us: i64,
    /// When its quota last changed.
    pub updated_us: i64,
}

/// A plan and its quota, as the settings (`billing.plans`) would add it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSeed {
    /// Name.
    pub name: String,
    /// Monthly requests (None: unlimited).
    pub monthly_requests: Option<i64>,
}

/// What moving a tenant to a plan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChange {
    /// The tenant is on the plan now; its quota this month as the same transaction read it.
    Moved(QuotaState),
    /// No plan has that name; these are the plans there are.
    UnknownPlan {
        /// Every plan's name, sorted.
        known: Vec<String>,
    },
}
