-- Nothing to change here. On SQLite this version rewrites the CHECK constraints of the
-- ledger, holds and rate windows without IN lists, which SQLite checks through a temporary
-- b-tree per row; PostgreSQL checks an IN list as an array comparison.
SELECT 1;
