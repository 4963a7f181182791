-- Plans as data in the database, managed by operators (`tollgate plans`, `/api/v1/plans`),
-- so that every instance sharing the database reads the same plan table. Until now each
-- process built its plans from its own settings at start, so a plan added or changed after
-- start, or set differently on two instances, gave different answers to the same request.
--
-- Authorization, the limits view, quota alerts and moving a tenant to a plan read a tenant's
-- quota by joining this table in the statement that decides, never from a copy in memory.
--
-- A deployment-wide table with no tenant_id: when tenants are sharded, it is a reference
-- table copied to every node.
CREATE TABLE plans (
    name             TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    -- Requests a tenant on the plan may make each UTC calendar month; NULL: unlimited.
    monthly_requests BIGINT CHECK (monthly_requests >= 0),
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL
);

-- The built-in plans. `billing.plans` in the settings adds plans at start, but never changes
-- one the database has: the database is the one answer every instance reads.
INSERT INTO plans (name, monthly_requests, created_us, updated_us)
SELECT v.name, v.monthly_requests, n.now_us, n.now_us
FROM (VALUES ('starter', CAST(500 AS BIGINT)),
             ('growth', CAST(5000 AS BIGINT)),
             ('pro', CAST(NULL AS BIGINT))) AS v (name, monthly_requests)
CROSS JOIN (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now_us) AS n;

-- tenants.plan stays as it was (NULL: the default plan). It has no foreign key: a tenant whose
-- plan is missing (named in an old deployment's settings and never added) counts as on the
-- default plan, never as unlimited; deleting a plan a tenant is on is refused.
-- Deleting a plan looks for tenants on it.
CREATE INDEX tenants_by_plan ON tenants (plan);
