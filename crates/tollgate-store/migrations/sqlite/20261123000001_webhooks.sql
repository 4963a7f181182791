-- Alert webhooks: the endpoints a tenant registers, the alert events Tollgate raises (a
-- transactional outbox written in the transaction that crosses a threshold), and one delivery
-- per (endpoint, event) that the background worker sends and retries.

-- A tenant's endpoint. `event_types` is a JSON array of the event types it receives. The
-- secret (`whsec_` + base64) signs every delivery; it is stored as given, since signing needs it.
CREATE TABLE webhook_endpoints (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_types  TEXT NOT NULL,
    description  TEXT,
    created_us   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One alert. `dedupe_key` says which threshold of which period and amount it is: for example
-- `limit:daily:2026-11-23:1000000000:90:user-1` (90% of account user-1's daily limit of 1, in
-- nanos, on that UTC day), `quota:2026-11:10000:80`, `balance:2026-11-23:USD:user-1` or
-- `receipt:{receipt id}`. The UNIQUE constraint is what makes a threshold fire once per period
-- (and limit or quota amount: a changed one fires again), also across instances sharing one
-- database; writers insert with ON CONFLICT DO NOTHING. `dispatched` turns 1 once the event was fanned out to the endpoints.
CREATE TABLE alert_events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    dispatched  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX alert_events_undispatched ON alert_events (created_us) WHERE dispatched = 0;

-- One event to one endpoint, with its outcome so far: the delivery log. A worker claims a due
-- delivery by setting `lease_until_us`; a worker that dies mid-send leaves a lease that simply
-- expires, so nothing is lost across restarts (the receiver may see a repeat: the
-- `webhook-id` header stays the event id for that).
CREATE TABLE webhook_deliveries (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT,
    lease_until_us   BIGINT,
    last_attempt_us  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_us       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id) REFERENCES alert_events (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_us)
    WHERE status = 'pending';
