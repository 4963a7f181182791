//! Tenants and API keys.

use tollgate_core::ids::{new_id, IdKind};
use tollgate_core::time::now_us;

use crate::db::{query, row, Db, On, Tx};
use crate::model::{ApiKeyInfo, KeyRole, NewApiKey, Scope, Tenant};
use crate::StoreError;

const TENANT_COLUMNS: &str = "id, name, created_us, log_size, plan";

row! {
    struct TenantRow { id: String, name: String, created_us: i64, log_size: i64, plan: Option<String> }
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Tenant {
        Tenant {
            id: r.id,
            name: r.name,
            created_us: r.created_us,
            log_size: r.log_size,
            plan: r.plan,
        }
    }
}

/// A key and its tenant's name (`t.name` is aliased: the key has a `name` of its own).
const KEY_COLUMNS: &str = "k.id, k.tenant_id, t.name AS tenant_name, k.prefix, k.name, \
     k.scopes, k.created_us, k.revoked_us, k.role";

row! {
    struct KeyRow {
        id: String,
        tenant_id: String,
        tenant_name: String,
        prefix: String,
        name: Option<String>,
        scopes: String,
        created_us: i64,
        revoked_us: Option<i64>,
        role: String,
    }
}

impl TryFrom<KeyRow> for ApiKeyInfo {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<ApiKeyInfo, StoreError> {
        let role = KeyRole::parse(&r.role)
            .ok_or_else(|| StoreError::Invariant(format!("unknown key role '{}'", r.role)))?;
        Ok(ApiKeyInfo {
            id: r.id,
            tenant_id: r.tenant_id,
            tenant_name: r.tenant_name,
            prefix: r.prefix,
            name: r.name,
            scopes: Scope::parse_list(&r.scopes).map_err(StoreError::Invariant)?,
            created_us: r.created_us,
            revoked_us: r.revoked_us,
            role,
        })
    }
}

pub(super) async fn create_tenant(db: &Db, name: &str) -> Result<Tenant, StoreError> {
    let t = Tenant {
        id: new_id(IdKind::Tenant),
        name: name.to_string(),
        created_us: now_us(),
        log_size: 0,
        plan: None,
    };
    let result =
        query("INSERT INTO tenants (id, name, created_us, log_size) VALUES ($1, $2, $3, 0)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_us)
            .execute(db.write())
            .await;
    match result {
        Ok(_) => Ok(t),
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
            "a tenant named '{name}' already exists"
        ))),
        Err(e) => Err(e),
    }
}

pub(super) async fn list_tenants(db: &Db) -> Result<Vec<Tenant>, StoreError> {
    let rows = query(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_us, id"
    ))
    .fetch_all_as::<TenantRow>(db)
    .await?;
    Ok(rows.into_iter().map(Tenant::from).collect())
}

pub(super) async fn find_tenant(db: &Db, id_or_name: &str) -> Result<Option<Tenant>, StoreError> {
    let row = query(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 OR name = $1"
    ))
    .bind(id_or_name)
    .fetch_optional_as::<TenantRow>(db)
    .await?;
    Ok(row.map(Tenant::from))
}

async fn insert_key(
    executor: impl Into<On<'_>>,
    k: &NewApiKey,
    created_us: i64,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, scopes, created_us, role)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&k.id)
    .bind(&k.tenant_id)
    .bind(&k.key_hash)
    .bind(&k.prefix)
    .bind(&k.name)
    .bind(Scope::join(&k.scopes))
    .bind(created_us)
    .bind(k.role.as_str())
    .execute(executor)
    .await?;
    Ok(())
}

async fn key_by_id(
    executor: impl Into<On<'_>>,
    key_id: &str,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    let row = query(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1"
    ))
    .bind(key_id)
    .fetch_optional_as::<KeyRow>(executor)
    .await?;
    row.map(ApiKeyInfo::try_from).transpose()
}

