-- Plans, billing accounts, their balances and spend, the append-only ledger, holds and quota
-- reservations: what `POST /api/v1/authorize` decides on and what a usage event charges.
--
-- Money is BIGINT nanos of the row's currency, as everywhere. Limits are in one currency per
-- account (limit_currency); spend in other currencies does not count against them.

-- The plan of each tenant; NULL means the configured default plan.
ALTER TABLE tenants ADD COLUMN plan TEXT;

-- One account per (tenant, user); user_id '' is the tenant's own account. Created on first use
-- with the configured defaults.
CREATE TABLE billing_accounts (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    user_id             TEXT NOT NULL,
    is_active           BIGINT NOT NULL,
    billing_enabled     BIGINT NOT NULL,
    limit_currency      TEXT NOT NULL,
    -- NULL: no limit.
    daily_limit_nanos   BIGINT CHECK (daily_limit_nanos >= 0),
    monthly_limit_nanos BIGINT CHECK (monthly_limit_nanos >= 0),
    total_requests      BIGINT NOT NULL DEFAULT 0,
    last_request_us     BIGINT,
    created_us          BIGINT NOT NULL,
    updated_us          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Per account and currency: the balance (always the sum of the ledger's deltas), what open
-- holds reserve, and lifetime charges. Authorization and charging lock this row.
CREATE TABLE account_balances (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance_nanos   BIGINT NOT NULL,
    held_nanos      BIGINT NOT NULL CHECK (held_nanos >= 0),
    spent_nanos     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, currency),
    FOREIGN KEY (tenant_id, user_id) REFERENCES billing_accounts (tenant_id, user_id)
);

-- Charges per account, currency and period, for the daily and monthly limits (open holds
-- count against both limits through account_balances.held_nanos, whatever day they were
-- placed, so a hold never needs to touch these rows). period is days since 1970-01-01 (kind
-- 'day') or yyyymm (kind 'month'), UTC.
CREATE TABLE account_spend (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('day', 'month')),
    period      BIGINT NOT NULL,
    spent_nanos BIGINT NOT NULL,
    requests    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, currency, kind, period)
);

-- The ledger: every change to an account, append-only (a correction is a new entry).
-- delta_nanos is the entry's effect on the balance (charges negative, top-ups positive;
-- holds and releases 0, they move held_nanos); amount_nanos its size as a person reads it.
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
CREATE INDEX ledger_by_account ON ledger_entries (tenant_id, user_id, created_us);
CREATE UNIQUE INDEX ledger_by_idempotency_key ON ledger_entries (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

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
CREATE INDEX holds_open_by_expiry ON holds (expires_us) WHERE status = 'open';

-- Requests reserved against each tenant's monthly quota by open holds. Authorization locks
-- the row of the current month.
CREATE TABLE quota_reservations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    month       BIGINT NOT NULL,
    reserved    BIGINT NOT NULL CHECK (reserved >= 0),
    PRIMARY KEY (tenant_id, month)
);

-- Ledger entries are never changed or removed (tollgate_refuse_update comes with the receipts
-- migration).
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW
    EXECUTE FUNCTION tollgate_refuse_update('a ledger entry cannot change or be removed; append a correcting entry');
