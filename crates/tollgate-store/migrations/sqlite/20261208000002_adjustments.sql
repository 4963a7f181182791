-- Repricing (`POST /api/v1/pricing/reprice`): a call recorded without a price is priced later
-- by a new event of source 'adjustment' that names it here, never by rewriting it (the log is
-- append-only and hashed). Nullable and without a default, so existing rows are not
-- rewritten; an event's canonical entry carries it only when present, so no stored entry's
-- bytes change.
ALTER TABLE usage_events ADD COLUMN adjusts TEXT;

-- At most one adjustment per call (a rerun finds it by its request id, `reprice:<log id>`,
-- before it could get here); and the index that tells an adjusted call from one still
-- unpriced. Building it reads the table once at upgrade; it holds only adjustments.
CREATE UNIQUE INDEX usage_events_by_adjusted ON usage_events (tenant_id, adjusts)
    WHERE adjusts IS NOT NULL;

-- Like every column an entry or a receipt rests on, it never changes once written.
DROP TRIGGER usage_events_immutable;
CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash,
    lock_digest, units, cache_write_1h_tokens, audio_input_tokens, image_input_tokens,
    video_input_tokens, audio_output_tokens, image_output_tokens, service_tier, quantities, adjusts
ON usage_events
BEGIN
    SELECT RAISE(ABORT, 'a logged event cannot change (only its metadata may be dropped)');
END;