pub(super) async fn create_key(db: &Db, k: NewApiKey) -> Result<ApiKeyInfo, StoreError> {
    let mut tx = db.begin_write().await?;
    let exists = query("SELECT 1 FROM tenants WHERE id = $1")
        .bind(&k.tenant_id)
        .fetch_optional(&mut tx)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("tenant {}", k.tenant_id)));
    }
    insert_key(&mut tx, &k, now_us()).await?;
    let info = key_by_id(&mut tx, &k.id)
        .await?
        .ok_or_else(|| StoreError::Invariant("key vanished".into()))?;
    tx.commit().await?;
    Ok(info)
}

pub(super) async fn list_keys(
    db: &Db,
    tenant_id: Option<&str>,
) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let rows = query(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE ($1 IS NULL OR k.tenant_id = $1) ORDER BY k.created_us, k.id"
    ))
    .bind(tenant_id)
    .fetch_all_as::<KeyRow>(db)
    .await?;
    rows.into_iter().map(ApiKeyInfo::try_from).collect()
}

pub(super) async fn revoke_key(
    db: &Db,
    key_id: &str,
    tenant_id: Option<&str>,
) -> Result<ApiKeyInfo, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = query(
        "UPDATE api_keys SET revoked_us = COALESCE(revoked_us, $2)
         WHERE id = $1 AND ($3 IS NULL OR tenant_id = $3)",
    )
    .bind(key_id)
    .bind(now_us())
    .bind(tenant_id)
    .execute(&mut tx)
    .await?;
    changed_key(tx, done, key_id).await
}

/// Reads back the key an update changed (none: it does not exist) and commits.
async fn changed_key(mut tx: Tx, changed: u64, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
    if changed == 0 {
        return Err(StoreError::NotFound(format!("key {key_id}")));
    }
    let info = key_by_id(&mut tx, key_id)
        .await?
        .ok_or_else(|| StoreError::Invariant("key vanished".into()))?;
    tx.commit().await?;
    Ok(info)
}

/// Makes a key an operator key (with every scope, so listings show what it may do).
pub(super) async fn grant_operator(db: &Db, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = query("UPDATE api_keys SET role = $1, scopes = $2 WHERE id = $3")
        .bind(KeyRole::Operator.as_str())
        .bind(Scope::join(&Scope::ALL))
        .bind(key_id)
        .execute(&mut tx)
        .await?;
    changed_key(tx, done, key_id).await
}

pub(super) async fn authenticate(
    db: &Db,
    key_hash: &str,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    let row = query(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.key_hash = $1 AND k.revoked_us IS NULL"
    ))
    .bind(key_hash)
    .fetch_optional_as::<KeyRow>(db)
    .await?;
    row.map(ApiKeyInfo::try_from).transpose()
}

pub(super) async fn bootstrap(
    db: &Db,
    tenant_name: &str,
    mut k: NewApiKey,
) -> Result<Option<(Tenant, ApiKeyInfo)>, StoreError> {
    let mut tx = db.begin_write().await?;
    // On PostgreSQL two instances starting together could both see an empty table; the
    // unique tenant name makes the second insert fail, and that instance bootstraps nothing.
    let any = query("SELECT 1 FROM tenants LIMIT 1")
        .fetch_optional(&mut tx)
        .await?;
    if any.is_some() {
        return Ok(None);
    }
    let t = Tenant {
        id: new_id(IdKind::Tenant),
        name: tenant_name.to_string(),
        created_us: now_us(),
        log_size: 0,
        plan: None,
    };
    let inserted =
        query("INSERT INTO tenants (id, name, created_us, log_size) VALUES ($1, $2, $3, 0)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_us)
            .execute(&mut tx)
            .await;
    match inserted {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    k.tenant_id = t.id.clone();
    insert_key(&mut tx, &k, t.created_us).await?;
    let info = key_by_id(&mut tx, &k.id)
        .await?
        .ok_or_else(|| StoreError::Invariant("key vanished".into()))?;
    tx.commit().await?;
    Ok(Some((t, info)))
}
