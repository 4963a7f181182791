//! The tenant's accounts, listed: each exactly as the store reads it alone, with its open
//! holds, a page at a time by user id, narrowed by the start of an id, never another tenant's.

use std::sync::Arc;

use serde_json::Map;
use tollgate_core::time::{format_us, now_us};
use tollgate_core::{Currency, Nanos};
use tollgate_store::testing::TestDatabase;
use tollgate_store::{
    AccountDefaults, AccountFilter, AuthorizeRequest, Charge, LedgerKind, NewCredit, PlanUpdate,
    Store, Tenant,
};

use crate::support::{event, item, tenant};

fn defaults() -> AccountDefaults {
    AccountDefaults {
        is_active: true,
        billing_enabled: true,
        limit_currency: Currency::usd(),
        daily_limit: Some(Nanos(10_000_000_000)),
        monthly_limit: None,
    }
}

async fn top_up(s: &dyn Store, t: &Tenant, user: &str, nanos: i64) {
    let credit = NewCredit {
        tenant_id: t.id.clone(),
        user_id: user.into(),
        kind: LedgerKind::Topup,
        amount: Nanos(nanos),
        delta: Nanos(nanos),
        currency: Currency::usd(),
        description: None,
        payment_provider: None,
        payment_id: None,
        log_id: None,
        metadata: Map::new(),
        idempotency_key: None,
        request_hash: String::new(),
        balance_low: None,
    };
    s.post_credit(&credit, &defaults()).await.expect("top up");
}

fn page(prefix: Option<&str>, limit: i64, offset: i64) -> AccountFilter {
    AccountFilter {
        user_prefix: prefix.map(str::to_string),
        limit,
        offset,
    }
}

#[tokio::test]
async fn listed_accounts_are_read_as_one_account_is_with_their_open_holds() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let other = tenant(s, "b").await;
        for (user, nanos) in [("zed", 1), ("amy", 5_000_000_000), ("al_", 2), ("bo", 3)] {
            top_up(s, &t, user, nanos).await;
        }
        top_up(s, &other, "amy", 9).await;
        // A charge today for amy, and an open hold.
        let mut charged = item(event(&t, "gpt-4o", 1, 1, 250_000_000, &format_us(now_us())));
        charged.event.user_id = Some("amy".into());
        charged.charge = Some(Charge {
            hold_id: None,
            defaults: Arc::new(defaults()),
            balance_low: None,
        });
        s.append_usage(&[charged]).await.expect("append");
        let plan = PlanUpdate {
            monthly_requests: Some(None),
            default: Some(true),
            rates: None,
        };
        s.put_plan("test", &plan).await.expect("plan");
        let ask = AuthorizeRequest {
            tenant_id: t.id.clone(),
            user_id: Some("amy".into()),
            estimate: Nanos(100_000_000),
            currency: Currency::usd(),
            hold_until_us: Some(now_us() + 60_000_000),
            rate: Default::default(),
        };
        let d = s
            .authorize(&[ask], &defaults(), now_us())
            .await
            .expect("authorize")
            .remove(0);
        assert!(d.hold_id.is_some(), "{}", db.engine);

        let (listed, total) = s.accounts(&t.id, &page(None, 2, 0)).await.expect("list");
        assert_eq!(total, 4, "{}", db.engine);
        let users: Vec<&str> = listed.iter().map(|l| l.account.user_id.as_str()).collect();
        assert_eq!(users, ["al_", "amy"], "{}", db.engine);
        let amy = &listed[1];
        let alone = s.account(&t.id, "amy").await.expect("read").expect("amy");
        assert_eq!(amy.account, alone, "{}", db.engine);
        assert_eq!(amy.open_holds, 1);
        assert_eq!(amy.account.today[0].spent, Nanos(250_000_000));
        assert_eq!(amy.account.balances[0].held, Nanos(100_000_000));
        assert_eq!(listed[0].open_holds, 0);

        let (rest, total) = s.accounts(&t.id, &page(None, 2, 2)).await.expect("list");
        assert_eq!(total, 4);
        let users: Vec<&str> = rest.iter().map(|l| l.account.user_id.as_str()).collect();
        assert_eq!(users, ["bo", "zed"]);

        let (found, total) = s
            .accounts(&t.id, &page(Some("al"), 50, 0))
            .await
            .expect("list");
        assert_eq!((found.len(), total), (1, 1), "{}", db.engine);
        for no_match in ["AL", "a%", "_"] {
            let (none, _) = s
                .accounts(&t.id, &page(Some(no_match), 50, 0))
                .await
                .expect("list");
            assert!(none.is_empty(), "{no_match} on {}", db.engine);
        }
    }
}
