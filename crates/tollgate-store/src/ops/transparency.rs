//! The tenant log as a Merkle tree: its stored tiles, signed checkpoints and the public keys
//! that signed them.
//!
//! A tree is its leaf hashes (stored with each event) plus the root of every complete,
//! aligned 256-leaf tile, so any root or proof reads one tile of leaves, the tail and the tile
//! roots: never the whole log.

use std::collections::BTreeMap;

use tollgate_core::time::now_us;
use tollgate_receipts::merkle::{tile_roots, Needs, Nodes, TILE_LEAVES};
use tollgate_receipts::Hash;

use crate::db::{query, row, Db, Sql};
use crate::model::{LogEntry, SigningKeyRecord, StoredCheckpoint};
use crate::StoreError;

/// Leaves read per query while tiles are computed.
const TILE_BATCH_LEAVES: i64 = 64 * TILE_LEAVES as i64;

/// A 32-byte hash read from a BLOB column.
pub(crate) fn hash32(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| StoreError::Invariant(format!("a stored hash has {} bytes", b.len())))
}

/// The tenant's log size, or NotFound.
pub(crate) async fn log_size(db: &Db, tenant: &str) -> Result<i64, StoreError> {
    query("SELECT log_size FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_optional(db)
        .await?
        .map(|r| r.get("log_size"))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound("tenant".into()))
}

/// Leaf hashes of positions `[start, end)`, in order.
pub(crate) async fn leaf_hashes(
    db: &Db,
    tenant: &str,
    start: i64,
    end: i64,
) -> Result<Vec<Hash>, StoreError> {
    let rows = query(
        "SELECT leaf_hash FROM usage_events WHERE tenant_id = $1 AND seq >= $2 AND seq < $3 \
         ORDER BY seq",
    )
    .bind(tenant)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await?;
    if rows.len() as i64 == end - start {
        return rows
            .into_iter()
            .map(|r| hash32(r.get("leaf_hash")?))
            .collect();
    }
    // Some positions were archived: their leaf hashes stayed behind in archived_leaves. While
    // an archive is being moved out a position can be in both, with the same hash.
    let mut by_seq = BTreeMap::new();
    for sql in [
        "SELECT seq, leaf_hash FROM usage_events WHERE tenant_id = $1 AND seq >= $2 AND seq < $3",
        "SELECT seq, leaf_hash FROM archived_leaves WHERE tenant_id = $1 AND seq >= $2 AND seq < $3",
    ] {
        for row in query(sql)
            .bind(tenant)
            .bind(start)
            .bind(end)
            .fetch_all(db)
            .await?
        {
            by_seq.insert(row.get::<i64>("seq")?, hash32(row.get("leaf_hash")?)?);
        }
    }
    if by_seq.len() as i64 != end - start {
        return Err(StoreError::Invariant(format!(
            "the log of {tenant} is missing leaves in {start}..{end}"
        )));
    }
    Ok(by_seq.into_values().collect())
}

/// Stores the roots of every complete tile below `size` that is not stored yet. Leaf hashes
/// of positions `known_start..` may be given (a receipt has just read them); the rest are
/// read from the log.
pub(super) async fn extend_tiles(
    db: &Db,
    tenant: &str,
    size: i64,
    known_start: i64,
    known: &[Hash],
) -> Result<(), StoreError> {
    let stored: Option<i64> = query("SELECT MAX(tile) AS tile FROM log_tiles WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(db)
        .await?
        .get("tile")?;
    let tile = TILE_LEAVES as i64;
    let mut next = stored.map_or(0, |t| t + 1) * tile;
    let want = size / tile * tile;
    while next < want {
        let end = (next + TILE_BATCH_LEAVES).min(want);
        let known_end = known_start + known.len() as i64;
        let roots = if next >= known_start && end <= known_end {
            tile_roots(&known[(next - known_start) as usize..(end - known_start) as usize])
        } else {
            tile_roots(&leaf_hashes(db, tenant, next, end).await?)
        };
        let mut sql = Sql::new("INSERT INTO log_tiles (tenant_id, tile, hash) VALUES ");
        for (i, root) in roots.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .push_bind(tenant)
                .push(", ")
                .push_bind(next / tile + i as i64)
                .push(", ")
                .push_bind(root.to_vec())
                .push(")");
        }
        sql.push(" ON CONFLICT (tenant_id, tile) DO NOTHING");
        sql.execute(db.write()).await?;
        next = end;
    }
    Ok(())
}

/// The tile roots and leaf hashes `needs` lists, of the tenant's log at `size`.
pub(super) async fn log_nodes(
    db: &Db,
    tenant: &str,
    size: i64,
    needs: &Needs,
) -> Result<Nodes, StoreError> {
    extend_tiles(db, tenant, size, 0, &[]).await?;
    let mut nodes = Nodes::new();
    for tiles in &needs.tiles {
        let rows = query(
            "SELECT tile, hash FROM log_tiles WHERE tenant_id = $1 AND tile >= $2 AND tile < $3 \
             ORDER BY tile",
        )
        .bind(tenant)
        .bind(tiles.start as i64)
        .bind(tiles.end as i64)
        .fetch_all(db)
        .await?;
        for row in rows {
            let tile: i64 = row.get("tile")?;
            nodes.add_tiles(tile as u64, [hash32(row.get("hash")?)?]);
        }
    }
    for leaves in &needs.leaves {
        let hashes = leaf_hashes(db, tenant, leaves.start as i64, leaves.end as i64).await?;
        nodes.add_leaves(leaves.start, hashes);
    }
    Ok(nodes)
}

