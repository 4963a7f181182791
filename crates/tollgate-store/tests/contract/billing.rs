use std::sync::Arc;

use serde_json::Map;
use tollgate_core::time::{now_us, parse_instant, DateEdge, DAY_US};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AccountDefaults, AccountSettings, AppendItem, AuthorizeRequest, Charge, LedgerFilter,
    LedgerKind, NewCredit, PlanChange, PlanUpdate, Refusal, Store, StoreError, Tenant,
};

use crate::support::{event, item, tenant};

fn defaults() -> AccountDefaults {
    AccountDefaults {
        is_active: true,
        billing_enabled: true,
        limit_currency: Currency::usd(),
        daily_limit: Some(Nanos(10_000_000_000)),
        monthly_limit: Some(Nanos(100_000_000_000)),
    }
}

fn usd(n: &str) -> Nanos {
    Nanos::parse_exact(n).expect("amount")
}

fn credit(t: &Tenant, user: &str, kind: LedgerKind, amount: &str, key: Option<&str>) -> NewCredit {
    let a = usd(amount);
    NewCredit {
        tenant_id: t.id.clone(),
        user_id: user.into(),
        kind,
        amount: a,
        delta: a,
        currency: Currency::usd(),
        description: None,
        payment_provider: Some("stripe".into()),
        payment_id: Some("pi_1".into()),
        log_id: None,
        metadata: Map::new(),
        idempotency_key: key.map(str::to_string),
        request_hash: format!("{kind:?}{amount}"),
        balance_low: None,
    }
}

fn ask(
    t: &Tenant,
    user: Option<&str>,
    estimate: &str,
    hold_for_us: Option<i64>,
) -> AuthorizeRequest {
    AuthorizeRequest {
        tenant_id: t.id.clone(),
        user_id: user.map(str::to_string),
        estimate: usd(estimate),
        currency: Currency::usd(),
        hold_until_us: hold_for_us.map(|d| now_us() + d),
        rate: Default::default(),
    }
}

async fn decide(
    s: &dyn Store,
    r: AuthorizeRequest,
    quota: Option<i64>,
    at: i64,
) -> tollgate_store::Decision {
    // The quota under test is the default plan's, as the database says at decision time.
    let update = PlanUpdate {
        monthly_requests: Some(quota),
        default: Some(true),
        rates: None,
    };
    s.put_plan("test", &update).await.expect("plan");
    s.authorize(&[r], &defaults(), at)
        .await
        .expect("authorize")
        .remove(0)
}

fn billed(mut i: AppendItem, user: &str, hold: Option<&str>) -> AppendItem {
    i.event.user_id = Some(user.into());
    i.charge = Some(Charge {
        hold_id: hold.map(str::to_string),
        defaults: Arc::new(defaults()),
        balance_low: None,
    });
    i
}

async fn balance(s: &dyn Store, t: &Tenant, user: &str) -> (Nanos, Nanos) {
    let a = s
        .account(&t.id, user)
        .await
        .expect("account")
        .expect("exists");
    let b = a
        .balances
        .iter()
        .find(|b| b.currency == Currency::usd())
        .expect("usd");
    (b.balance, b.held)
}

#[tokio::test]
async fn top_ups_are_idempotent_and_the_balance_is_the_sum_of_the_ledger() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let (first, replayed) = s
            .post_credit(
                &credit(&t, "u", LedgerKind::Topup, "10", Some("k1")),
                &defaults(),
            )
            .await
            .expect("topup");
        assert!(!replayed);
        let (again, replayed) = s
            .post_credit(
                &credit(&t, "u", LedgerKind::Topup, "10", Some("k1")),
                &defaults(),
            )
            .await
            .expect("repeat");
        assert!(replayed, "{}", db.engine);
        assert_eq!(again.id, first.id);
        let other = s
            .post_credit(
                &credit(&t, "u", LedgerKind::Topup, "11", Some("k1")),
                &defaults(),
            )
            .await;
        assert!(matches!(other, Err(StoreError::Conflict(_))), "{other:?}");
        let mut debit = credit(&t, "u", LedgerKind::Adjustment, "2.5", None);
        debit.delta = Nanos(-debit.amount.0);
        let (adj, _) = s.post_credit(&debit, &defaults()).await.expect("debit");
        assert_eq!(
            (adj.balance_before, adj.balance_after),
            (usd("10"), usd("7.5"))
        );
        assert_eq!(balance(s, &t, "u").await, (usd("7.5"), Nanos::ZERO));
        let history = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 10, 0)
            .await
            .expect("ledger")
            .0;
        assert_eq!(history.len(), 2, "a repeated top-up writes nothing");
        let topups = s
            .ledger(
                &t.id,
                "u",
                &LedgerFilter {
                    kind: Some(LedgerKind::Topup),
                    ..Default::default()
                },
                10,
                0,
            )
            .await
            .expect("ledger");
        assert_eq!((topups.0.len(), topups.1), (1, 1));
        assert_eq!(topups.0[0].payment_id.as_deref(), Some("pi_1"));
        let (page, total) = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 1, 1)
            .await
            .expect("ledger");
        assert_eq!(
            (page.len(), total),
            (1, 2),
            "a later page still counts the whole selection"
        );
        let report = s.audit().await.expect("audit");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.checked, 1);
    }
}

