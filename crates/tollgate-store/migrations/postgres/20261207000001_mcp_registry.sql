-- llmring's MCP registry (llmring-mcp §1–2), per tenant: the MCP servers a tenant uses, the
-- tools, resources and prompts they offer, and the tool executions recorded against them.
-- Ids are bare UUIDs, as llmring's clients send and read them. Every table leads with
-- tenant_id, and every lookup names it: another tenant's row is a missing row.

CREATE TABLE mcp_servers (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    url             TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 1000),
    transport_type  TEXT NOT NULL CHECK (transport_type IN ('stdio', 'http', 'websocket')),
    -- JSON objects as text; NULL when absent or empty.
    auth_config     TEXT,
    capabilities    TEXT,
    is_active       BIGINT NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mcp_servers_by_creation ON mcp_servers (tenant_id, created_us);
-- A tool is priced and counted as `<server name>/<tool name>`, so a name names one server.
CREATE UNIQUE INDEX mcp_servers_by_name ON mcp_servers (tenant_id, name);

-- A tool may carry its own price (exact decimal strings, per call and per unit of the
-- quantity an execution reports); without one the price book prices it.
CREATE TABLE mcp_tools (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    server_id       TEXT NOT NULL,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description     TEXT,
    input_schema    TEXT NOT NULL,
    is_active       BIGINT NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    price_per_call  TEXT,
    price_per_unit  TEXT,
    currency        TEXT,
    created_us      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, server_id, name),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mcp_resources (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    server_id       TEXT NOT NULL,
    uri             TEXT NOT NULL CHECK (length(uri) BETWEEN 1 AND 1000),
    name            TEXT,
    description     TEXT,
    mime_type       TEXT,
    is_active       BIGINT NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_us      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, server_id, uri),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);

-- arguments: any JSON (MCP prompt arguments are an array; llmring's CLI sends an object),
-- stored as text and returned unchanged.
CREATE TABLE mcp_prompts (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    server_id       TEXT NOT NULL,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description     TEXT,
    arguments       TEXT,
    is_active       BIGINT NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_us      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, server_id, name),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);

-- One recorded execution. log_id names the usage event that metered it (NULL when it was not
-- metered: no user, or a failure that is not charged); the event stays in the tenant log when
-- the execution row goes with its tool. request_id makes a retried execution one execution.
CREATE TABLE mcp_tool_executions (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    tool_id         TEXT NOT NULL,
    conversation_id TEXT,
    input           TEXT,
    output          TEXT,
    error           TEXT,
    duration_ms     BIGINT CHECK (duration_ms >= 0),
    units           BIGINT CHECK (units >= 0),
    user_id         TEXT,
    request_id      TEXT,
    log_id          TEXT,
    executed_us     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, tool_id) REFERENCES mcp_tools (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mcp_tool_executions_by_tool ON mcp_tool_executions (tenant_id, tool_id, executed_us);
CREATE UNIQUE INDEX mcp_tool_executions_by_request ON mcp_tool_executions (tenant_id, request_id)
    WHERE request_id IS NOT NULL;

-- The quantity a metered tool execution reported (pages, queries, ...), priced per unit.
-- Nullable and without a default, so existing rows are not rewritten; the canonical entry
-- carries it only when present, so no stored entry's bytes change.
ALTER TABLE usage_events ADD COLUMN units BIGINT;

DROP TRIGGER usage_events_immutable ON usage_events;
CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash,
    lock_digest, units
    ON usage_events FOR EACH ROW
    EXECUTE FUNCTION tollgate_refuse_update('a logged event cannot change (only its metadata may be dropped)');
