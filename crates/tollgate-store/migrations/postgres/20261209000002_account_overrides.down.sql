-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: account_audit: SELECT COUNT(*) AS n FROM account_audit
-- guard: account_balances: SELECT COUNT(*) AS n FROM account_balances WHERE overdraft_nanos <> 0
-- guard: billing_accounts: SELECT COUNT(*) AS n FROM billing_accounts WHERE exempt_until_us IS NOT NULL OR suspended_reason IS NOT NULL

DROP TABLE account_audit;
ALTER TABLE billing_accounts DROP COLUMN suspended_reason;
ALTER TABLE billing_accounts DROP COLUMN exempt_until_us;
ALTER TABLE account_balances DROP COLUMN overdraft_nanos;