#[tokio::test]
async fn the_quota_admits_the_last_request_of_the_month_and_refuses_the_next() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let now = now_us();
        let ts = tollgate_core::time::format_us(now);
        let items: Vec<_> = (0..4)
            .map(|_| item(event(&t, "gpt-4o", 1, 1, 1, &ts)))
            .collect();
        s.append_usage(&items).await.expect("append");
        let d = decide(s, ask(&t, None, "0", None), Some(5), now).await;
        assert_eq!(
            d.refusal, None,
            "{}: the 5th request of 5 is allowed",
            db.engine
        );
        assert_eq!((d.quota.used, d.quota.limit), (4, Some(5)));
        s.append_usage(&[item(event(&t, "gpt-4o", 1, 1, 1, &ts))])
            .await
            .expect("append");
        let d = decide(s, ask(&t, None, "0", None), Some(5), now).await;
        assert_eq!(d.refusal, Some(Refusal::QuotaExceeded), "the 6th is not");
        // A quota-only hold reserves a request too.
        let d = decide(s, ask(&t, None, "0", Some(60_000_000)), Some(6), now).await;
        assert!(d.hold_id.is_some());
        let d = decide(s, ask(&t, None, "0", None), Some(6), now).await;
        assert_eq!(
            d.refusal,
            Some(Refusal::QuotaExceeded),
            "the hold holds the last one"
        );
        // Next month starts again.
        let next = parse_instant("2100-01-15", DateEdge::Start).expect("date");
        let d = decide(s, ask(&t, None, "0", None), Some(5), next).await;
        assert_eq!(d.refusal, None);
        assert_eq!(d.quota.used, 0);
        let moved = s
            .set_plan(&t.id, Some("pro"), tollgate_core::time::month_of(now))
            .await
            .expect("plan");
        assert!(matches!(moved, PlanChange::Moved(q) if q.plan == "pro" && q.limit.is_none()));
        let d = decide(s, ask(&t, None, "0", None), Some(5), now).await;
        assert_eq!((d.refusal, d.quota.limit), (None, None), "pro is unlimited");
    }
}

#[tokio::test]
async fn each_refusal_has_its_reason() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let now = now_us();
        let broke = decide(s, ask(&t, Some("u"), "0.01", None), None, now).await;
        assert_eq!(
            broke.refusal,
            Some(Refusal::InsufficientBalance),
            "{}",
            db.engine
        );
        s.post_credit(&credit(&t, "u", LedgerKind::Topup, "50", None), &defaults())
            .await
            .expect("topup");
        let ok = decide(s, ask(&t, Some("u"), "1", None), None, now).await;
        assert_eq!(ok.refusal, None);
        let daily = decide(s, ask(&t, Some("u"), "10.01", None), None, now).await;
        assert_eq!(daily.refusal, Some(Refusal::DailyLimitExceeded));
        s.update_account(
            &t.id,
            "u",
            &AccountSettings {
                daily_limit: Some(None),
                monthly_limit: Some(Some(usd("20"))),
                ..Default::default()
            },
            &defaults(),
        )
        .await
        .expect("settings");
        let monthly = decide(s, ask(&t, Some("u"), "20.01", None), None, now).await;
        assert_eq!(monthly.refusal, Some(Refusal::MonthlyLimitExceeded));
        let rich = decide(s, ask(&t, Some("u"), "19", None), None, now).await;
        assert_eq!(rich.refusal, None, "no daily limit any more");
        s.update_account(
            &t.id,
            "u",
            &AccountSettings {
                is_active: Some(false),
                ..Default::default()
            },
            &defaults(),
        )
        .await
        .expect("disable");
        let off = decide(s, ask(&t, Some("u"), "0", None), None, now).await;
        assert_eq!(off.refusal, Some(Refusal::AccountDisabled));
    }
}

