-- A tenant's requests reserved against its monthly quota are its open holds of that month,
-- counted when an authorization decides, instead of a counter every hold's settlement,
-- release and expiry had to lock and update: that one row per tenant serialised the whole
-- authorize-call-settle workload behind each of its commits.
--
-- quota_reservations keeps one row per tenant and month, with no data: authorizations lock
-- it, so that two of them (on any instance) never decide on the same count. Nothing else
-- locks it.
ALTER TABLE quota_reservations DROP COLUMN reserved;

-- What an authorization counts.
CREATE INDEX holds_open_by_month ON holds (tenant_id, month) WHERE status = 'open';
