//! Plans: the values of the plan operations that cross the [`Store`](crate::Store) boundary,
//! and the rule by which a server's settings change the database's plans at start.
//!
//! Plans and the choice of the default plan live in the database (`plans`,
//! `deployment_settings`), managed by operators; no process keeps a copy, so every instance
//! reads the same answer at the next request.

use crate::model::{PlanRates, QuotaState};

/// Who set a plan's values, or the default plan's choice, last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// The migration that made the table; nobody has changed it since.
    Builtin,
    /// A server's settings (`billing.plans`, `billing.default_plan`) at its start.
    Settings,
    /// An operator, through `tollgate plans` or `/api/v1/plans`.
    Operator,
}

impl PlanSource {
    /// Its name in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanSource::Builtin => "builtin",
            PlanSource::Settings => "settings",
            PlanSource::Operator => "operator",
        }
    }

    /// The source a stored name stands for.
    pub fn parse(text: &str) -> Option<PlanSource> {
        match text {
            "builtin" => Some(PlanSource::Builtin),
            "settings" => Some(PlanSource::Settings),
            "operator" => Some(PlanSource::Operator),
            _ => None,
        }
    }
}

/// A plan: a name and its monthly request quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Unique name.
    pub name: String,
    /// Requests a tenant on the plan may make each UTC calendar month (None: unlimited).
    pub monthly_requests: Option<i64>,
    /// Whether it is the default plan: the plan of every tenant with none set.
    pub default: bool,
    /// Who set its quota last.
    pub source: PlanSource,
    /// Tenants whose plan is set to this one (tenants with none set are on the default plan
    /// and not counted here).
    pub tenants: i64,
    /// When it was added.
    pub created_us: i64,
    /// When its quota last changed.
    pub updated_us: i64,
    /// The requests and tokens per minute of each key, user and client IP of its tenants.
    pub rates: PlanRates,
}

/// What an operator changes on a plan (`put_plan`). Whatever it changes is then the
/// operator's: a server's settings never change it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanUpdate {
    /// The quota (`Some(None)`: unlimited); None leaves it as it is, and then the plan must
    /// exist.
    pub monthly_requests: Option<Option<i64>>,
    /// `Some(true)`: make it the default plan. `Some(false)`: it must not be the default (a
    /// conflict when it is: the default is changed by choosing another). None: leave the
    /// default as it is.
    pub default: Option<bool>,
    /// The rate limits, all six at once (None: leave them as they are).
    pub rates: Option<PlanRates>,
}

/// What `put_plan` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanPut {
    /// The plan as it is now, and whether it was added.
    Saved {
        /// The plan.
        plan: Plan,
        /// Whether it is new.
        added: bool,
    },
    /// There is no plan by that name and no quota to add it with; nothing was written.
    Missing,
}

/// A plan and its quota, as the settings (`billing.plans`) would add it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSeed {
    /// Name.
    pub name: String,
    /// Monthly requests (None: unlimited).
    pub monthly_requests: Option<i64>,
}

/// What a server's settings did at start to one value of the database (a plan's quota, or
/// the choice of the default plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded<T> {
    /// The database had no such plan: added.
    Added,
    /// The database's value was the migration's or the settings' (no operator's): the
    /// settings' value replaced `was`.
    Applied {
        /// The value before.
        was: T,
    },
    /// The database already had the settings' value.
    Unchanged,
    /// An operator set `stored`, which the settings never change: it stays.
    Kept {
        /// The database's value, which applies.
        stored: T,
    },
}

/// What seeding at start did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeding {
    /// Committed.
    Done {
        /// One per seed, in the order given.
        plans: Vec<Seeded<Option<i64>>>,
        /// The default plan's choice, when the settings name one.
        default: Option<Seeded<String>>,
    },
    /// The settings name a default plan that is not a plan, even with the seeds added:
    /// nothing was written.
    UnknownDefault {
        /// Every plan's name, sorted.
        known: Vec<String>,
    },
}

/// The rule: what the settings' `wanted` value does to the database's `stored` value that
/// `source` set, and whether to write it (marking it the settings'). An operator's value is
/// never changed; any other follows the settings. A built-in value the settings repeat is
/// still marked the settings', so that it follows them from then on.
pub(crate) fn seed_rule<T: Clone + PartialEq>(
    stored: &T,
    source: PlanSource,
    wanted: &T,
) -> (Seeded<T>, bool) {
    let same = stored == wanted;
    match source {
        PlanSource::Operator if same => (Seeded::Unchanged, false),
        PlanSource::Operator => (
            Seeded::Kept {
                stored: stored.clone(),
            },
            false,
        ),
        PlanSource::Settings if same => (Seeded::Unchanged, false),
        PlanSource::Builtin if same => (Seeded::Unchanged, true),
        PlanSource::Settings | PlanSource::Builtin => (
            Seeded::Applied {
                was: stored.clone(),
            },
            true,
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_value_is_never_changed_by_the_settings() {
        assert_eq!(
            seed_rule(&Some(7), PlanSource::Operator, &Some(9)),
            (Seeded::Kept { stored: Some(7) }, false)
        );
        assert_eq!(
            seed_rule(&None::<i64>, PlanSource::Operator, &None),
            (Seeded::Unchanged, false)
        );
    }

    #[test]
    fn a_built_in_or_settings_value_follows_the_settings() {
        for source in [PlanSource::Builtin, PlanSource::Settings] {
            assert_eq!(
                seed_rule(&Some(500), source, &Some(10_000)),
                (Seeded::Applied { was: Some(500) }, true)
            );
        }
        assert_eq!(
            seed_rule(&Some(500), PlanSource::Settings, &Some(500)),
            (Seeded::Unchanged, false)
        );
        assert_eq!(
            seed_rule(&Some(500), PlanSource::Builtin, &Some(500)),
            (Seeded::Unchanged, true),
            "marked the settings' from now on"
        );
    }

    #[test]
    fn every_source_reads_back_from_its_name() {
        for s in [
            PlanSource::Builtin,
            PlanSource::Settings,
            PlanSource::Operator,
        ] {
            assert_eq!(PlanSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(PlanSource::parse("config"), None);
    }
}
