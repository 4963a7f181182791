use tollgate_store::testing::TestDatabase;
use tollgate_store::{KeyRole, Scope, StoreError};

use crate::support::{event, item, new_key, tenant};

#[tokio::test]
async fn tenant_names_are_unique_and_tenants_are_found_by_id_or_name() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "acme").await;
        assert!(
            matches!(s.create_tenant("acme").await, Err(StoreError::Conflict(_))),
            "{}",
            db.engine
        );
        assert_eq!(
            s.find_tenant(&a.id).await.expect("find").map(|t| t.name),
            Some("acme".into())
        );
        assert_eq!(
            s.find_tenant("acme").await.expect("find").map(|t| t.id),
            Some(a.id.clone())
        );
        assert!(s.find_tenant("nobody").await.expect("find").is_none());
        tenant(s, "beta").await;
        let names: Vec<String> = s
            .list_tenants()
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, vec!["acme", "beta"], "{}", db.engine);
    }
}

#[tokio::test]
async fn a_revoked_key_no_longer_authenticates() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "acme").await;
        let key = s
            .create_key(new_key(&t, "hash-1", &[Scope::Ingest, Scope::Read]))
            .await
            .expect("key");
        assert_eq!(key.tenant_name, "acme");
        let found = s
            .authenticate("hash-1")
            .await
            .expect("auth")
            .expect("active");
        assert_eq!(
            (found.id.as_str(), found.scopes.as_slice()),
            (key.id.as_str(), &[Scope::Ingest, Scope::Read][..])
        );
        let revoked = s.revoke_key(&key.id, None).await.expect("revoke");
        assert!(revoked.revoked_us.is_some());
        assert!(
            s.authenticate("hash-1").await.expect("auth").is_none(),
            "{}",
            db.engine
        );
        // Revoking again keeps the first revocation time.
        assert_eq!(
            s.revoke_key(&key.id, None).await.expect("again").revoked_us,
            revoked.revoked_us
        );
    }
}

#[tokio::test]
async fn another_tenants_key_cannot_be_revoked_and_looks_missing() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let a = tenant(s, "a").await;
        let b = tenant(s, "b").await;
        let key = s
            .create_key(new_key(&a, "hash-a", &[Scope::Read]))
            .await
            .expect("key");
        assert!(matches!(
            s.revoke_key(&key.id, Some(&b.id)).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.authenticate("hash-a").await.expect("auth").is_some(),
            "{}",
            db.engine
        );
        assert!(matches!(
            s.revoke_key("key_missing", None).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.list_keys(Some(&b.id)).await.expect("list").len(), 0);
        assert_eq!(s.list_keys(None).await.expect("list").len(), 1);
    }
}

#[tokio::test]
async fn a_key_needs_an_existing_tenant() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let mut ghost = tenant(s, "real").await;
        ghost.id = "tnt_ghost".into();
        assert!(matches!(
            s.create_key(new_key(&ghost, "h", &[Scope::Read])).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn bootstrap_creates_the_first_tenant_and_key_only_on_an_empty_database() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let placeholder = tollgate_store::Tenant {
            id: String::new(),
            name: String::new(),
            created_us: 0,
            log_size: 0,
            plan: None,
        };
        let first = s
            .bootstrap("default", new_key(&placeholder, "boot", &Scope::ALL))
            .await
            .expect("boot");
        let (t, k) = first.expect("bootstrapped");
        assert_eq!(
            (t.name.as_str(), k.tenant_id.as_str()),
            ("default", t.id.as_str())
        );
        assert_eq!(k.scopes, Scope::ALL.to_vec());
        let again = s
            .bootstrap("default", new_key(&placeholder, "boot2", &Scope::ALL))
            .await
            .expect("boot");
        assert!(again.is_none(), "{}", db.engine);
        assert!(s.authenticate("boot2").await.expect("auth").is_none());
    }
}

#[tokio::test]
async fn a_key_is_an_operator_key_only_when_created_or_granted_as_one() {
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let t = tenant(s, "a").await;
        let k = s
            .create_key(new_key(&t, "hash-billing", &[Scope::Billing]))
            .await
            .expect("key");
        assert_eq!(
            (k.role, k.scopes.clone()),
            (KeyRole::Tenant, vec![Scope::Billing])
        );
        let mut op = new_key(&t, "hash-op", &Scope::ALL);
        op.role = KeyRole::Operator;
        s.create_key(op).await.expect("operator key");
        let found = s.authenticate("hash-op").await.expect("auth").expect("key");
        assert_eq!(found.role, KeyRole::Operator, "{}", db.engine);

        let granted = s.grant_operator(&k.id).await.expect("grant");
        assert_eq!(
            (granted.role, granted.scopes),
            (KeyRole::Operator, Scope::ALL.to_vec())
        );
        let found = s
            .authenticate("hash-billing")
            .await
            .expect("auth")
            .expect("key");
        assert_eq!(found.role, KeyRole::Operator);
        assert!(matches!(
            s.grant_operator("key_nobody").await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn a_tenant_is_never_removed_and_no_append_writes_an_event_for_a_tenant_that_does_not_exist()
{
    for db in TestDatabase::all().await {
        let s = &*db.store;
        let acme = tenant(s, "acme").await;
        let quiet = tenant(s, "quiet").await;
        let call = |t: &tollgate_store::Tenant| {
            item(event(t, "gpt-4o", 10, 5, 1_000, "2026-12-01T00:00:00Z"))
        };
        s.append_usage(&[call(&acme)]).await.expect("append");

        let store = db.sql_store().await;
        for (t, logged) in [(&acme, "with a logged call"), (&quiet, "with none")] {
            let delete = format!("DELETE FROM tenants WHERE id = '{}'", t.id);
            assert!(
                store.execute_script(&delete).await.is_err(),
                "{}: a tenant {logged} was removed",
                db.engine
            );
            assert!(
                s.find_tenant(&t.id).await.expect("find").is_some(),
                "{}",
                db.engine
            );
        }

        // A tenant that does not exist, alone and in one append with one that does: the
        // append is refused whole.
        let mut ghost = acme.clone();
        ghost.id = "tnt_01jg0000000000000000000000".into();
        for batch in [vec![call(&ghost)], vec![call(&acme), call(&ghost)]] {
            let refused = s.append_usage(&batch).await;
            assert!(
                matches!(refused, Err(StoreError::NotFound(_))),
                "{}: {refused:?}",
                db.engine
            );
        }
        let acme = s.find_tenant(&acme.id).await.expect("find").expect("acme");
        assert_eq!(acme.log_size, 1, "{}: nothing else was logged", db.engine);
        match s.log_entries(&ghost.id, 0, 10).await {
            Ok(entries) => assert!(entries.is_empty(), "{}: {entries:?}", db.engine),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => panic!("{}: {e}", db.engine),
        }
    }
}
