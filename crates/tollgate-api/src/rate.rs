//! The rate-limits wire: a plan's requests and tokens per minute for each key, user and
//! client IP of its tenants; a key's or a user's own limits (`/api/v1/rate-limits`); and a
//! limit as `authorize` weighed it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RateScope {
    /// The API key that asks.
    Key,
    /// The end user whose call it is.
    User,
    /// The client's IP address.
    Ip,
}

/// Requests and tokens per minute; null: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerMinute {
    /// Calls per minute; null or absent: none.
    #[serde(default)]
    #[schema(required = true, example = 600)]
    pub requests_per_minute: Option<i64>,
    /// Tokens per minute (the tokens `authorize` is told to expect); null or absent: none.
    #[serde(default)]
    #[schema(required = true, example = 200000)]
    pub tokens_per_minute: Option<i64>,
}

/// A plan's rate limits: those of each API key, each end user and each client IP of its
/// tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRateLimits {
    /// Each API key's.
    #[serde(default)]
    pub key: PerMinute,
    /// Each end user's.
    #[serde(default)]
    pub user: PerMinute,
    /// Each client IP's.
    #[serde(default)]
    pub ip: PerMinute,
}

/// A key's or a user's own limits, in place of its plan's where set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateOverride {
    /// `key` or `user`.
    pub scope: RateScope,
    /// The key id or the user id.
    pub subject: String,
    /// Its own calls per minute; null: the plan's.
    #[schema(required = true)]
    pub requests_per_minute: Option<i64>,
    /// Its own tokens per minute; null: the plan's.
    #[schema(required = true)]
    pub tokens_per_minute: Option<i64>,
    /// Who set them: the id of the key that did.
    pub set_by: String,
    /// When.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `GET /api/v1/rate-limits`: the tenant's plan's limits and its keys' and users' own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimits {
    /// The tenant's plan.
    pub plan: String,
    /// Its limits.
    pub plan_limits: PlanRateLimits,
    /// Keys' and users' own limits, by scope and subject.
    pub overrides: Vec<RateOverride>,
}

/// A rate limit as a decision weighed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimitState {
    /// Which limit this call would pass (`requests` or `tokens`); null: it passes none.
    #[schema(required = true, example = "requests")]
    pub exceeded: Option<String>,
    /// Calls per minute allowed; null: no limit.
    #[schema(required = true)]
    pub requests_per_minute: Option<i64>,
    /// Calls left now (never below zero); null: no limit.
    #[schema(required = true)]
    pub requests_remaining: Option<i64>,
    /// Calls counted in the sliding minute (after this one, when allowed).
    pub requests_used: i64,
    /// Seconds until this call would be admitted, when it was refused for this limit; null
    /// otherwise, or when it never would be (it alone passes the limit).
    #[schema(required = true)]
    pub retry_after_seconds: Option<i64>,
    /// Who the limit counts.
    pub scope: RateScope,
    /// The key id, user id or IP address.
    pub subject: String,
    /// Tokens per minute allowed; null: no limit.
    #[schema(required = true)]
    pub tokens_per_minute: Option<i64>,
    /// Tokens left now (never below zero); null: no limit.
    #[schema(required = true)]
    pub tokens_remaining: Option<i64>,
    /// Tokens counted in the sliding minute.
    pub tokens_used: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_body_may_leave_out_what_it_does_not_limit() {
        let limits: PlanRateLimits =
            serde_json::from_str(r#"{"user": {"requests_per_minute": 60}}"#).expect("a body");
        assert_eq!(limits.user.requests_per_minute, Some(60));
        assert_eq!(limits.user.tokens_per_minute, None);
        assert_eq!(limits.key, PerMinute::default());
        let unknown = serde_json::from_str::<PlanRateLimits>(r#"{"users": {}}"#);
        assert!(unknown.is_err(), "an unknown member is refused");
    }
}
