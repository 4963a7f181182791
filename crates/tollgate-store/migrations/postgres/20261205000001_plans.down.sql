-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- The built-in plans and default the up step seeded are not data of the deployment's own.
-- guard: plans: SELECT COUNT(*) AS n FROM plans WHERE source <> 'builtin'
-- guard: deployment_settings: SELECT COUNT(*) AS n FROM deployment_settings WHERE default_plan_source <> 'builtin'

DROP INDEX tenants_by_plan;
DROP TABLE deployment_settings;
DROP TABLE plans;