#[tokio::test]
async fn a_hold_is_settled_once_by_the_call_that_carries_it() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        s.post_credit(&credit(&t, "u", LedgerKind::Topup, "5", None), &defaults())
            .await
            .expect("topup");
        let d = decide(
            s,
            ask(&t, Some("u"), "2", Some(60_000_000)),
            Some(10),
            now_us(),
        )
        .await;
        let hold = d.hold_id.expect("hold");
        assert_eq!(balance(s, &t, "u").await, (usd("5"), usd("2")));
        // The call cost 0.75 (cost is in nanos in these events).
        let call = crate::support::with_request(
            event(
                &t,
                "gpt-4o",
                1,
                1,
                750_000_000,
                &tollgate_core::time::format_us(now_us()),
            ),
            "call-1",
        );
        let first = s
            .append_usage(&[billed(item(call.clone()), "u", Some(&hold))])
            .await
            .expect("append");
        assert!(!first[0].duplicate);
        assert_eq!(
            balance(s, &t, "u").await,
            (usd("4.25"), Nanos::ZERO),
            "{}: charged the actual cost, the rest released",
            db.engine
        );
        // A retry records nothing and charges nothing.
        let retry = s
            .append_usage(&[billed(item(call), "u", Some(&hold))])
            .await
            .expect("retry");
        assert!(retry[0].duplicate);
        // Another call naming the same hold is charged, but releases nothing twice.
        let other = event(
            &t,
            "gpt-4o",
            1,
            1,
            250_000_000,
            &tollgate_core::time::format_us(now_us()),
        );
        s.append_usage(&[billed(item(other), "u", Some(&hold))])
            .await
            .expect("append");
        assert_eq!(balance(s, &t, "u").await, (usd("4"), Nanos::ZERO));
        let kinds: Vec<LedgerKind> = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 10, 0)
            .await
            .expect("ledger")
            .0
            .iter()
            .rev()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                LedgerKind::Topup,
                LedgerKind::Hold,
                LedgerKind::Release,
                LedgerKind::Charge,
                LedgerKind::Charge
            ]
        );
        let q = s
            .quota(&t.id, tollgate_core::time::month_of(now_us()))
            .await
            .expect("quota")
            .expect("the tenant");
        assert_eq!((q.used, q.reserved), (2, 0));
        let report = s.audit().await.expect("audit");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

