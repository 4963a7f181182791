//! Console sessions: opened at sign-in, read on every console request, deleted at sign-out.
//! Ended sessions are deleted as new ones are opened, so the table holds about as many rows
//! as there are people signed in.

use crate::db::{query, row, Db};
use crate::model::{ConsoleSession, SessionHolder};
use crate::StoreError;

row! {
    struct SessionRow {
        id_hash: String,
        tenant_id: String,
        kind: String,
        key_hash: Option<String>,
        user_id: Option<String>,
        csrf_token: String,
        created_us: i64,
        expires_us: i64,
    }
}

impl TryFrom<SessionRow> for ConsoleSession {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<ConsoleSession, StoreError> {
        let holder = match (r.kind.as_str(), r.key_hash, r.user_id) {
            ("key", Some(key_hash), _) => SessionHolder::Key { key_hash },
            ("user", _, Some(user_id)) => SessionHolder::User { user_id },
            (kind, _, _) => {
                return Err(StoreError::Invariant(format!(
                    "a console session of kind '{kind}' lacks its holder"
                )))
            }
        };
        Ok(ConsoleSession {
            id_hash: r.id_hash,
            tenant_id: r.tenant_id,
            holder,
            csrf_token: r.csrf_token,
            created_us: r.created_us,
            expires_us: r.expires_us,
        })
    }
}

/// Stores `session`, first deleting every session that ended before `now_us`.
pub(super) async fn open(db: &Db, session: &ConsoleSession, now_us: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    query("DELETE FROM console_sessions WHERE expires_us <= $1")
        .bind(now_us)
        .execute(&mut tx)
        .await?;
    let (kind, key_hash, user_id) = match &session.holder {
        SessionHolder::Key { key_hash } => ("key", Some(key_hash.as_str()), None),
        SessionHolder::User { user_id } => ("user", None, Some(user_id.as_str())),
    };
    query(
        "INSERT INTO console_sessions (id_hash, tenant_id, kind, key_hash, user_id, csrf_token, \
         created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&session.id_hash)
    .bind(&session.tenant_id)
    .bind(kind)
    .bind(key_hash)
    .bind(user_id)
    .bind(&session.csrf_token)
    .bind(session.created_us)
    .bind(session.expires_us)
    .execute(&mut tx)
    .await?;
    tx.commit().await
}

/// The session `id_hash` names, unless it ended before `now_us`.
pub(super) async fn get(
    db: &Db,
    id_hash: &str,
    now_us: i64,
) -> Result<Option<ConsoleSession>, StoreError> {
    query(
        "SELECT id_hash, tenant_id, kind, key_hash, user_id, csrf_token, created_us, expires_us \
         FROM console_sessions WHERE id_hash = $1 AND expires_us > $2",
    )
    .bind(id_hash)
    .bind(now_us)
    .fetch_optional_as::<SessionRow>(db)
    .await?
    .map(ConsoleSession::try_from)
    .transpose()
}

/// Ends the session `id_hash` (nothing when there is none).
pub(super) async fn close(db: &Db, id_hash: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut tx)
        .await?;
    tx.commit().await
}

/// Points the session `id_hash` at another tenant (an operator's choice).
pub(super) async fn switch_tenant(
    db: &Db,
    id_hash: &str,
    tenant_id: &str,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    query("UPDATE console_sessions SET tenant_id = $1 WHERE id_hash = $2")
        .bind(tenant_id)
        .bind(id_hash)
        .execute(&mut tx)
        .await?;
    tx.commit().await
}
