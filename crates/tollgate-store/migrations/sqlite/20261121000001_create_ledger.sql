-- Tollgate's first schema: tenants and keys, the per-tenant usage log with its canonical
-- entries, the daily and monthly rollups, conversations and their messages, and prices.
--
-- Conventions (the same in the SQLite tree):
--   * every table leads with tenant_id, so the schema can be sharded by tenant;
--   * instants are BIGINT microseconds since the Unix epoch, UTC (*_us);
--   * money is BIGINT nano-units of a currency (*_nanos), never floating point;
--   * flags and booleans are BIGINT 0/1 bit sets, so both engines read them alike.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_us  BIGINT NOT NULL,
    -- Number of events in the tenant's log; the next event gets seq = log_size. Appends lock
    -- this row, which serialises them per tenant across every Tollgate instance.
    log_size    BIGINT NOT NULL DEFAULT 0 CHECK (log_size >= 0)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    -- SHA-256 of the whole key, hex. Keys are 256-bit random, so an unsalted hash is enough
    -- to make a leaked table useless; the key itself is shown once and never stored.
    key_hash    TEXT NOT NULL UNIQUE,
    -- The first characters of the key, to tell keys apart in listings.
    prefix      TEXT NOT NULL,
    name        TEXT,
    -- Comma-separated scopes: ingest, read, admin, operator.
    scopes      TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    revoked_us  BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

CREATE TABLE usage_events (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    -- Position in the tenant's log: 0, 1, 2, ... without gaps.
    seq                 BIGINT NOT NULL CHECK (seq >= 0),
    log_id              TEXT NOT NULL,
    -- The client's idempotency key: a repeat returns the first result.
    request_id          TEXT,
    ts_us               BIGINT NOT NULL,
    recorded_us         BIGINT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    alias               TEXT,
    profile             TEXT NOT NULL,
    origin              TEXT,
    id_at_origin        TEXT,
    user_id             TEXT,
    conversation_id     TEXT,
    input_tokens        BIGINT NOT NULL CHECK (input_tokens >= 0),
    output_tokens       BIGINT NOT NULL CHECK (output_tokens >= 0),
    cached_input_tokens BIGINT NOT NULL CHECK (cached_input_tokens >= 0),
    cache_write_tokens  BIGINT NOT NULL CHECK (cache_write_tokens >= 0),
    reasoning_tokens    BIGINT NOT NULL CHECK (reasoning_tokens >= 0),
    latency_ms          BIGINT,
    cost_nanos          BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    -- The price entry the cost was computed with; NULL when unpriced or client-priced.
    price_version       TEXT,
    -- Bits: 1 cached_response, 2 unpriced, 4 estimated, 8 client_cost.
    flags               BIGINT NOT NULL DEFAULT 0,
    -- 'usage' or 'conversation': the route that recorded it.
    source              TEXT NOT NULL,
    -- Client metadata, a JSON object as text; not part of the canonical entry.
    metadata            TEXT,
    -- The canonical entry (RFC 8785 JSON) and its RFC 6962 leaf hash. Written once, never
    -- updated: receipts and checkpoints prove against these bytes.
    entry               BLOB NOT NULL,
    leaf_hash           BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, log_id),
    CHECK (cached_input_tokens + cache_write_tokens <= input_tokens),
    CHECK (reasoning_tokens <= output_tokens)
);
-- Only calls that carry a request id are indexed by it: most llmring traffic has none.
CREATE UNIQUE INDEX usage_events_by_request ON usage_events (tenant_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX usage_events_by_time ON usage_events (tenant_id, ts_us);
CREATE INDEX usage_events_by_conversation ON usage_events (tenant_id, conversation_id)
    WHERE conversation_id IS NOT NULL;
CREATE INDEX usage_events_by_user ON usage_events (tenant_id, user_id, ts_us)
    WHERE user_id IS NOT NULL;
CREATE INDEX usage_events_unpriced ON usage_events (tenant_id, ts_us)
    WHERE (flags & 2) <> 0;

-- Daily totals per dimension, updated in the same transaction as the events. Absent
-- dimensions are '' so that the primary key can carry them.
CREATE TABLE usage_daily (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    day                 BIGINT NOT NULL, -- days since 1970-01-01, UTC
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    alias               TEXT NOT NULL,
    origin              TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    currency            TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cached_responses    BIGINT NOT NULL,
    unpriced            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, provider, model, alias, origin, user_id, currency)
);

-- Monthly totals per provider and model (quotas and cost reports).
CREATE TABLE usage_monthly (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    month               BIGINT NOT NULL, -- yyyymm, UTC
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    currency            TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cached_responses    BIGINT NOT NULL,
    unpriced            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, provider, model, currency)
);

CREATE TABLE conversations (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    id                  TEXT NOT NULL,
    title               TEXT,
    system_prompt       TEXT,
    model_alias         TEXT NOT NULL,
    temperature         REAL NOT NULL,
    max_tokens          BIGINT,
    message_count       BIGINT NOT NULL,
    total_input_tokens  BIGINT NOT NULL,
    total_output_tokens BIGINT NOT NULL,
    total_cost_nanos    BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    -- The assistant message that answered the logged call.
    response_message_id TEXT,
    -- 1 once llmring's second post of this call (to /api/v1/log) has been matched to it, so
    -- that a later, different call naming the conversation is recorded as a call of its own.
    companion_claimed   BIGINT NOT NULL DEFAULT 0,
    created_us          BIGINT NOT NULL,
    updated_us          BIGINT NOT NULL,
    last_message_us     BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conversations_by_update ON conversations (tenant_id, updated_us);

CREATE TABLE messages (
    tenant_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    position        BIGINT NOT NULL,
    id              TEXT NOT NULL,
    role            TEXT NOT NULL,
    -- The content as JSON text (a string, or a list of parts), or NULL when the server's
    -- logging level keeps metadata only; content_hash is the SHA-256 hex of the content.
    content         TEXT,
    content_hash    TEXT,
    input_tokens    BIGINT,
    output_tokens   BIGINT,
    tool_calls      TEXT,
    tool_results    TEXT,
    metadata        TEXT,
    ts_us           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, position),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
);

-- Prices imported into the database; tenant_id '' applies to every tenant. Rates are exact
-- decimal strings per million tokens. An entry is never changed once events may use it: a
-- new price is a new effective_from.
CREATE TABLE prices (
    tenant_id         TEXT NOT NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    effective_from_us BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    input             TEXT NOT NULL,
    output            TEXT NOT NULL,
    cached_input      TEXT,
    cache_write       TEXT,
    reasoning         TEXT,
    created_us        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, provider, model, effective_from_us)
);
