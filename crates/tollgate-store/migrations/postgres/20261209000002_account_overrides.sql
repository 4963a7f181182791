-- Admin overrides on an account, each recorded with who set it.
--
-- An overdraft lets `authorize` admit calls while the balance of one currency is above minus
-- that amount; `exempt_until_us` lifts the account's daily and monthly limits and its user's
-- rate limits until then; a suspension is `is_active = 0` with its reason. Usage is charged as
-- before in every case: a call that happened is never refused.
ALTER TABLE account_balances ADD COLUMN overdraft_nanos BIGINT NOT NULL DEFAULT 0
    CHECK (overdraft_nanos >= 0);
ALTER TABLE billing_accounts ADD COLUMN exempt_until_us BIGINT;
ALTER TABLE billing_accounts ADD COLUMN suspended_reason TEXT;

-- The audit trail of an account's overrides: what changed, to what, who changed
-- it and when. Append-only.
CREATE TABLE account_audit (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('overdraft', 'suspend', 'resume', 'exempt')),
    -- The change, as a JSON object.
    detail     TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX account_audit_by_user ON account_audit (tenant_id, user_id, created_us);
