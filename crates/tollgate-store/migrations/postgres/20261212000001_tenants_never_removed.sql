-- Every event is appended under its tenant's log head, the tenant's row: the locked append
-- reads and locks that row first and fails when it is missing, and the one statement of
-- plain calls moves it, writing nothing when it is not where the statement expects it. So the
-- tenant an event names exists when the event is written, and a tenant is never removed
-- (below). The events' foreign key to `tenants` checked that again for every event, taking a
-- KEY SHARE lock on the row the append already holds: about a quarter of PostgreSQL's work
-- per event in batches (docs/benchmarks.md, "The events' foreign key"). It goes; the rule
-- that keeps what it guaranteed is declared instead, on both engines.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_tenant_id_fkey;
CREATE TRIGGER tenants_never_removed BEFORE DELETE ON tenants FOR EACH ROW
    EXECUTE FUNCTION tollgate_refuse_update('a tenant cannot be removed: its log and ledger refer to it');
