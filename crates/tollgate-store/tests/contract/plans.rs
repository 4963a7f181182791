//! Plans and the default plan live in the database: every decision reads them there, at that
//! moment; a server's settings change at start only what no operator has set.

use tollgate_core::time::{format_us, month_of, now_us};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AccountDefaults, AuthorizeRequest, Plan, PlanChange, PlanPut, PlanSeed, PlanSource, PlanUpdate,
    Refusal, Seeded, Seeding, Store, StoreError, Tenant,
};

use crate::support::{event, item, tenant};

fn quota_only(t: &Tenant) -> AuthorizeRequest {
    AuthorizeRequest {
        tenant_id: t.id.clone(),
        user_id: None,
        estimate: Nanos::ZERO,
        currency: Currency::usd(),
        hold_until_us: None,
        rate: Default::default(),
    }
}

fn defaults() -> AccountDefaults {
    AccountDefaults {
        is_active: true,
        billing_enabled: false,
        limit_currency: Currency::usd(),
        daily_limit: None,
        monthly_limit: None,
    }
}

fn seed(name: &str, monthly_requests: Option<i64>) -> PlanSeed {
    PlanSeed {
        name: name.into(),
        monthly_requests,
    }
}

/// Sets a plan's quota as an operator; the plan as it is now.
pub(crate) async fn put(s: &dyn Store, name: &str, monthly_requests: Option<i64>) -> Plan {
    let update = PlanUpdate {
        monthly_requests: Some(monthly_requests),
        default: None,
        rates: None,
    };
    match s.put_plan(name, &update).await.expect("put plan") {
        PlanPut::Saved { plan, .. } => plan,
        PlanPut::Missing => panic!("a quota adds the plan"),
    }
}

/// Makes a plan the default, as an operator.
async fn make_default(s: &dyn Store, name: &str) -> PlanPut {
    let update = PlanUpdate {
        monthly_requests: None,
        default: Some(true),
        rates: None,
    };
    s.put_plan(name, &update).await.expect("choose the default")
}

/// The database's plan of that name.
pub(crate) async fn stored(s: &dyn Store, name: &str) -> Option<Plan> {
    let plans = s.list_plans().await.expect("plans");
    plans.into_iter().find(|p| p.name == name)
}

fn done(seeding: Seeding) -> (Vec<Seeded<Option<i64>>>, Option<Seeded<String>>) {
    match seeding {
        Seeding::Done { plans, default } => (plans, default),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_built_in_plans_come_with_the_database() {
    for db in TestDatabase::all().await {
        let plans = db.store.list_plans().await.expect("plans");
        let quotas: Vec<(&str, Option<i64>)> = plans
            .iter()
            .map(|p| (p.name.as_str(), p.monthly_requests))
            .collect();
        assert_eq!(
            quotas,
            vec![
                ("growth", Some(5000)),
                ("pro", None),
                ("starter", Some(500))
            ],
            "{}",
            db.engine
        );
        assert!(plans.iter().all(|p| p.source == PlanSource::Builtin));
        let defaults: Vec<&str> = plans
            .iter()
            .filter(|p| p.default)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(defaults, ["starter"], "{}", db.engine);
    }
}

#[tokio::test]
async fn a_changed_quota_decides_the_very_next_authorization() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let now = now_us();
        put(s, "tiny", Some(2)).await;
        let moved = s
            .set_plan(&t.id, Some("tiny"), month_of(now))
            .await
            .expect("move");
        let PlanChange::Moved(q) = moved else {
            panic!("{}: {moved:?}", db.engine)
        };
        assert_eq!((q.plan.as_str(), q.limit, q.used), ("tiny", Some(2), 0));
        let ts = format_us(now);
        s.append_usage(&[
            item(event(&t, "gpt-4o", 1, 1, 1, &ts)),
            item(event(&t, "gpt-4o", 1, 1, 1, &ts)),
        ])
        .await
        .expect("append");
        let decide = || async {
            s.authorize(&[quota_only(&t)], &defaults(), now)
                .await
                .expect("authorize")
                .remove(0)
        };
        assert_eq!(decide().await.refusal, Some(Refusal::QuotaExceeded));
        let changed = put(s, "tiny", Some(3)).await;
        assert_eq!((changed.monthly_requests, changed.tenants), (Some(3), 1));
        let d = decide().await;
        assert_eq!((d.refusal, d.quota.limit), (None, Some(3)), "{}", db.engine);
        put(s, "tiny", None).await;
        assert_eq!(decide().await.quota.limit, None);
        let q = s
            .quota(&t.id, month_of(now))
            .await
            .expect("quota")
            .expect("tenant");
        assert_eq!((q.plan.as_str(), q.limit, q.used), ("tiny", None, 2));
    }
}