#[tokio::test]
async fn calls_billed_to_no_user_follow_another_instances_appends_and_charge_no_account() {
    for db in TestDatabase::all().await {
        let other = db.another().await;
        let (s, o) = (&*db.store, &*other.store);
        let t = tenant(s, "a").await;
        let when = tollgate_core::time::format_us(now_us());
        // Billing is on, but with no user and no hold there is nothing to charge.
        let no_user = || {
            let mut i = item(event(&t, "gpt-4o", 1, 1, 250_000_000, &when));
            i.charge = Some(Charge {
                hold_id: None,
                defaults: Arc::new(defaults()),
                balance_low: None,
            });
            i
        };
        let user = || billed(no_user(), "u", None);
        let mut seqs = Vec::new();
        for (store, calls) in [
            (s, vec![no_user()]),
            (o, vec![no_user()]),
            (s, vec![user()]),
            (s, vec![no_user(), no_user()]),
            (o, vec![no_user(), user()]),
            (s, vec![no_user()]),
        ] {
            let recorded = store.append_usage(&calls).await.expect("append");
            seqs.extend(recorded.iter().map(|r| r.seq));
        }
        assert_eq!(seqs, (0..8).collect::<Vec<_>>(), "{}: gap-free", db.engine);
        let head = s.find_tenant(&t.id).await.expect("find").expect("a");
        assert_eq!(head.log_size, 8, "{}", db.engine);
        let (entries, _) = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 10, 0)
            .await
            .expect("ledger");
        assert_eq!(
            entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
            vec![LedgerKind::Charge, LedgerKind::Charge],
            "{}: only the calls with a user are charged",
            db.engine
        );
        assert_eq!(balance(s, &t, "u").await, (usd("-0.5"), Nanos::ZERO));
        let q = s
            .quota(&t.id, tollgate_core::time::month_of(now_us()))
            .await
            .expect("quota")
            .expect("the tenant");
        assert_eq!(
            q.used, 8,
            "{}: every call counts against the plan",
            db.engine
        );
        let report = s.audit().await.expect("audit");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

#[tokio::test]
async fn charges_planned_on_books_that_changed_since_are_charged_on_the_books_held() {
    for db in TestDatabase::all().await {
        let other = db.another().await;
        let (s, o) = (&*db.store, &*other.store);
        let t = tenant(s, "a").await;
        let when = tollgate_core::time::format_us(now_us());
        let call = |user: &str| {
            billed(
                item(event(&t, "gpt-4o", 1, 1, 1_500_000_000, &when)),
                user,
                None,
            )
        };
        let mut seqs = Vec::new();
        // Each instance plans charges on the books it last saw of an account: another
        // instance's charge, a top-up and a new account each make those books stale.
        for (step, (store, calls)) in [
            (s, vec![call("u")]),
            (s, vec![call("u")]),
            (s, Vec::new()),
            (s, vec![call("u")]),
            (o, vec![call("u")]),
            (s, vec![call("u")]),
            (s, vec![call("u"), call("u")]),
            (s, vec![call("u"), call("v")]),
            (s, vec![call("u")]),
        ]
        .into_iter()
        .enumerate()
        {
            if calls.is_empty() {
                s.post_credit(&credit(&t, "u", LedgerKind::Topup, "20", None), &defaults())
                    .await
                    .expect("topup");
                continue;
            }
            let recorded = store.append_usage(&calls).await.expect("append");
            assert!(recorded.iter().all(|r| !r.duplicate), "step {step}");
            seqs.extend(recorded.iter().map(|r| r.seq));
        }
        assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "{}: gap-free", db.engine);
        assert_eq!(
            balance(s, &t, "u").await,
            (usd("6.5"), Nanos::ZERO),
            "{}",
            db.engine
        );
        assert_eq!(balance(o, &t, "v").await, (usd("-1.5"), Nanos::ZERO));
        let (entries, _) = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 20, 0)
            .await
            .expect("ledger");
        let mut flags: Vec<i64> = entries
            .iter()
            .filter(|e| e.kind == LedgerKind::Charge)
            .map(|e| e.flags)
            .collect();
        flags.sort_unstable();
        // Below zero until the top-up; past the daily limit of 10 from the seventh call.
        assert_eq!(flags, vec![0, 0, 0, 0, 1, 1, 1, 4, 4], "{}", db.engine);
        let a = s.account(&t.id, "u").await.expect("account").expect("u");
        assert_eq!(a.total_requests, 9, "{}", db.engine);
        assert_eq!(a.today[0].spent, usd("13.5"), "{}", db.engine);
        assert_eq!(a.this_month[0].spent, usd("13.5"), "{}", db.engine);
        assert_eq!((a.today[0].requests, a.this_month[0].requests), (9, 9));
        // On PostgreSQL the second and the last calls are written in one statement on the
        // books last seen; the calls after the top-up and after the other instance's find
        // them moved. SQLite's one writer plans on nothing it has not read.
        let guesses = s.append_guesses();
        if db.engine == "postgres" {
            assert_eq!((guesses.written, guesses.stale), (2, 2));
        } else {
            assert_eq!(guesses, tollgate_store::AppendGuesses::default());
        }
        let report = s.audit().await.expect("audit");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

#[tokio::test]
async fn expired_and_released_holds_give_their_money_back() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        s.post_credit(&credit(&t, "u", LedgerKind::Topup, "5", None), &defaults())
            .await
            .expect("topup");
        let now = now_us();
        let a = decide(s, ask(&t, Some("u"), "1", Some(1_000_000)), None, now).await;
        let b = decide(s, ask(&t, Some("u"), "2", Some(DAY_US)), None, now).await;
        assert_eq!(balance(s, &t, "u").await, (usd("5"), usd("3")));
        assert_eq!(
            s.expire_holds(now + 2_000_000, 100).await.expect("expire"),
            1
        );
        assert_eq!(
            balance(s, &t, "u").await,
            (usd("5"), usd("2")),
            "{}",
            db.engine
        );
        assert_eq!(
            s.expire_holds(now + 2_000_000, 100).await.expect("again"),
            0
        );
        let b = b.hold_id.expect("hold");
        assert!(s.release_hold(&t.id, &b, now).await.expect("release"));
        assert!(!s.release_hold(&t.id, &b, now).await.expect("twice"));
        let other = tenant(s, "b").await;
        let a = a.hold_id.expect("hold");
        assert!(!s
            .release_hold(&other.id, &a, now)
            .await
            .expect("not theirs"));
        assert_eq!(balance(s, &t, "u").await, (usd("5"), Nanos::ZERO));
        let report = s.audit().await.expect("audit");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }
}

