-- The whole price model: token classes a provider bills on their own, service tiers and
-- quantities priced per unit.

-- A price's rates beyond its first columns (1-hour cache writes, audio, image and video
-- tokens, unit prices, service tiers), as JSON of exact decimal strings. NULL: none.
ALTER TABLE prices ADD COLUMN detail TEXT;

-- An event's tokens by class. Each is a part of input_tokens or output_tokens (see
-- TokenCounts); 0 for every existing event, which is what they were.
ALTER TABLE usage_events ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN audio_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN image_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN video_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN audio_output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN image_output_tokens BIGINT NOT NULL DEFAULT 0;
-- How the provider served the call: batch, flex or priority; NULL for standard.
ALTER TABLE usage_events ADD COLUMN service_tier TEXT;
-- Quantities priced per unit (web searches, images by size and quality, seconds of audio),
-- as a JSON object of whole numbers; NULL for none.
ALTER TABLE usage_events ADD COLUMN quantities TEXT;

DROP TRIGGER usage_events_immutable ON usage_events;
CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash,
    lock_digest, units, cache_write_1h_tokens, audio_input_tokens, image_input_tokens,
    video_input_tokens, audio_output_tokens, image_output_tokens, service_tier, quantities
    ON usage_events FOR EACH ROW
    EXECUTE FUNCTION tollgate_refuse_update('a logged event cannot change (only its metadata may be dropped)');
