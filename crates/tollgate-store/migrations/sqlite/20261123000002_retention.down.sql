-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: archived_leaves: SELECT COUNT(*) AS n FROM archived_leaves
-- guard: retention_archives: SELECT COUNT(*) AS n FROM retention_archives
-- guard: retention_leases: SELECT COUNT(*) AS n FROM retention_leases

DROP TRIGGER usage_events_removed_only_when_archived;
DROP TABLE archived_leaves;
DROP TABLE retention_archives;
DROP TABLE retention_leases;