#[tokio::test]
async fn a_default_chosen_by_an_operator_decides_the_next_authorization_of_a_tenant_with_no_plan() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let now = now_us();
        let update = PlanUpdate {
            monthly_requests: Some(Some(0)),
            default: Some(true),
            rates: None,
        };
        let PlanPut::Saved { plan, added } = s.put_plan("closed", &update).await.expect("put")
        else {
            panic!("a quota adds the plan")
        };
        assert!(added && plan.default, "{plan:?}");
        let decide = || async {
            s.authorize(&[quota_only(&t)], &defaults(), now)
                .await
                .expect("authorize")
                .remove(0)
        };
        let d = decide().await;
        assert_eq!(
            (d.refusal, d.quota.plan.as_str()),
            (Some(Refusal::QuotaExceeded), "closed"),
            "{}",
            db.engine
        );
        make_default(s, "pro").await;
        let d = decide().await;
        assert_eq!((d.refusal, d.quota.plan.as_str()), (None, "pro"));
        let closed = stored(s, "closed").await.expect("closed");
        assert!(!closed.default);
        assert_eq!(closed.monthly_requests, Some(0), "its quota stays");
    }
}

#[tokio::test]
async fn a_plan_a_tenant_is_on_or_the_default_plan_cannot_be_deleted() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        put(s, "tiny", Some(5)).await;
        s.set_plan(&t.id, Some("tiny"), month_of(now_us()))
            .await
            .expect("move");
        match s.delete_plan("tiny").await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("1 tenant is on it"), "{m}"),
            other => panic!("{}: {other:?}", db.engine),
        }
        match s.delete_plan("starter").await {
            Err(StoreError::Conflict(m)) => {
                assert!(m.contains("'starter' is the default plan"), "{m}");
                assert!(m.contains("tollgate plans default NAME"), "{m}");
            }
            other => panic!("{}: {other:?}", db.engine),
        }
        s.set_plan(&t.id, None, month_of(now_us()))
            .await
            .expect("back to the default");
        assert!(s.delete_plan("tiny").await.expect("delete"));
        assert!(!s.delete_plan("tiny").await.expect("again"));
        assert!(stored(s, "tiny").await.is_none());

        // The default moves with the database's choice, not with anyone's settings.
        make_default(s, "growth").await;
        assert!(s
            .delete_plan("starter")
            .await
            .expect("no longer the default"));
        assert!(matches!(
            s.delete_plan("growth").await,
            Err(StoreError::Conflict(_))
        ));
        let update = PlanUpdate {
            monthly_requests: None,
            default: Some(false),
            rates: None,
        };
        assert!(matches!(
            s.put_plan("growth", &update).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(stored(s, "growth").await.expect("growth").default);
    }
}

#[tokio::test]
async fn seeding_adds_and_sets_plans_but_never_one_an_operator_set() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        put(s, "team", Some(100)).await;
        let seeds = [
            seed("team", Some(999)),
            seed("starter", Some(1)),
            seed("growth", Some(5000)),
            seed("new", None),
        ];
        let (plans, default) = done(s.seed_plans(&seeds, None).await.expect("seed"));
        assert_eq!(
            plans,
            vec![
                Seeded::Kept { stored: Some(100) },
                Seeded::Applied { was: Some(500) },
                Seeded::Unchanged,
                Seeded::Added,
            ],
            "{}",
            db.engine
        );
        assert_eq!(default, None);
        let seen: Vec<(String, Option<i64>, PlanSource)> = s
            .list_plans()
            .await
            .expect("plans")
            .into_iter()
            .map(|p| (p.name, p.monthly_requests, p.source))
            .collect();
        let row = |n: &str, q, src| (n.to_string(), q, src);
        assert_eq!(
            seen,
            vec![
                row("growth", Some(5000), PlanSource::Settings),
                row("new", None, PlanSource::Settings),
                row("pro", None, PlanSource::Builtin),
                row("starter", Some(1), PlanSource::Settings),
                row("team", Some(100), PlanSource::Operator),
            ],
            "{}",
            db.engine
        );

        // A later start with other settings: what the settings set follows them.
        let later = [seed("starter", Some(2)), seed("team", Some(100))];
        let (plans, _) = done(s.seed_plans(&later, None).await.expect("again"));
        assert_eq!(
            plans,
            vec![Seeded::Applied { was: Some(1) }, Seeded::Unchanged]
        );
        // Once an operator sets it, it is the operator's.
        put(s, "starter", Some(3)).await;
        let (plans, _) = done(
            s.seed_plans(&[seed("starter", Some(2))], None)
                .await
                .expect("later"),
        );
        assert_eq!(plans, vec![Seeded::Kept { stored: Some(3) }]);
        let starter = stored(s, "starter").await.expect("starter");
        assert_eq!(
            (starter.monthly_requests, starter.source),
            (Some(3), PlanSource::Operator),
            "{}",
            db.engine
        );
    }
}

