-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: alert_recipients: SELECT COUNT(*) AS n FROM alert_recipients
-- guard: email_deliveries: SELECT COUNT(*) AS n FROM email_deliveries

DROP INDEX email_deliveries_due;
DROP TABLE email_deliveries;
DROP TABLE alert_recipients;
