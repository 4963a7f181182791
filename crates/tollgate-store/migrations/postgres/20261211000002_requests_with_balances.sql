-- An account's calls are counted on the balance row each charge already updates, per
-- currency, instead of on the account's row: a charge then changes one row per account
-- instead of two, and a commit of calls by many users dirties one page fewer per user.
--
-- billing_accounts.total_requests and last_request_us keep what was counted before this
-- version and no longer change. An account's total is that plus its balance rows' requests;
-- its last request is the latest of its balance rows', else the one kept there.
ALTER TABLE account_balances ADD COLUMN requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_balances ADD COLUMN last_request_us BIGINT;
