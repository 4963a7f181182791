-- Calls logged without token counts are estimated from their text (or its length); the
-- method used (`chars/4`, or a tokenizer's name such as `o200k_base`) is recorded beside the
-- `estimated` flag so a reader knows how far to trust the counts. Nullable and without a
-- default, so existing rows are not rewritten; an event's canonical entry carries it only when
-- present, so no stored entry's bytes change.
ALTER TABLE usage_events ADD COLUMN estimate_method TEXT;

-- Like every column an entry rests on, it never changes once written.
DROP TRIGGER usage_events_immutable;
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
