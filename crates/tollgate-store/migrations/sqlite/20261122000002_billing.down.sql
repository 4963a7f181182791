-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- quota_reservations is not guarded: its rows are locks, counted from holds.
-- guard: billing_accounts: SELECT COUNT(*) AS n FROM billing_accounts
-- guard: account_balances: SELECT COUNT(*) AS n FROM account_balances
-- guard: account_spend: SELECT COUNT(*) AS n FROM account_spend
-- guard: ledger_entries: SELECT COUNT(*) AS n FROM ledger_entries
-- guard: holds: SELECT COUNT(*) AS n FROM holds
-- guard: tenants: SELECT COUNT(*) AS n FROM tenants WHERE plan IS NOT NULL

DROP TABLE ledger_entries;
DROP TABLE account_balances;
DROP TABLE account_spend;
DROP TABLE holds;
DROP TABLE quota_reservations;
DROP TABLE billing_accounts;
ALTER TABLE tenants DROP COLUMN plan;
