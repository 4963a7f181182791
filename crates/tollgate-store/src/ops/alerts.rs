//! The alerts a transaction raises: which thresholds it crossed is decided by core's billing
//! rules from the before/after values the billing plans already hold (so a transaction that
//! crosses nothing pays a few comparisons and no I/O); this module names and keys them.
//!
//! An alert's dedupe key names the threshold, its period and the amount it is a percent of;
//! the UNIQUE (tenant, dedupe_key) constraint of `alert_events` makes each fire once per period
//! and amount, whichever instance and transaction crosses it first. A limit or quota changed
//! within a period has new keys, so its thresholds fire again against the new amount. Keys end
//! with the user id, the one free-form part, so no two thresholds can share a key.

use serde_json::json;
use tollgate_core::billing::{crossed, fell_below};
use tollgate_core::time::{day_string, month_string};
use tollgate_core::Nanos;

use crate::webhooks::{EventType, NewAlert, LIMIT_THRESHOLDS, QUOTA_THRESHOLDS};

/// A limit's period: `day` (yyyymmdd) or `month` (yyyymm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Day(i64),
    Month(i64),
}

impl Period {
    fn names(self) -> (&'static str, String) {
        match self {
            Period::Day(d) => ("daily", day_string(d)),
            Period::Month(m) => ("monthly", month_string(m)),
        }
    }
}

/// One account's spend against one limit, before and after a transaction.
pub(crate) struct LimitSpend<'a> {
    pub(crate) tenant_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) currency: &'a str,
    pub(crate) period: Period,
    pub(crate) limit: i64,
    pub(crate) before: i64,
    pub(crate) after: i64,
}

/// `limit.threshold` alerts for every threshold the spend crossed.
pub(crate) fn limit_alerts(s: &LimitSpend<'_>, now: i64, out: &mut Vec<NewAlert>) {
    let (kind, period) = s.period.names();
    for percent in crossed(s.before, s.after, s.limit, &LIMIT_THRESHOLDS) {
        out.push(NewAlert {
            tenant_id: s.tenant_id.to_string(),
            event_type: EventType::LimitThreshold,
            dedupe_key: format!("limit:{kind}:{period}:{}:{percent}:{}", s.limit, s.user_id),
            data: json!({
                "user_id": s.user_id,
                "limit": kind,
                "period": period,
                "threshold_percent": percent,
                "limit_amount": Nanos(s.limit).to_string(),
                "spent": Nanos(s.after).to_string(),
                "currency": s.currency,
            }),
            created_us: now,
        });
    }
}

/// A `balance.low` alert when the balance fell below `low`: at most one per account, currency
/// and UTC day.
#[allow(clippy::too_many_arguments)]
pub(crate) fn balance_alert(
    tenant_id: &str,
    user_id: &str,
    currency: &str,
    day: i64,
    low: i64,
    before: i64,
    after: i64,
    now: i64,
) -> Option<NewAlert> {
    fell_below(before, after, low).then(|| NewAlert {
        tenant_id: tenant_id.to_string(),
        event_type: EventType::BalanceLow,
        dedupe_key: format!("balance:{}:{currency}:{user_id}", day_string(day)),
        data: json!({
            "user_id": user_id,
            "currency": currency,
            "balance": Nanos(after).to_string(),
            "threshold": Nanos(low).to_string(),
        }),
        created_us: now,
    })
}

/// `quota.threshold` alerts for every threshold of the month's quota that `used` requests reach
/// (the scan raises them all; the dedupe key drops those raised before).
pub(crate) fn quota_alerts(
    tenant_id: &str,
    plan: &str,
    month: i64,
    quota: i64,
    used: i64,
    now: i64,
) -> Vec<NewAlert> {
    let month = month_string(month);
    crossed(-1, used, quota, &QUOTA_THRESHOLDS)
        .into_iter()
        .map(|percent| NewAlert {
            tenant_id: tenant_id.to_string(),
            event_type: EventType::QuotaThreshold,
            dedupe_key: format!("quota:{month}:{quota}:{percent}"),
            data: json!({
                "plan": plan,
                "month": month,
                "threshold_percent": percent,
                "monthly_requests": quota,
                "used": used,
            }),
            created_us: now,
        })
        .collect()
}

/// Inserts an alert unless its dedupe key is taken: (tenant, id, type, key, data, created).
pub(crate) const ALERT_INSERT: &str = "INSERT INTO alert_events (tenant_id, id, event_type, \
     dedupe_key, data, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (tenant_id, dedupe_key) DO NOTHING";

/// The values of [`ALERT_INSERT`].
pub(crate) fn alert_args(a: &NewAlert) -> Vec<crate::db::Arg> {
    vec![
        a.tenant_id.clone().into(),
        tollgate_core::ids::new_id(tollgate_core::ids::IdKind::Event).into(),
        a.event_type.as_str().into(),
        a.dedupe_key.clone().into(),
        a.data.to_string().into(),
        a.created_us.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_limit_key_names_the_period_the_amount_and_the_account() {
        let spend = |limit| LimitSpend {
            tenant_id: "t",
            user_id: "u:1",
            currency: "USD",
            period: Period::Day(20_780),
            limit,
            before: 0,
            after: 1_600_000_000,
        };
        let mut out = Vec::new();
        limit_alerts(&spend(1_000_000_000), 0, &mut out);
        assert_eq!(
            out[0].dedupe_key,
            "limit:daily:2026-11-23:1000000000:75:u:1"
        );
        limit_alerts(&spend(2_000_000_000), 0, &mut out);
        assert_eq!(out.len(), 4, "75% of 2, besides 75, 90 and 100% of 1");
        assert_eq!(
            out[3].dedupe_key,
            "limit:daily:2026-11-23:2000000000:75:u:1"
        );
    }

    #[test]
    fn the_balance_falls_below_only_from_at_or_above() {
        assert!(fell_below(100, 99, 100));
        assert!(!fell_below(99, 50, 100));
        assert!(!fell_below(200, 100, 100));
    }

    #[test]
    fn a_quota_scan_raises_every_threshold_already_reached() {
        let keys: Vec<String> = quota_alerts("t", "starter", 202611, 10, 10, 0)
            .into_iter()
            .map(|a| a.dedupe_key)
            .collect();
        assert_eq!(keys, vec!["quota:2026-11:10:80", "quota:2026-11:10:100"]);
        assert!(quota_alerts("t", "starter", 202611, 10, 7, 0).is_empty());
    }

    proptest! {
        /// Splitting spend into steps crosses each threshold exactly once, as one jump does.
        #[test]
        fn thresholds_crossed_step_by_step_are_those_crossed_at_once(
            limit in 1i64..1_000_000,
            steps in proptest::collection::vec(0i64..400_000, 1..20),
        ) {
            let mut at = 0i64;
            let mut seen = Vec::new();
            for s in &steps {
                seen.extend(crossed(at, at + s, limit, &LIMIT_THRESHOLDS));
                at += s;
            }
            prop_assert_eq!(seen, crossed(0, at, limit, &LIMIT_THRESHOLDS));
        }
    }
}
