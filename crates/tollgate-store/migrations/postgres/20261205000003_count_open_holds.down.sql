-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.
-- Nothing is lost: the reserved count comes back as what the up step replaced it with, the
-- tenant's open holds of the month.

DROP INDEX holds_open_by_month;

ALTER TABLE quota_reservations ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0);
UPDATE quota_reservations q SET reserved = (SELECT COUNT(*) FROM holds h
        WHERE h.tenant_id = q.tenant_id AND h.month = q.month AND h.status = 'open');
ALTER TABLE quota_reservations ALTER COLUMN reserved DROP DEFAULT;
