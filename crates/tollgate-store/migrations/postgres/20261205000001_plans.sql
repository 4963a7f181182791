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
    -- Who set the values last: 'builtin' (this migration, untouched since), 'settings'
    -- (`billing.plans` at a server's start) or 'operator' (`tollgate plans`, the API). A
    -- server's settings change a plan at start only while no operator has set it, so an
    -- operator's change is never undone by a restart, while a deployment whose settings
    -- overrode a built-in plan keeps its quota through the upgrade.
    source           TEXT NOT NULL CHECK (source IN ('builtin', 'settings', 'operator')),
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL
);

-- The built-in plans. `billing.plans` in the settings adds plans at start, and sets one of
-- these until an operator does (see `source`).
INSERT INTO plans (name, monthly_requests, source, created_us, updated_us)
SELECT v.name, v.monthly_requests, 'builtin', n.now_us, n.now_us
FROM (VALUES ('starter', CAST(500 AS BIGINT)),
             ('growth', CAST(5000 AS BIGINT)),
             ('pro', CAST(NULL AS BIGINT))) AS v (name, monthly_requests)
CROSS JOIN (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now_us) AS n;

-- tenants.plan stays as it was (NULL: the default plan). It has no foreign key: a tenant whose
-- plan is missing (named in an old deployment's settings and never added) counts as on the
-- default plan, never as unlimited; deleting a plan a tenant is on is refused.
-- Deleting a plan looks for tenants on it.
CREATE INDEX tenants_by_plan ON tenants (plan);

-- The deployment's choices, in one row (`id` 1, inserted here, never deleted): the default
-- plan, the plan of every tenant with none set. Every decision reads it in its statement,
-- like the plans, so every instance gives the same answer whatever its own settings say. The
-- foreign key keeps it a plan there is: the default plan cannot be deleted. Deployment-wide,
-- like `plans` (a reference table when tenants are sharded).
CREATE TABLE deployment_settings (
    id                  SMALLINT PRIMARY KEY CHECK (id = 1),
    default_plan        TEXT NOT NULL REFERENCES plans (name),
    -- As `plans.source`: `billing.default_plan` chooses the default at start only while no
    -- operator has chosen it (`tollgate plans default`, the API).
    default_plan_source TEXT NOT NULL
        CHECK (default_plan_source IN ('builtin', 'settings', 'operator')),
    updated_us          BIGINT NOT NULL
);

INSERT INTO deployment_settings (id, default_plan, default_plan_source, updated_us)
VALUES (1, 'starter', 'builtin', CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT));
