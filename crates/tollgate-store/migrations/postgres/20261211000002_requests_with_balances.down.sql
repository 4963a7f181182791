-- Down step: restores the schema as it was before the up step. Nothing is lost: each
-- account's calls counted on its balance rows are added back to its own row.
UPDATE billing_accounts SET
    total_requests = total_requests + COALESCE((SELECT SUM(b.requests) FROM account_balances b
        WHERE b.tenant_id = billing_accounts.tenant_id
          AND b.user_id = billing_accounts.user_id), 0),
    last_request_us = COALESCE((SELECT MAX(b.last_request_us) FROM account_balances b
        WHERE b.tenant_id = billing_accounts.tenant_id
          AND b.user_id = billing_accounts.user_id), last_request_us);
ALTER TABLE account_balances DROP COLUMN last_request_us;
ALTER TABLE account_balances DROP COLUMN requests;