#[tokio::test]
async fn calls_past_a_limit_or_the_balance_are_charged_and_flagged_not_refused() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        s.post_credit(&credit(&t, "u", LedgerKind::Topup, "1", None), &defaults())
            .await
            .expect("topup");
        let ts = tollgate_core::time::format_us(now_us());
        let big = event(&t, "gpt-4o", 1, 1, 12_000_000_000, &ts);
        let r = s
            .append_usage(&[billed(item(big), "u", None)])
            .await
            .expect("append");
        assert!(!r[0].duplicate);
        assert_eq!(balance(s, &t, "u").await.0, usd("-11"), "{}", db.engine);
        let charge = s
            .ledger(&t.id, "u", &LedgerFilter::default(), 1, 0)
            .await
            .expect("ledger")
            .0
            .remove(0);
        assert_eq!(charge.kind, LedgerKind::Charge);
        assert_eq!(charge.flags, 1 | 4, "over the daily limit and below zero");
        let a = s
            .account(&t.id, "u")
            .await
            .expect("account")
            .expect("exists");
        assert_eq!(a.total_requests, 1);
        assert_eq!(a.today[0].spent, usd("12"));
        // Without a user nobody is charged.
        s.append_usage(&[item(event(&t, "gpt-4o", 1, 1, 5, &ts))])
            .await
            .expect("append");
        assert_eq!(
            s.ledger(&t.id, "u", &LedgerFilter::default(), 10, 0)
                .await
                .expect("ledger")
                .0
                .len(),
            2
        );
    }
}

/// One step of a random billing history.
#[derive(Debug, Clone)]
enum Op {
    TopUp(u8, u32),
    Debit(u8, u32),
    Hold(u8, u32),
    Call(u8, u32, bool),
    Release,
    Expire,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..3, 1u32..5_000).prop_map(|(u, c)| Op::TopUp(u, c)),
        (0u8..3, 1u32..2_000).prop_map(|(u, c)| Op::Debit(u, c)),
        (0u8..3, 0u32..3_000).prop_map(|(u, c)| Op::Hold(u, c)),
        (0u8..3, 0u32..3_000, any::<bool>()).prop_map(|(u, c, h)| Op::Call(u, c, h)),
        Just(Op::Release),
        Just(Op::Expire),
    ]
}

/// Runs `ops` (amounts in thousandths of a dollar) and checks the ledger after each step.
async fn replay(db: &TestDatabase, ops: &[Op]) {
    let s = &*db.store;
    let t = tenant(s, "prop").await;
    let milli = |n: u32| Nanos(i64::from(n) * 1_000_000);
    let user = |u: u8| format!("user-{u}");
    let mut holds: Vec<(u8, String)> = Vec::new();
    let mut clock = now_us();
    for op in ops {
        match op {
            Op::TopUp(u, n) | Op::Debit(u, n) => {
                let mut c = credit(&t, &user(*u), LedgerKind::Adjustment, "1", None);
                c.amount = milli(*n);
                c.delta = if matches!(op, Op::TopUp(..)) {
                    milli(*n)
                } else {
                    Nanos(-milli(*n).0)
                };
                s.post_credit(&c, &defaults()).await.expect("credit");
            }
            Op::Hold(u, n) => {
                let mut r = ask(&t, Some(&user(*u)), "0", Some(60_000_000));
                r.estimate = milli(*n);
                let d = decide(s, r, None, clock).await;
                if let Some(id) = d.hold_id {
                    let a = d.account.expect("account");
                    assert!(
                        !a.billing_enabled || a.balance.0 - a.held.0 >= 0,
                        "an admitted hold left the balance short: {a:?}"
                    );
                    holds.push((*u, id));
                }
            }
            Op::Call(u, n, settle) => {
                let hold = if *settle { holds.pop() } else { None };
                let ts = tollgate_core::time::format_us(now_us());
                let mut e = event(&t, "gpt-4o", 1, 1, i64::from(*n) * 1_000_000, &ts);
                e.user_id = Some(user(*u));
                let hold_id = hold.map(|(_, id)| id);
                s.append_usage(&[billed(item(e), &user(*u), hold_id.as_deref())])
                    .await
                    .expect("append");
            }
            Op::Release => {
                if let Some((_, id)) = holds.pop() {
                    s.release_hold(&t.id, &id, clock).await.expect("release");
                }
            }
            Op::Expire => {
                clock += 120_000_000;
                s.expire_holds(clock, 1000).await.expect("expire");
            }
        }
        let report = s.audit().await.expect("audit");
        assert!(
            report.findings.is_empty(),
            "{}: after {op:?}: {:?}",
            db.engine,
            report.findings
        );
    }
}

