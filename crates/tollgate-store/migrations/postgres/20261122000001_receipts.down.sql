-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: signing_keys: SELECT COUNT(*) AS n FROM signing_keys
-- guard: checkpoints: SELECT COUNT(*) AS n FROM checkpoints
-- guard: receipts: SELECT COUNT(*) AS n FROM receipts
-- guard: receipt_tags: SELECT COUNT(*) AS n FROM receipt_tags
-- guard: receipt_ranges: SELECT COUNT(*) AS n FROM receipt_ranges
-- guard: certified_ranges: SELECT COUNT(*) AS n FROM certified_ranges
-- guard: receipt_state: SELECT COUNT(*) AS n FROM receipt_state
-- guard: log_tiles: SELECT COUNT(*) AS n FROM log_tiles
-- guard: usage_events: SELECT COUNT(*) AS n FROM usage_events WHERE input_cost_nanos IS NOT NULL

DROP TRIGGER usage_events_immutable ON usage_events;
DROP TABLE receipt_tags;
DROP TABLE receipt_ranges;
DROP TABLE receipts;
DROP TABLE certified_ranges;
DROP TABLE receipt_state;
DROP TABLE checkpoints;
DROP TABLE log_tiles;
DROP TABLE signing_keys;
ALTER TABLE usage_events DROP COLUMN input_cost_nanos;
DROP FUNCTION tollgate_refuse_update();
