-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.
-- Nothing is lost: the reserved count comes back as what the up step replaced it with, the
-- tenant's open holds of the month.

DROP INDEX holds_open_by_month;

-- SQLite cannot add a NOT NULL column without a default: the table is rebuilt as it was.
CREATE TABLE quota_reservations_down AS SELECT tenant_id, month FROM quota_reservations;
DROP TABLE quota_reservations;
CREATE TABLE quota_reservations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    month       BIGINT NOT NULL,
    reserved    BIGINT NOT NULL CHECK (reserved >= 0),
    PRIMARY KEY (tenant_id, month)
);
INSERT INTO quota_reservations (tenant_id, month, reserved)
SELECT q.tenant_id, q.month, (SELECT COUNT(*) FROM holds h
        WHERE h.tenant_id = q.tenant_id AND h.month = q.month AND h.status = 'open')
FROM quota_reservations_down q;
DROP TABLE quota_reservations_down;
