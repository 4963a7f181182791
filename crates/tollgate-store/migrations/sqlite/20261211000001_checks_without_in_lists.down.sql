-- Down step: restores the schema as it was before the up step: the same constraints, written
-- as IN lists. Nothing is lost: every row is copied back.

CREATE TABLE ledger_entries_copy AS SELECT * FROM ledger_entries;
DROP TABLE ledger_entries;
CREATE TABLE ledger_entries (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    id                   TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('charge', 'refund', 'topup', 'adjustment', 'hold', 'release')),
    amount_nanos         BIGINT NOT NULL CHECK (amount_nanos >= 0),
    delta_nanos          BIGINT NOT NULL,
    currency             TEXT NOT NULL,
    balance_before_nanos BIGINT NOT NULL,
    balance_after_nanos  BIGINT NOT NULL,
    -- The usage event, the hold and the client's request it belongs to.
    log_id               TEXT,
    hold_id              TEXT,
    request_id           TEXT,
    payment_provider     TEXT,
    payment_id           TEXT,
    description          TEXT,
    metadata             TEXT,
    -- Bits: 1 over the daily limit, 2 over the monthly limit, 4 balance below zero.
    flags                BIGINT NOT NULL DEFAULT 0,
    -- The Idempotency-Key of the request that wrote it, and a hash of that request's body.
    idempotency_key      TEXT,
    request_hash         TEXT,
    created_us           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES billing_accounts (tenant_id, user_id),
    CHECK (balance_after_nanos = balance_before_nanos + delta_nanos)
);
INSERT INTO ledger_entries (tenant_id, id, user_id, kind, amount_nanos, delta_nanos, currency,
    balance_before_nanos, balance_after_nanos, log_id, hold_id, request_id, payment_provider,
    payment_id, description, metadata, flags, idempotency_key, request_hash, created_us)
SELECT tenant_id, id, user_id, kind, amount_nanos, delta_nanos, currency,
    balance_before_nanos, balance_after_nanos, log_id, hold_id, request_id, payment_provider,
    payment_id, description, metadata, flags, idempotency_key, request_hash, created_us
FROM ledger_entries_copy ORDER BY rowid;
DROP TABLE ledger_entries_copy;
CREATE INDEX ledger_by_account ON ledger_entries (tenant_id, user_id, created_us);
CREATE UNIQUE INDEX ledger_by_idempotency_key ON ledger_entries (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Ledger entries are never changed or removed.
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry cannot change; append a correcting entry');
END;
CREATE TRIGGER ledger_entries_append_only BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'a ledger entry cannot be removed; append a correcting entry');
END;

CREATE TABLE holds_copy AS SELECT * FROM holds;
DROP TABLE holds;
-- Reservations made by authorize: open until a usage event settles them or they expire.
CREATE TABLE holds (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    -- '' for a hold on the tenant's quota only (no user).
    user_id      TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_nanos BIGINT NOT NULL CHECK (amount_nanos >= 0),
    -- The day and month it was placed in (UTC).
    day          BIGINT NOT NULL,
    month        BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'settled', 'expired', 'released')),
    created_us   BIGINT NOT NULL,
    expires_us   BIGINT NOT NULL,
    closed_us    BIGINT,
    -- The usage event that settled it.
    log_id       TEXT,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO holds (tenant_id, id, user_id, currency, amount_nanos, day, month, status,
    created_us, expires_us, closed_us, log_id)
SELECT tenant_id, id, user_id, currency, amount_nanos, day, month, status,
    created_us, expires_us, closed_us, log_id
FROM holds_copy ORDER BY rowid;
DROP TABLE holds_copy;
CREATE INDEX holds_open_by_expiry ON holds (expires_us) WHERE status = 'open';
CREATE INDEX holds_open_by_month ON holds (tenant_id, month) WHERE status = 'open';

CREATE TABLE rate_windows_copy AS SELECT * FROM rate_windows;
DROP TABLE rate_windows;
-- Requests and tokens authorized per subject and UTC minute (see 20261209000001).
CREATE TABLE rate_windows (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('key', 'user', 'ip')),
    subject   TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    requests  BIGINT NOT NULL CHECK (requests >= 0),
    tokens    BIGINT NOT NULL CHECK (tokens >= 0),
    PRIMARY KEY (tenant_id, kind, subject, minute)
);
INSERT INTO rate_windows (tenant_id, kind, subject, minute, requests, tokens)
SELECT tenant_id, kind, subject, minute, requests, tokens FROM rate_windows_copy;
DROP TABLE rate_windows_copy;
CREATE INDEX rate_windows_by_minute ON rate_windows (minute);
