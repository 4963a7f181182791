-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: prices: SELECT COUNT(*) AS n FROM prices WHERE per_call IS NOT NULL OR per_unit IS NOT NULL

ALTER TABLE prices DROP COLUMN per_call,
    DROP COLUMN per_unit;
