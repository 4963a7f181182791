//! Billing transactions running at once on one store: authorizations placing holds while
//! calls settle others, releases, expiry and top-ups, across users and tenants. On PostgreSQL
//! they lock rows of one database from many connections; the store's lock order must keep
//! them from ever deadlocking (a deadlock would show as a retry), and the ledger must add up.
//! And instances starting at once, each applying its settings' plans beside an operator.

use std::sync::Arc;

use serde_json::Map;
use tollgate_core::time::{format_us, now_us};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AccountDefaults, AuthorizeRequest, Charge, LedgerKind, NewCredit, PlanPut, PlanSeed,
    PlanSource, PlanUpdate, Seeded, Seeding, Store, StoreError, Tenant,
};

use crate::support::{event, item, tenant};

fn defaults() -> AccountDefaults {
    AccountDefaults {
        is_active: true,
        billing_enabled: true,
        limit_currency: Currency::usd(),
        daily_limit: None,
        monthly_limit: None,
    }
}

fn top_up(t: &Tenant, user: &str, dollars: i64) -> NewCredit {
    NewCredit {
        tenant_id: t.id.clone(),
        user_id: user.into(),
        kind: LedgerKind::Topup,
        amount: Nanos(dollars * 1_000_000_000),
        delta: Nanos(dollars * 1_000_000_000),
        currency: Currency::usd(),
        description: None,
        payment_provider: None,
        payment_id: None,
        log_id: None,
        metadata: Map::new(),
        idempotency_key: None,
        request_hash: String::new(),
        balance_low: None,
    }
}

/// An unlimited default plan, and $1,000 on each of users u0-u2 of every tenant.
async fn fund(s: &dyn Store, tenants: &[Tenant]) {
    let unlimited = PlanUpdate {
        monthly_requests: None,
        default: Some(true),
        rates: None,
    };
    s.put_plan("pro", &unlimited).await.expect("default plan");
    for t in tenants {
        for u in 0..3 {
            s.post_credit(&top_up(t, &format!("u{u}"), 1_000), &defaults())
                .await
                .expect("fund");
        }
    }
}

/// Expires what holds are left, then checks that every hold is closed and the ledger adds up.
async fn closed_and_adding_up(s: &dyn Store, engine: &str) {
    s.expire_holds(now_us() + 120_000_000, 10_000)
        .await
        .expect("expire");
    assert_eq!(s.open_holds().await.expect("open holds"), 0, "{engine}");
    let audit = s.audit().await.expect("audit");
    assert!(audit.findings.is_empty(), "{engine}: {:?}", audit.findings);
}

