-- Alerts by email: the addresses a tenant's alerts go to, and one delivery per (alert,
-- address) that the server's mail worker sends through the configured SMTP server and retries
-- like a webhook delivery.

-- A tenant's alert recipients. The list is replaced whole by an admin (`PUT
-- /api/v1/alerts/email`); `set_by` names the key that set it and `created_us` when, so a
-- person can tell who chose where the tenant's alerts go.
CREATE TABLE alert_recipients (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    email       TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, email)
);

-- One alert to one address, with its outcome so far. The UNIQUE constraint is what makes an
-- alert go to an address once, whichever instance fans it out; a worker claims a due delivery
-- by setting `lease_until_us` (as `webhook_deliveries` does), so two instances never send the
-- same one, and a worker that dies mid-send leaves a lease that simply expires.
-- `last_status_code` is the SMTP server's last reply code.
CREATE TABLE email_deliveries (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT,
    lease_until_us   BIGINT,
    last_attempt_us  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_us       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, event_id, recipient),
    FOREIGN KEY (tenant_id, event_id) REFERENCES alert_events (tenant_id, id)
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_us)
    WHERE status = 'pending';