row! {
    /// A live log entry.
    struct LiveEntryRow {
        seq: i64,
        entry: Vec<u8>,
        leaf_hash: Vec<u8>,
    }
}

row! {
    /// An archived log entry: its entry bytes are in the archive file.
    struct ArchivedEntryRow {
        seq: i64,
        leaf_hash: Vec<u8>,
    }
}

/// One log entry by its id (without its entry bytes once archived).
pub(super) async fn find_log_entry(
    db: &Db,
    tenant: &str,
    log_id: &str,
) -> Result<Option<LogEntry>, StoreError> {
    let live: Option<LiveEntryRow> = query(
        "SELECT seq, entry, leaf_hash FROM usage_events WHERE tenant_id = $1 AND log_id = $2",
    )
    .bind(tenant)
    .bind(log_id)
    .fetch_optional_as(db)
    .await?;
    if let Some(r) = live {
        return Ok(Some(LogEntry {
            seq: r.seq,
            entry: Some(r.entry),
            leaf_hash: r.leaf_hash,
        }));
    }
    let archived: Option<ArchivedEntryRow> =
        query("SELECT seq, leaf_hash FROM archived_leaves WHERE tenant_id = $1 AND log_id = $2")
            .bind(tenant)
            .bind(log_id)
            .fetch_optional_as(db)
            .await?;
    Ok(archived.map(|r| LogEntry {
        seq: r.seq,
        entry: None,
        leaf_hash: r.leaf_hash,
    }))
}

const CHECKPOINT_COLUMNS: &str = "tenant_id, size, root, key_id, note, created_us";

row! {
    /// A `checkpoints` row, as [`CHECKPOINT_COLUMNS`] reads it.
    struct CheckpointRow {
        tenant_id: String,
        size: i64,
        root: Vec<u8>,
        key_id: String,
        note: String,
        created_us: i64,
    }
}

impl TryFrom<CheckpointRow> for StoredCheckpoint {
    type Error = StoreError;

    fn try_from(r: CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
        Ok(StoredCheckpoint {
            tenant_id: r.tenant_id,
            size: r.size,
            root: hash32(r.root)?,
            key_id: r.key_id,
            note: r.note,
            created_us: r.created_us,
        })
    }
}

/// Stores a checkpoint unless one of that size exists; returns the stored one.
pub(super) async fn save_checkpoint(
    db: &Db,
    cp: &StoredCheckpoint,
) -> Result<StoredCheckpoint, StoreError> {
    query(format!(
        "INSERT INTO checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id, size) DO NOTHING"
    ))
    .bind(&cp.tenant_id)
    .bind(cp.size)
    .bind(cp.root.to_vec())
    .bind(&cp.key_id)
    .bind(&cp.note)
    .bind(cp.created_us)
    .execute(db.write())
    .await?;
    checkpoint_at(db, &cp.tenant_id, Some(cp.size))
        .await?
        .ok_or_else(|| StoreError::Invariant("a saved checkpoint is missing".into()))
}

/// The checkpoint of size `size`, or the latest one.
pub(super) async fn checkpoint_at(
    db: &Db,
    tenant: &str,
    size: Option<i64>,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    let row: Option<CheckpointRow> = match size {
        Some(size) => {
            query(format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant_id = $1 AND size = $2"
            ))
            .bind(tenant)
            .bind(size)
            .fetch_optional_as(db)
            .await?
        }
        None => {
            query(format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant_id = $1 \
                 ORDER BY size DESC LIMIT 1"
            ))
            .bind(tenant)
            .fetch_optional_as(db)
            .await?
        }
    };
    row.map(StoredCheckpoint::try_from).transpose()
}

/// The columns of a `signing_keys` row.
const SIGNING_KEY_COLUMNS: &str = "key_id, public_key, created_us, retired_us";

row! {
    /// A `signing_keys` row, as [`SIGNING_KEY_COLUMNS`] reads it.
    struct SigningKeyRow {
        key_id: String,
        public_key: String,
        created_us: i64,
        retired_us: Option<i64>,
    }
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> SigningKeyRecord {
        SigningKeyRecord {
            key_id: r.key_id,
            public_key: r.public_key,
            created_us: r.created_us,
            retired_us: r.retired_us,
        }
    }
}

/// Records a public key (first use wins); returns the record.
pub(super) async fn register_signing_key(
    db: &Db,
    key_id: &str,
    public_key: &str,
) -> Result<SigningKeyRecord, StoreError> {
    query(
        "INSERT INTO signing_keys (key_id, public_key, created_us) VALUES ($1, $2, $3) \
         ON CONFLICT (key_id) DO NOTHING",
    )
    .bind(key_id)
    .bind(public_key)
    .bind(now_us())
    .execute(db.write())
    .await?;
    let record = SigningKeyRecord::from(
        query(format!(
            "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys WHERE key_id = $1"
        ))
        .bind(key_id)
        .fetch_one_as::<SigningKeyRow>(db)
        .await?,
    );
    if record.public_key != public_key {
        return Err(StoreError::Conflict(format!(
            "key id {key_id} is already recorded with another public key"
        )));
    }
    Ok(record)
}

/// Marks a key retired now (a newer key replaced it); retiring twice keeps the first time.
pub(super) async fn retire_signing_key(db: &Db, key_id: &str) -> Result<(), StoreError> {
    query("UPDATE signing_keys SET retired_us = $1 WHERE key_id = $2 AND retired_us IS NULL")
        .bind(now_us())
        .bind(key_id)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Every key that has signed, oldest first.
pub(super) async fn signing_keys(db: &Db) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let rows = query(format!(
        "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_us, key_id"
    ))
    .fetch_all_as::<SigningKeyRow>(db)
    .await?;
    Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
}