#[test]
fn the_ledger_always_adds_up_whatever_the_sequence_of_operations() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..25))| {
        runtime.block_on(async {
            for db in TestDatabase::all().await {
                replay(&db, &ops).await;
            }
        });
    });
}

#[tokio::test]
async fn an_account_counts_the_calls_an_older_version_counted_and_adds_the_new_ones_on_its_balance_rows(
) {
    // As version 20261211000001 left it: calls counted on the account's own row.
    let rows = "INSERT INTO tenants (id, name, created_us, log_size) \
                VALUES ('tnt_old', 'old', 1000000, 0);\n\
                INSERT INTO billing_accounts (tenant_id, user_id, is_active, billing_enabled, \
                limit_currency, total_requests, last_request_us, created_us, updated_us) \
                VALUES ('tnt_old', 'alice', 1, 1, 'USD', 5, 1500000, 1000000, 1500000), \
                ('tnt_old', 'bob', 1, 1, 'USD', 2, 1400000, 1000000, 1400000);\n\
                INSERT INTO account_balances (tenant_id, user_id, currency, balance_nanos, \
                held_nanos, spent_nanos) VALUES ('tnt_old', 'alice', 'USD', 0, 0, 0), \
                ('tnt_old', 'bob', 'USD', 0, 0, 0);";
    for db in TestDatabase::all_upgraded(20261211000001, rows).await {
        let s = &*db.store;
        let requests = |a: tollgate_store::Account| (a.total_requests, a.last_request_us);
        let alice = s
            .account("tnt_old", "alice")
            .await
            .expect("read")
            .expect("alice");
        assert_eq!(
            requests(alice),
            (5, Some(1500000)),
            "{}: as counted",
            db.engine
        );
        let t = s
            .list_tenants()
            .await
            .expect("tenants")
            .into_iter()
            .find(|t| t.id == "tnt_old")
            .expect("the old tenant");
        let calls = [
            billed(
                item(event(&t, "gpt-4o", 10, 5, 100, "2026-12-07")),
                "alice",
                None,
            ),
            billed(
                item(event(&t, "gpt-4o", 10, 5, 100, "2026-12-07")),
                "alice",
                None,
            ),
            // A call in another currency is counted on that currency's balance row.
            billed(
                item(tollgate_core::UsageEvent {
                    currency: Currency::try_from("EUR".to_string()).expect("EUR"),
                    ..event(&t, "gpt-4o", 10, 5, 100, "2026-12-07")
                }),
                "alice",
                None,
            ),
        ];
        let before = now_us();
        s.append_usage(&calls).await.expect("append");
        let alice = s
            .account("tnt_old", "alice")
            .await
            .expect("read")
            .expect("alice");
        let (total, last) = requests(alice);
        assert_eq!(total, 8, "{}: five before, three now", db.engine);
        assert!(
            last.is_some_and(|l| l >= before),
            "{}: the last call is now's: {last:?}",
            db.engine
        );
        let (listed, _) = s
            .accounts(
                "tnt_old",
                &tollgate_store::AccountFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        let counted: Vec<(&str, i64, Option<i64>)> = listed
            .iter()
            .map(|l| {
                let a = &l.account;
                (a.user_id.as_str(), a.total_requests, a.last_request_us)
            })
            .collect();
        assert_eq!(
            counted,
            [("alice", 8, last), ("bob", 2, Some(1400000))],
            "{}: the list reads the same counts",
            db.engine
        );
    }
}
