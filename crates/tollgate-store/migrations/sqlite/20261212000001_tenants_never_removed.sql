-- A tenant is never removed: its log and ledger refer to it. On PostgreSQL this version also
-- drops the events' foreign key to `tenants`, whose check of every event the append's lock on
-- the tenant's row already covers; SQLite keeps it, as its check is one lookup in the table's
-- key (measured as no cost: docs/benchmarks.md).
CREATE TRIGGER tenants_never_removed BEFORE DELETE ON tenants
BEGIN
    SELECT RAISE(ABORT, 'a tenant cannot be removed: its log and ledger refer to it');
END;