/// Migration 20261123000002 is the last before plans were in the database.
const BEFORE_PLANS: i64 = 20261123000002;

#[tokio::test]
async fn after_the_upgrade_the_settings_set_a_built_in_plan_at_the_first_start() {
    // A tenant on the default plan (no plan set), as the previous version stored it.
    let sql = "INSERT INTO tenants (id, name, created_us, log_size) \
               VALUES ('tnt_old', 'default', 1000000, 0);";
    for db in TestDatabase::all_upgraded(BEFORE_PLANS, sql).await {
        let s = &*db.store;
        let month = month_of(now_us());
        let seeds = [seed("starter", Some(10_000))];
        let (plans, default) = done(s.seed_plans(&seeds, Some("starter")).await.expect("seed"));
        assert_eq!(plans, vec![Seeded::Applied { was: Some(500) }]);
        assert_eq!(default, Some(Seeded::Unchanged));
        let q = s
            .quota("tnt_old", month)
            .await
            .expect("quota")
            .expect("tenant");
        assert_eq!(
            (q.plan.as_str(), q.limit),
            ("starter", Some(10_000)),
            "{}: the quota the deployment had before the upgrade",
            db.engine
        );
    }
}

#[tokio::test]
async fn the_default_plan_follows_the_settings_until_an_operator_chooses_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let month = month_of(now_us());
        let plan_of = || async { s.quota(&t.id, month).await.expect("quota").expect("tenant") };
        assert_eq!(plan_of().await.plan, "starter");

        let (_, default) = done(s.seed_plans(&[], Some("growth")).await.expect("seed"));
        let was = |name: &str| Some(Seeded::Applied { was: name.into() });
        assert_eq!(default, was("starter"));
        assert_eq!(plan_of().await.plan, "growth");
        let (_, default) = done(s.seed_plans(&[], Some("pro")).await.expect("seed"));
        assert_eq!(default, was("growth"));
        let q = plan_of().await;
        assert_eq!((q.plan.as_str(), q.limit), ("pro", None), "{}", db.engine);

        let PlanPut::Saved { plan, added } = make_default(s, "growth").await else {
            panic!("growth exists")
        };
        assert!(plan.default && !added);
        assert_eq!(plan_of().await.plan, "growth", "{}", db.engine);
        let (_, default) = done(s.seed_plans(&[], Some("pro")).await.expect("seed"));
        let kept = Some(Seeded::Kept {
            stored: "growth".into(),
        });
        assert_eq!(default, kept);
        assert_eq!(
            plan_of().await.plan,
            "growth",
            "{}: the operator's",
            db.engine
        );

        assert_eq!(make_default(s, "platinum").await, PlanPut::Missing);
        match s
            .seed_plans(&[seed("tiny", Some(1))], Some("platinum"))
            .await
        {
            Ok(Seeding::UnknownDefault { known }) => {
                assert_eq!(known, ["growth", "pro", "starter", "tiny"]);
            }
            other => panic!("{}: {other:?}", db.engine),
        }
        assert!(
            stored(s, "tiny").await.is_none(),
            "{}: nothing is written when the default is not a plan",
            db.engine
        );
    }
}

#[tokio::test]
async fn moving_a_tenant_to_a_plan_there_is_not_names_the_plans_there_are() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let month = month_of(now_us());
        let answer = s
            .set_plan(&t.id, Some("platinum"), month)
            .await
            .expect("answer");
        assert_eq!(
            answer,
            PlanChange::UnknownPlan {
                known: vec!["growth".into(), "pro".into(), "starter".into()]
            }
        );
        let q = s.quota(&t.id, month).await.expect("quota").expect("tenant");
        assert_eq!(q.plan, "starter", "{}: nothing changed", db.engine);
        assert!(matches!(
            s.set_plan("tnt_nobody", Some("pro"), month).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.quota("tnt_nobody", month).await.expect("q"), None);
    }
}
