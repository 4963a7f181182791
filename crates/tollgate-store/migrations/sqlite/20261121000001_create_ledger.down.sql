-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: tenants: SELECT COUNT(*) AS n FROM tenants
-- guard: prices: SELECT COUNT(*) AS n FROM prices
-- guard: api_keys: SELECT COUNT(*) AS n FROM api_keys
-- guard: usage_events: SELECT COUNT(*) AS n FROM usage_events
-- guard: usage_monthly: SELECT COUNT(*) AS n FROM usage_monthly
-- guard: usage_daily: SELECT COUNT(*) AS n FROM usage_daily
-- guard: conversations: SELECT COUNT(*) AS n FROM conversations
-- guard: messages: SELECT COUNT(*) AS n FROM messages

DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE usage_daily;
DROP TABLE usage_monthly;
DROP TABLE usage_events;
DROP TABLE api_keys;
DROP TABLE prices;
DROP TABLE tenants;
