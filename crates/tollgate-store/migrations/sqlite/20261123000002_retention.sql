-- Retention: old usage events move to compressed archive files, leaving behind the slim
-- leaf-hash rows that keep every tenant log provable; archives record their progress so that
-- a crash in the middle loses nothing; a lease keeps one retention runner per tenant.
--
-- Rollups, receipts and their ranges, ledger entries, checkpoints and log tiles are never
-- removed by retention.

-- One archive file of a tenant's events from one UTC month (a month whose events arrive late
-- gets a further part). The row is written once the file and its manifest are fsynced; state
-- then only moves forward:
--   written  the file holds the events; the live rows are being moved out (or not yet);
--   removed  every archived event left usage_events (its leaf hash is in archived_leaves);
--   deleted  the file is gone (past the delete age); this row and the leaf hashes remain.
CREATE TABLE retention_archives (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    -- '<yyyy-mm>-<first_seq>', also the file's name without extension.
    id          TEXT NOT NULL,
    month       BIGINT NOT NULL, -- yyyymm, UTC
    first_seq   BIGINT NOT NULL CHECK (first_seq >= 0),
    last_seq    BIGINT NOT NULL,
    event_count BIGINT NOT NULL CHECK (event_count > 0),
    -- RFC 6962 root over the archived events' leaf hashes in seq order.
    root        BLOB NOT NULL CHECK (length(root) = 32),
    -- SHA-256 (hex) of the compressed file, and its path relative to the archive directory.
    sha256      TEXT NOT NULL,
    file        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('written', 'removed', 'deleted')),
    created_us  BIGINT NOT NULL,
    removed_us  BIGINT,
    deleted_us  BIGINT,
    PRIMARY KEY (tenant_id, id),
    CHECK (last_seq >= first_seq AND event_count <= last_seq - first_seq + 1)
);

-- The leaf hash (and id) of every archived event, so that roots, inclusion and consistency
-- proofs, and receipts' set commitments keep working after the heavy row has left.
CREATE TABLE archived_leaves (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL CHECK (seq >= 0),
    log_id      TEXT NOT NULL,
    leaf_hash   BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    archive_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    FOREIGN KEY (tenant_id, archive_id) REFERENCES retention_archives (tenant_id, id)
);
CREATE INDEX archived_leaves_by_log ON archived_leaves (tenant_id, log_id);

-- Who runs retention for a tenant, until when. Taken and renewed by one UPDATE that only
-- succeeds for the holder or after expiry, so instances sharing a database never run one
-- tenant's retention at the same time.
CREATE TABLE retention_leases (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants (id),
    holder      TEXT NOT NULL,
    expires_us  BIGINT NOT NULL
);

-- A logged event leaves the live table only into a recorded archive: its leaf hash must
-- already be kept (same hash) under an archive whose file is written.
CREATE TRIGGER usage_events_removed_only_when_archived BEFORE DELETE ON usage_events
WHEN NOT EXISTS (
    SELECT 1 FROM archived_leaves a JOIN retention_archives r
        ON r.tenant_id = a.tenant_id AND r.id = a.archive_id
    WHERE a.tenant_id = OLD.tenant_id AND a.seq = OLD.seq AND a.leaf_hash = OLD.leaf_hash
      AND r.state = 'written'
)
BEGIN
    SELECT RAISE(ABORT, 'a logged event can only be removed into a recorded archive');
END;

-- Kept leaf hashes never change or go.
CREATE TRIGGER archived_leaves_immutable BEFORE UPDATE ON archived_leaves
BEGIN
    SELECT RAISE(ABORT, 'an archived leaf hash cannot change');
END;
CREATE TRIGGER archived_leaves_kept BEFORE DELETE ON archived_leaves
BEGIN
    SELECT RAISE(ABORT, 'an archived leaf hash cannot be removed');
END;

-- An archive's record is never removed, and what it says about its file never changes; only
-- its state (forward) and the times of the moves do.
CREATE TRIGGER retention_archives_kept BEFORE DELETE ON retention_archives
BEGIN
    SELECT RAISE(ABORT, 'an archive record cannot be removed');
END;
CREATE TRIGGER retention_archives_immutable BEFORE UPDATE OF
    tenant_id, id, month, first_seq, last_seq, event_count, root, sha256, file, created_us
ON retention_archives
BEGIN
    SELECT RAISE(ABORT, 'an archive record cannot change');
END;
CREATE TRIGGER retention_archives_forward BEFORE UPDATE OF state ON retention_archives
WHEN NOT ((OLD.state = 'written' AND NEW.state IN ('written', 'removed'))
       OR (OLD.state = 'removed' AND NEW.state IN ('removed', 'deleted'))
       OR (OLD.state = 'deleted' AND NEW.state = 'deleted'))
BEGIN
    SELECT RAISE(ABORT, 'an archive state only moves forward');
END;
