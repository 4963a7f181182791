-- Receipts and the tenant log's Merkle tree: completed tiles, signed checkpoints, the signing
-- keys ever used, receipts with the sequence ranges they certify, and the union of every
-- certified range (what "since the last receipt" leaves out).

-- The input-side share of cost_nanos (uncached, cached and cache-write prompt tokens), so that
-- receipts split input from output cost exactly. NULL for events recorded before it existed
-- or priced by the client without a split: their whole cost counts as output.
ALTER TABLE usage_events ADD COLUMN input_cost_nanos BIGINT;

-- Once written, a logged event never changes, apart from its client metadata (which retention
-- may drop): receipts and checkpoints prove against its entry, and receipt totals are summed
-- from its columns.
CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash
ON usage_events
BEGIN
    SELECT RAISE(ABORT, 'a logged event cannot change (only its metadata may be dropped)');
END;

-- The root of every complete, aligned group of 256 leaves of a tenant's log (tile t covers
-- seq 256t .. 256t+255). With the leaf hashes, any root or proof reads one tile of leaves,
-- the tail and these roots, never the whole log.
CREATE TABLE log_tiles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    tile        BIGINT NOT NULL CHECK (tile >= 0),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, tile)
);

-- Signed checkpoints (C2SP signed notes) of each tenant's log, all kept.
CREATE TABLE checkpoints (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    size        BIGINT NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL CHECK (length(root) = 32),
    key_id      TEXT NOT NULL,
    note        TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, size)
);

-- Every public key that has signed, so that old receipts verify after a rotation. The
-- private keys live in files, never here.
CREATE TABLE signing_keys (
    key_id      TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL, -- raw 32 bytes, base64url without padding
    created_us  BIGINT NOT NULL,
    retired_us  BIGINT
);

CREATE TABLE receipts (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    issued_us       BIGINT NOT NULL,
    receipt_type    TEXT NOT NULL,
    key_id          TEXT NOT NULL REFERENCES signing_keys (key_id),
    log_count       BIGINT NOT NULL CHECK (log_count > 0),
    root            BLOB NOT NULL CHECK (length(root) = 32),
    -- The signed receipt, served byte for byte.
    document        TEXT NOT NULL,
    -- The roots of the certified set's complete 256-leaf tiles, concatenated (32 bytes each),
    -- so that a proof in a large receipt reads one tile of leaves, not the whole set.
    tiles           BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX receipts_by_time ON receipts (tenant_id, issued_us);

CREATE TABLE receipt_tags (
    tenant_id   TEXT NOT NULL,
    tag         TEXT NOT NULL,
    receipt_id  TEXT NOT NULL,
    issued_us   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, tag, receipt_id),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES receipts (tenant_id, id)
);

-- Which logs a receipt certifies: runs of consecutive seq [start_seq, end_seq), in order;
-- first_index is the position of start_seq in the receipt's set (its Merkle leaf index).
CREATE TABLE receipt_ranges (
    tenant_id   TEXT NOT NULL,
    receipt_id  TEXT NOT NULL,
    first_index BIGINT NOT NULL CHECK (first_index >= 0),
    start_seq   BIGINT NOT NULL CHECK (start_seq >= 0),
    end_seq     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, receipt_id, first_index),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES receipts (tenant_id, id),
    CHECK (end_seq > start_seq)
);

-- The union of every receipt's ranges, merged: disjoint, non-adjacent [start_seq, end_seq).
CREATE TABLE certified_ranges (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    start_seq   BIGINT NOT NULL,
    end_seq     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, start_seq),
    CHECK (end_seq > start_seq)
);

-- Per tenant: how many logs some receipt certifies, and a version bumped by every receipt,
-- which "since the last receipt" generation checks under this row's lock so that two
-- concurrent generations never certify the same log.
CREATE TABLE receipt_state (
    tenant_id       TEXT PRIMARY KEY REFERENCES tenants (id),
    certified_count BIGINT NOT NULL CHECK (certified_count >= 0),
    version         BIGINT NOT NULL
);

-- Receipts, their tags and ranges, and checkpoints are never changed once written.
CREATE TRIGGER receipts_immutable BEFORE UPDATE ON receipts
BEGIN
    SELECT RAISE(ABORT, 'a stored receipt cannot change');
END;
CREATE TRIGGER receipt_ranges_immutable BEFORE UPDATE ON receipt_ranges
BEGIN
    SELECT RAISE(ABORT, 'the logs a receipt certifies cannot change');
END;
CREATE TRIGGER checkpoints_immutable BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'a signed checkpoint cannot change');
END;
