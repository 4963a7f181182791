-- Keys get a role. 'tenant': the scopes in `scopes` (ingest, read, admin, billing), within the
-- key's own tenant. 'operator': deployment-wide (plans, tenants, any tenant through
-- X-Tenant-Id, everything within one). The role is a column of its own, not a name in the
-- scope list, so no scope list a tenant admin writes or reads can carry it; only a key created
-- as an operator key (`tollgate keys create --operator`), or granted the role explicitly
-- (`tollgate keys grant-operator KEY_ID`), holds it.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'tenant'
    CHECK (role IN ('tenant', 'operator'));

-- The bootstrap key stays deployment-wide: the key named 'bootstrap' created with the first
-- tenant, in its transaction (the two share their creation instant).
UPDATE api_keys SET role = 'operator'
WHERE name = 'bootstrap'
  AND scopes LIKE '%operator%'
  AND created_us = (SELECT t.created_us FROM tenants t WHERE t.id = api_keys.tenant_id);

-- Every key that held the old `operator` scope keeps its full reach within its own tenant
-- (ingest, read, admin and the new billing scope) but no longer reaches other tenants, unless
-- it is the bootstrap key above or is granted the role later.
UPDATE api_keys SET scopes = 'ingest,read,admin,billing' WHERE scopes LIKE '%operator%';
