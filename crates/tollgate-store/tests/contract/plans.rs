//! Plans live in the database: every decision reads the plan there, at that moment.

use tollgate_core::time::{format_us, month_of, now_us};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AccountDefaults, AuthorizeRequest, PlanChange, PlanSeed, Refusal, StoreError, Tenant,
};

use crate::support::{event, item, tenant};

fn quota_only(t: &Tenant) -> AuthorizeRequest {
    AuthorizeRequest {
        tenant_id: t.id.clone(),
        user_id: None,
        estimate: Nanos::ZERO,
        currency: Currency::usd(),
        hold_until_us: None,
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
    }
}

#[tokio::test]
async fn a_changed_quota_decides_the_very_next_authorization() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let now = now_us();
        s.put_plan("tiny", Some(2)).await.expect("plan");
        let moved = s
            .set_plan(&t.id, Some("tiny"), "starter", month_of(now))
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
            s.authorize(&[quota_only(&t)], "starter", &defaults(), now)
                .await
                .expect("authorize")
                .remove(0)
        };
        assert_eq!(decide().await.refusal, Some(Refusal::QuotaExceeded));
        let (changed, new) = s.put_plan("tiny", Some(3)).await.expect("raise");
        assert!(!new);
        assert_eq!((changed.monthly_requests, changed.tenants), (Some(3), 1));
        let d = decide().await;
        assert_eq!((d.refusal, d.quota.limit), (None, Some(3)), "{}", db.engine);
        s.put_plan("tiny", None).await.expect("unlimited");
        assert_eq!(decide().await.quota.limit, None);
        let q = s
            .quota(&t.id, "starter", month_of(now))
            .await
            .expect("quota")
            .expect("tenant");
        assert_eq!((q.plan.as_str(), q.limit, q.used), ("tiny", None, 2));
    }
}

#[tokio::test]
async fn seeding_adds_missing_plans_and_never_changes_one_the_database_has() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        s.put_plan("team", Some(100)).await.expect("plan");
        let seen = s
            .seed_plans(&[
                seed("team", Some(999)),
                seed("starter", Some(1)),
                seed("new", None),
            ])
            .await
            .expect("seed");
        let quotas: Vec<(&str, Option<i64>)> = seen
            .iter()
            .map(|p| (p.name.as_str(), p.monthly_requests))
            .collect();
        assert_eq!(
            quotas,
            vec![("team", Some(100)), ("starter", Some(500)), ("new", None)],
            "{}: the database's plans, as they are",
            db.engine
        );
        let names: Vec<String> = s
            .list_plans()
            .await
            .expect("plans")
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["growth", "new", "pro", "starter", "team"]);
    }
}

#[tokio::test]
async fn a_plan_a_tenant_is_on_or_the_default_plan_cannot_be_deleted() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        s.put_plan("tiny", Some(5)).await.expect("plan");
        s.set_plan(&t.id, Some("tiny"), "starter", month_of(now_us()))
            .await
            .expect("move");
        match s.delete_plan("tiny", "starter").await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("1 tenant is on it"), "{m}"),
            other => panic!("{}: {other:?}", db.engine),
        }
        match s.delete_plan("starter", "starter").await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("default plan"), "{m}"),
            other => panic!("{}: {other:?}", db.engine),
        }
        s.set_plan(&t.id, None, "starter", month_of(now_us()))
            .await
            .expect("back to the default");
        assert!(s.delete_plan("tiny", "starter").await.expect("delete"));
        assert!(!s.delete_plan("tiny", "starter").await.expect("again"));
        assert!(s
            .list_plans()
            .await
            .expect("plans")
            .iter()
            .all(|p| p.name != "tiny"));
    }
}

#[tokio::test]
async fn moving_a_tenant_to_a_plan_there_is_not_names_the_plans_there_are() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let month = month_of(now_us());
        let answer = s
            .set_plan(&t.id, Some("platinum"), "starter", month)
            .await
            .expect("answer");
        assert_eq!(
            answer,
            PlanChange::UnknownPlan {
                known: vec!["growth".into(), "pro".into(), "starter".into()]
            }
        );
        let q = s
            .quota(&t.id, "starter", month)
            .await
            .expect("quota")
            .expect("tenant");
        assert_eq!(q.plan, "starter", "{}: nothing changed", db.engine);
        assert!(matches!(
            s.set_plan("tnt_nobody", Some("pro"), "starter", month)
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.quota("tnt_nobody", "starter", month).await.expect("q"),
            None
        );
    }
}
