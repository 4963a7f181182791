-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: webhook_endpoints: SELECT COUNT(*) AS n FROM webhook_endpoints
-- guard: alert_events: SELECT COUNT(*) AS n FROM alert_events
-- guard: webhook_deliveries: SELECT COUNT(*) AS n FROM webhook_deliveries

DROP TABLE webhook_deliveries;
DROP TABLE alert_events;
DROP TABLE webhook_endpoints;
