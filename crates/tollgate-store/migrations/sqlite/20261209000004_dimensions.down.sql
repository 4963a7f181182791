-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.

-- guard: usage_events: SELECT COUNT(*) AS n FROM usage_events WHERE dimensions IS NOT NULL
-- guard: usage_daily_dimensions: SELECT COUNT(*) AS n FROM usage_daily_dimensions

DROP TABLE usage_daily_dimensions;
DROP TRIGGER usage_events_immutable;
ALTER TABLE usage_events DROP COLUMN dimensions;

CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash,
    lock_digest, units, cache_write_1h_tokens, audio_input_tokens, image_input_tokens,
    video_input_tokens, audio_output_tokens, image_output_tokens, service_tier, quantities, adjusts,
    estimate_method
ON usage_events
BEGIN
    SELECT RAISE(ABORT, 'a logged event cannot change (only its metadata may be dropped)');
END;
