-- Rate limits: requests and tokens per minute, per API key, per end user and per client IP.
--
-- A plan sets the limits of every key, user and IP of its tenants (NULL: none); an override
-- replaces the plan's limits for one key or one user of a tenant. Authorization decides
-- against `rate_windows` inside its own transaction, after it has locked the tenant's quota
-- row, so every authorization of a tenant, on every instance, counts against the same rows in
-- turn: the count is exact, never a per-instance estimate.
ALTER TABLE plans ADD COLUMN key_rpm BIGINT CHECK (key_rpm >= 0);
ALTER TABLE plans ADD COLUMN key_tpm BIGINT CHECK (key_tpm >= 0);
ALTER TABLE plans ADD COLUMN user_rpm BIGINT CHECK (user_rpm >= 0);
ALTER TABLE plans ADD COLUMN user_tpm BIGINT CHECK (user_tpm >= 0);
ALTER TABLE plans ADD COLUMN ip_rpm BIGINT CHECK (ip_rpm >= 0);
ALTER TABLE plans ADD COLUMN ip_tpm BIGINT CHECK (ip_tpm >= 0);

-- One key's or one user's own limits. NULL: that limit is the plan's.
CREATE TABLE rate_limit_overrides (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    kind       TEXT NOT NULL CHECK (kind IN ('key', 'user')),
    subject    TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    rpm        BIGINT CHECK (rpm >= 0),
    tpm        BIGINT CHECK (tpm >= 0),
    set_by     TEXT NOT NULL,
    updated_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, subject)
);

-- Requests and tokens authorized per subject and UTC minute (minutes since 1970-01-01). A
-- decision weighs the current minute and the one before it (a sliding window); older rows
-- are deleted by the hold-expiry job.
CREATE TABLE rate_windows (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('key', 'user', 'ip')),
    subject   TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    requests  BIGINT NOT NULL CHECK (requests >= 0),
    tokens    BIGINT NOT NULL CHECK (tokens >= 0),
    PRIMARY KEY (tenant_id, kind, subject, minute)
);
CREATE INDEX rate_windows_by_minute ON rate_windows (minute);
