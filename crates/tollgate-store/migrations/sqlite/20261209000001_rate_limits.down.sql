-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: rate_limit_overrides: SELECT COUNT(*) AS n FROM rate_limit_overrides
-- guard: plans: SELECT COUNT(*) AS n FROM plans WHERE key_rpm IS NOT NULL OR key_tpm IS NOT NULL OR user_rpm IS NOT NULL OR user_tpm IS NOT NULL OR ip_rpm IS NOT NULL OR ip_tpm IS NOT NULL

DROP TABLE rate_windows;
DROP TABLE rate_limit_overrides;
ALTER TABLE plans DROP COLUMN ip_tpm;
ALTER TABLE plans DROP COLUMN ip_rpm;
ALTER TABLE plans DROP COLUMN user_tpm;
ALTER TABLE plans DROP COLUMN user_rpm;
ALTER TABLE plans DROP COLUMN key_tpm;
ALTER TABLE plans DROP COLUMN key_rpm;