/// One client: hold, call (settling the hold) or give the hold back, now and then a top-up.
async fn client(s: Arc<dyn Store>, tenants: Vec<Tenant>, n: usize, rounds: usize) {
    for round in 0..rounds {
        let t = &tenants[(n + round) % tenants.len()];
        let user = format!("u{}", (n * 7 + round) % 3);
        let ask = AuthorizeRequest {
            tenant_id: t.id.clone(),
            user_id: Some(user.clone()),
            estimate: Nanos(10_000_000),
            currency: Currency::usd(),
            hold_until_us: Some(now_us() + if round % 5 == 0 { 0 } else { 60_000_000 }),
            rate: Default::default(),
        };
        let d = s
            .authorize(&[ask], &defaults(), now_us())
            .await
            .expect("authorize")
            .remove(0);
        let Some(hold) = d.hold_id else {
            panic!("a funded account was refused: {:?}", d.refusal);
        };
        match round % 4 {
            0 | 1 => {
                let mut e = event(t, "gpt-4o", 10, 5, 7_000_000, &format_us(now_us()));
                e.user_id = Some(user.clone());
                let mut i = item(e);
                i.charge = Some(Charge {
                    hold_id: Some(hold),
                    defaults: Arc::new(defaults()),
                    balance_low: None,
                });
                s.append_usage(&[i]).await.expect("settle");
            }
            2 => {
                s.release_hold(&t.id, &hold, now_us())
                    .await
                    .expect("release");
            }
            _ => {
                s.expire_holds(now_us(), 100).await.expect("expire");
                s.post_credit(&top_up(t, &user, 1), &defaults())
                    .await
                    .expect("top-up");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_placed_while_others_settle_never_deadlock_and_the_ledger_adds_up() {
    for db in TestDatabase::all().await {
        let s = db.store.clone();
        let tenants = vec![tenant(&*s, "a").await, tenant(&*s, "b").await];
        fund(&*s, &tenants).await;
        let before = s.contention_retries();
        let clients: Vec<_> = (0..16)
            .map(|n| tokio::spawn(client(s.clone(), tenants.clone(), n, 40)))
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        assert_eq!(
            s.contention_retries() - before,
            0,
            "{}: transactions deadlocked and had to be run again",
            db.engine
        );
        closed_and_adding_up(&*s, db.engine).await;
    }
}

/// One client charging calls with no hold to `users` of `tenants` in turn, on its own store;
/// answers how many it charged to each (tenant, user).
async fn charger(
    s: Arc<dyn Store>,
    tenants: Vec<Tenant>,
    n: usize,
    rounds: usize,
) -> std::collections::BTreeMap<(String, String), i64> {
    let mut charged = std::collections::BTreeMap::new();
    for round in 0..rounds {
        let t = &tenants[(n + round) % tenants.len()];
        // One call or two, to one user or two of the three.
        let users: Vec<String> = (0..1 + (n + round) % 2)
            .map(|k| format!("u{}", (n + round + k) % 3))
            .collect();
        let calls: Vec<_> = users
            .iter()
            .map(|u| {
                let mut e = event(t, "gpt-4o", 10, 5, 3_000_000, &format_us(now_us()));
                e.user_id = Some(u.clone());
                let mut i = item(e);
                i.charge = Some(Charge {
                    hold_id: None,
                    defaults: Arc::new(defaults()),
                    balance_low: None,
                });
                i
            })
            .collect();
        s.append_usage(&calls).await.expect("charge");
        for u in users {
            *charged.entry((t.id.clone(), u)).or_default() += 1;
        }
    }
    charged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn charges_from_two_instances_beside_holds_and_top_ups_come_out_exact() {
    for db in TestDatabase::all().await {
        let other = db.another().await;
        let s = db.store.clone();
        let mut tenants = Vec::new();
        for name in ["a", "b", "c", "d"] {
            tenants.push(tenant(&*s, name).await);
        }
        fund(&*s, &tenants).await;
        let before = s.contention_retries() + other.store.contention_retries();
        // Each instance charges from the books it last saw, while holds, settlements,
        // releases and top-ups change them (often without moving the log head), and two
        // chargers share each tenant, one on each instance.
        let chargers: Vec<_> = (0..8)
            .map(|n| {
                let store = if n % 2 == 0 {
                    s.clone()
                } else {
                    other.store.clone()
                };
                tokio::spawn(charger(store, vec![tenants[n / 2].clone()], n, 30))
            })
            .collect();
        let clients: Vec<_> = (0..4)
            .map(|n| tokio::spawn(client(s.clone(), tenants.clone(), n, 20)))
            .collect();
        let mut charged = std::collections::BTreeMap::<(String, String), i64>::new();
        for c in chargers {
            for (k, n) in c.await.expect("charger") {
                *charged.entry(k).or_default() += n;
            }
        }
        for c in clients {
            c.await.expect("client");
        }
        assert_eq!(
            s.contention_retries() + other.store.contention_retries() - before,
            0,
            "{}: transactions deadlocked and had to be run again",
            db.engine
        );
        closed_and_adding_up(&*s, db.engine).await;
        for ((tenant_id, user), n) in charged {
            let a = s
                .account(&tenant_id, &user)
                .await
                .expect("account")
                .expect("charged");
            let ledger_charges = s
                .ledger(
                    &tenant_id,
                    &user,
                    &tollgate_store::LedgerFilter {
                        kind: Some(LedgerKind::Charge),
                        ..Default::default()
                    },
                    10_000,
                    0,
                )
                .await
                .expect("ledger")
                .0;
            // The hold clients' calls are charged to the same accounts: 7 mUSD each.
            let held_calls = ledger_charges
                .iter()
                .filter(|e| e.hold_id.is_some())
                .count() as i64;
            assert_eq!(
                ledger_charges.len() as i64,
                n + held_calls,
                "{}: every call charged once",
                db.engine
            );
            assert_eq!(a.total_requests, n + held_calls, "{}", db.engine);
            let spent = n * 3_000_000 + held_calls * 7_000_000;
            assert_eq!(a.today[0].spent, Nanos(spent), "{}", db.engine);
            assert_eq!(a.balances[0].spent, Nanos(spent), "{}", db.engine);
        }
    }
}

#[tokio::test]
async fn a_value_postgresql_cannot_store_is_rejected_not_unavailable() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let found = db.store.find_tenant("ac\0me").await;
    assert!(matches!(found, Err(StoreError::Rejected(_))), "{found:?}");
}

/// One instance's start: its settings' plans and default plan.
async fn start_up(s: Arc<dyn Store>, n: i64) -> Seeding {
    let seeds = [
        PlanSeed {
            name: "new".into(),
            monthly_requests: Some(n),
        },
        PlanSeed {
            name: "starter".into(),
            monthly_requests: Some(1_000 + n),
        },
    ];
    let default = if n % 2 == 0 { "growth" } else { "new" };
    s.seed_plans(&seeds, Some(default)).await.expect("seed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_each_apply_their_settings_and_never_undo_an_operator() {
    for db in TestDatabase::all().await {
        // Every instance with a pool of its own, as separate processes have.
        let mut others = Vec::new();
        for _ in 0..7 {
            others.push(db.another().await);
        }
        let operator = others[6].store.clone();
        let mut starts: Vec<_> = others[..6]
            .iter()
            .zip(0..)
            .map(|(o, n)| tokio::spawn(start_up(o.store.clone(), n)))
            .collect();
        let chooses = tokio::spawn(async move {
            let update = PlanUpdate {
                monthly_requests: Some(Some(7)),
                default: Some(true),
                rates: None,
            };
            operator.put_plan("starter", &update).await
        });
        let mut added = 0;
        for start in starts.drain(..) {
            match start.await.expect("start") {
                Seeding::Done { plans, .. } => {
                    added += usize::from(plans[0] == Seeded::Added);
                }
                other => panic!("{}: {other:?}", db.engine),
            }
        }
        assert!(matches!(
            chooses.await.expect("operator"),
            Ok(PlanPut::Saved { .. })
        ));
        assert_eq!(added, 1, "{}: one start added the plan", db.engine);
        let plans = db.store.list_plans().await.expect("plans");
        let starter = plans.iter().find(|p| p.name == "starter").expect("starter");
        assert_eq!(
            (starter.monthly_requests, starter.source, starter.default),
            (Some(7), PlanSource::Operator, true),
            "{}: the operator's change stands, whichever start ran last",
            db.engine
        );
        let new = plans.iter().find(|p| p.name == "new").expect("new");
        assert_eq!(new.source, PlanSource::Settings);
        assert!((0..6).any(|n| new.monthly_requests == Some(n)), "{new:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quota_is_never_overshot_while_holds_are_placed_settled_and_released_at_once() {
    const QUOTA: i64 = 40;
    for db in TestDatabase::all().await {
        let s = db.store.clone();
        let t = tenant(&*s, "q").await;
        s.put_plan(
            "forty",
            &PlanUpdate {
                monthly_requests: Some(Some(QUOTA)),
                default: None,
                rates: None,
            },
        )
        .await
        .expect("plan");
        let month = tollgate_core::time::month_of(now_us());
        s.set_plan(&t.id, Some("forty"), month).await.expect("set");
        let clients: Vec<_> = (0..12)
            .map(|n| {
                let (s, t) = (s.clone(), t.clone());
                tokio::spawn(async move {
                    let (mut granted, mut refused) = (0, 0);
                    for round in 0..12 {
                        let ask = AuthorizeRequest {
                            tenant_id: t.id.clone(),
                            user_id: None,
                            estimate: Nanos::ZERO,
                            currency: Currency::usd(),
                            hold_until_us: Some(now_us() + 60_000_000),
                            rate: Default::default(),
                        };
                        let d = s
                            .authorize(&[ask], &defaults(), now_us())
                            .await
                            .expect("authorize")
                            .remove(0);
                        let Some(hold) = d.hold_id else {
                            refused += 1;
                            continue;
                        };
                        granted += 1;
                        if (n + round) % 3 == 0 {
                            s.release_hold(&t.id, &hold, now_us())
                                .await
                                .expect("release");
                            granted -= 1;
                        } else {
                            let e = event(&t, "gpt-4o", 1, 1, 0, &format_us(now_us()));
                            let mut i = item(e);
                            i.charge = Some(Charge {
                                hold_id: Some(hold),
                                defaults: Arc::new(defaults()),
                                balance_low: None,
                            });
                            s.append_usage(&[i]).await.expect("settle");
                        }
                    }
                    (granted, refused)
                })
            })
            .collect();
        let (mut calls, mut refused) = (0, 0);
        for c in clients {
            let (g, r) = c.await.expect("client");
            calls += g;
            refused += r;
        }
        let q = s.quota(&t.id, month).await.expect("quota").expect("tenant");
        assert_eq!(q.reserved, 0, "{}: every hold was closed", db.engine);
        assert_eq!(q.used, calls, "{}", db.engine);
        assert!(
            q.used <= QUOTA,
            "{}: {} calls on a quota of {QUOTA}",
            db.engine,
            q.used
        );
        assert!(refused > 0, "{}: the quota never ran out", db.engine);
    }
}
