//! Rate limits inside the authorization transaction.
//!
//! An authorization counts against up to three subjects: the API key that asks, the end user
//! whose call it is and the client's IP. Each subject's limits are its plan's, replaced by its
//! own override where one is set (keys and users only). Counts are per UTC minute in
//! `rate_windows`, and a decision weighs the current and the previous minute (see
//! [`tollgate_core::rate`]).
//!
//! Every statement here runs after the batch has locked its tenants' quota rows, and only
//! authorizations write `rate_windows`: two instances deciding for one tenant take turns on
//! that lock, and the second reads what the first committed. So the counts are exact across
//! instances, and the cost is a few statements per batch of authorizations, not a round trip
//! per request: the plan's limits and the batch's overrides are read per tenant, and the counts
//! only of subjects that have a limit (none, and nothing more is read or written).

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::rate::{minute_of, Counts, Limits, Window};

use crate::db::{query, row, Db, Row};
use crate::model::{AuthorizeRequest, PlanRates, RateKind, RateOverride, RateState};
use crate::StoreError;

/// A subject: (tenant, kind, key id / user id / IP).
pub(crate) type RateKey = (String, RateKind, String);

/// The plan's rate limits as columns named as [`RATE_COLUMNS`], with `plans::PLAN_JOINS`
/// (the tenant's own plan, else the default plan).
pub(crate) fn plan_rate_columns() -> String {
    RATE_COLUMNS
        .iter()
        .map(|c| format!("CASE WHEN p.name IS NULL THEN d.{c} ELSE p.{c} END AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A tenant's plan's rate limits: (tenant).
pub(crate) fn plan_rates_sql() -> String {
    format!(
        "SELECT {} FROM tenants t {} WHERE t.id = ?1",
        plan_rate_columns(),
        super::plans::PLAN_JOINS
    )
}

/// The limits of a row holding [`plan_rate_columns`].
pub(crate) fn plan_rates_of(row: &Row) -> Result<PlanRates, StoreError> {
    let mut v = [None; 6];
    for (slot, name) in v.iter_mut().zip(RATE_COLUMNS) {
        *slot = row.get(name)?;
    }
    Ok(plan_rates(v))
}

/// The plan columns of rate limits, in [`plan_rates`] order.
pub(crate) const RATE_COLUMNS: [&str; 6] = [
    "key_rpm", "key_tpm", "user_rpm", "user_tpm", "ip_rpm", "ip_tpm",
];

/// The limits read from [`RATE_COLUMNS`], in their order.
pub(crate) fn plan_rates(v: [Option<i64>; 6]) -> PlanRates {
    PlanRates {
        key: Limits {
            rpm: v[0],
            tpm: v[1],
        },
        user: Limits {
            rpm: v[2],
            tpm: v[3],
        },
        ip: Limits {
            rpm: v[4],
            tpm: v[5],
        },
    }
}

/// One subject's override: (tenant, kind, subject) → rpm, tpm.
pub(crate) const OVERRIDE: &str = "SELECT rpm, tpm FROM rate_limit_overrides \
     WHERE tenant_id = ?1 AND kind = ?2 AND subject = ?3";

/// One subject's counts from a minute on: (tenant, kind, subject, minute).
pub(crate) const COUNTS: &str = "SELECT minute, requests, tokens FROM rate_windows \
     WHERE tenant_id = ?1 AND kind = ?2 AND subject = ?3 AND minute >= ?4";

/// Adds to a subject's minute: (tenant, kind, subject, minute, requests, tokens).
pub(crate) const ADD: &str = "INSERT INTO rate_windows \
     (tenant_id, kind, subject, minute, requests, tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (tenant_id, kind, subject, minute) DO UPDATE SET \
     requests = rate_windows.requests + excluded.requests, \
     tokens = rate_windows.tokens + excluded.tokens";

/// The subjects of one request, in the order they are weighed: key, user, IP.
pub(crate) fn subjects(r: &AuthorizeRequest) -> Vec<RateKey> {
    let mut out = Vec::with_capacity(3);
    let mut add = |kind, subject: Option<&String>| {
        if let Some(s) = subject.filter(|s| !s.is_empty()) {
            out.push((r.tenant_id.clone(), kind, s.clone()));
        }
    };
    add(RateKind::Key, r.rate.key_id.as_ref());
    add(RateKind::User, r.user_id.as_ref());
    add(RateKind::Ip, r.rate.ip.as_ref());
    out
}

/// The subjects a request is weighed against: all, or all but its user when exempt.
fn weighed(r: &AuthorizeRequest, user_exempt: bool) -> Vec<RateKey> {
    let mut all = subjects(r);
    if user_exempt {
        all.retain(|k| k.1 != RateKind::User);
    }
    all
}

/// Every subject of a batch, sorted.
pub(crate) fn batch_subjects(requests: &[AuthorizeRequest]) -> BTreeSet<RateKey> {
    requests.iter().flat_map(subjects).collect()
}

/// The windows of a batch: each subject that has a limit, with its counts as read, and the
/// current minute's counts as read (to write back only what the batch added).
#[derive(Default)]
pub(crate) struct Windows {
    windows: BTreeMap<RateKey, Window>,
    /// What the batch counted, per subject: the minute and the counts to add to its row.
    added: BTreeMap<RateKey, (i64, Counts)>,
    /// The latest minute any row read is of. A batch's clock was read before it waited for
    /// the tenant's lock, so a batch that committed meanwhile may have counted in a later
    /// minute: decisions are made at that minute's start at the earliest, so its counts are
    /// never passed over as "the future".
    latest: i64,
}

impl Windows {
    /// The subjects' limits: the plan's, replaced by each subject's own override. Subjects
    /// without any limit are left out.
    pub(crate) fn limits(
        subjects: &BTreeSet<RateKey>,
        plans: &BTreeMap<String, PlanRates>,
        overrides: &BTreeMap<RateKey, Limits>,
    ) -> BTreeMap<RateKey, Limits> {
        subjects
            .iter()
            .filter_map(|key| {
                let plan = plans.get(&key.0).map(|p| p.of(key.1)).unwrap_or_default();
                let own = overrides.get(key).copied().unwrap_or_default();
                let limits = plan.overridden_by(own);
                limits.any().then(|| (key.clone(), limits))
            })
            .collect()
    }

    /// Adds a subject with its limits and the rows read for it (minute, requests, tokens).
    pub(crate) fn insert(
        &mut self,
        key: RateKey,
        limits: Limits,
        rows: &[(i64, i64, i64)],
        now: i64,
    ) {
        let minute = rows.iter().map(|r| r.0).fold(minute_of(now), i64::max);
        self.latest = self.latest.max(minute);
        let mut window = Window {
            limits,
            minute,
            ..Default::default()
        };
        for &(m, requests, tokens) in rows {
            let counts = Counts { requests, tokens };
            if m == minute {
                window.current = counts;
            } else if m == minute - 1 {
                window.previous = counts;
            }
        }
        self.windows.insert(key, window);
    }

    /// Weighs one request against its subjects' windows (without its user's, when an admin
    /// exempted the user): the states, and whether every limit admits it.
    pub(crate) fn weigh(
        &self,
        r: &AuthorizeRequest,
        now: i64,
        user_exempt: bool,
    ) -> (Vec<RateState>, bool) {
        let now = self.at(now);
        let mut states = Vec::new();
        let mut admitted = true;
        for key in weighed(r, user_exempt) {
            let Some(window) = self.windows.get(&key) else {
                continue;
            };
            let exceeded = window.admits(now, r.rate.tokens).err();
            admitted &= exceeded.is_none();
            states.push(RateState {
                kind: key.1,
                subject: key.2,
                limits: window.limits,
                used: window.used(now),
                exceeded,
            });
        }
        (states, admitted)
    }

    /// Counts an admitted request in its subjects' windows, and in `states` (as weighed).
    pub(crate) fn add(
        &mut self,
        r: &AuthorizeRequest,
        now: i64,
        user_exempt: bool,
        states: &mut [RateState],
    ) {
        let now = self.at(now);
        for key in weighed(r, user_exempt) {
            if let Some(window) = self.windows.get_mut(&key) {
                window.add(now, r.rate.tokens);
                if let Some(s) = states
                    .iter_mut()
                    .find(|s| s.kind == key.1 && s.subject == key.2)
                {
                    s.used = window.used(now);
                }
                let added = self
                    .added
                    .entry(key)
                    .or_insert((minute_of(now), Counts::default()));
                added.1.requests += 1;
                added.1.tokens += r.rate.tokens.max(0);
            }
        }
    }

    /// The instant decisions are made at: `now`, or the start of the latest minute counted.
    fn at(&self, now: i64) -> i64 {
        now.max(self.latest.saturating_mul(tollgate_core::rate::WINDOW_US))
    }

    /// What the batch added to each subject's current minute: (key, minute, requests, tokens).
    pub(crate) fn writes(&self) -> Vec<(RateKey, i64, i64, i64)> {
        self.added
            .iter()
            .map(|(key, (minute, c))| (key.clone(), *minute, c.requests, c.tokens))
            .collect()
    }
}

/// Deletes the counts of minutes no decision weighs any more (before the previous minute).
pub(crate) const PRUNE: &str = "DELETE FROM rate_windows WHERE minute < $1";

/// The first minute [`PRUNE`] keeps at `now`.
pub(crate) fn oldest_kept(now: i64) -> i64 {
    minute_of(now) - 1
}

row! {
    /// An override as [`overrides`] reads it.
    struct OverrideRow {
        kind: String,
        subject: String,
        rpm: Option<i64>,
        tpm: Option<i64>,
        set_by: String,
        updated_us: i64,
    }
}

impl TryFrom<OverrideRow> for RateOverride {
    type Error = StoreError;

    fn try_from(r: OverrideRow) -> Result<RateOverride, StoreError> {
        Ok(RateOverride {
            kind: RateKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Invariant(format!("a rate limit of kind {}", r.kind)))?,
            subject: r.subject,
            limits: Limits {
                rpm: r.rpm,
                tpm: r.tpm,
            },
            set_by: r.set_by,
            updated_us: r.updated_us,
        })
    }
}

/// A tenant's plan's rate limits.
pub(super) async fn tenant_plan_rates(db: &Db, tenant: &str) -> Result<PlanRates, StoreError> {
    let row = query(plan_rates_sql().replace("?1", "$1"))
        .bind(tenant)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::NotFound("tenant".into()))?;
    plan_rates_of(&row)
}

/// A tenant's overrides, by kind and subject.
pub(super) async fn overrides(db: &Db, tenant: &str) -> Result<Vec<RateOverride>, StoreError> {
    query(
        "SELECT kind, subject, rpm, tpm, set_by, updated_us FROM rate_limit_overrides \
         WHERE tenant_id = $1 ORDER BY kind, subject",
    )
    .bind(tenant)
    .fetch_all_as::<OverrideRow>(db)
    .await?
    .into_iter()
    .map(RateOverride::try_from)
    .collect()
}

/// Sets one key's or user's own limits; a key must be the tenant's (NotFound otherwise).
pub(super) async fn set_override(
    db: &Db,
    tenant: &str,
    o: &RateOverride,
) -> Result<(), StoreError> {
    if o.kind == RateKind::Ip {
        return Err(StoreError::Invariant(
            "IP addresses take their plan's limits".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    if o.kind == RateKind::Key {
        let owned = query("SELECT id FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(&o.subject)
            .fetch_optional(&mut tx)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound("API key".into()));
        }
    }
    query(
        "INSERT INTO rate_limit_overrides (tenant_id, kind, subject, rpm, tpm, set_by, updated_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, kind, subject) DO UPDATE \
         SET rpm = excluded.rpm, tpm = excluded.tpm, set_by = excluded.set_by, \
         updated_us = excluded.updated_us",
    )
    .bind(tenant)
    .bind(o.kind.as_str())
    .bind(&o.subject)
    .bind(o.limits.rpm)
    .bind(o.limits.tpm)
    .bind(&o.set_by)
    .bind(o.updated_us)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one key's or user's own limits; false when there were none.
pub(super) async fn delete_override(
    db: &Db,
    tenant: &str,
    kind: RateKind,
    subject: &str,
) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let n = query(
        "DELETE FROM rate_limit_overrides WHERE tenant_id = $1 AND kind = $2 AND subject = $3",
    )
    .bind(tenant)
    .bind(kind.as_str())
    .bind(subject)
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(n > 0)
}
