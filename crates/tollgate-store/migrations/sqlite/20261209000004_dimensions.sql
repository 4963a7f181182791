-- Dimensions: the knowledge base a call answered from (`kb_id`) and the deployment's own
-- (`feature`, `team`, ...), name to value, on every usage and tool event that names them.
--
-- On the event as a JSON object (nullable, so existing rows are not rewritten; the canonical
-- entry carries them as `dimension:<name>` members only when present, so no stored entry's
-- bytes change). And in a rollup of their own, one row per day, dimension, value, provider,
-- model and currency, written by the transaction that records the event, so a breakdown by a
-- dimension over a month reads a few rows a day instead of every event. Events without
-- dimensions write nothing there.
ALTER TABLE usage_events ADD COLUMN dimensions TEXT;

CREATE TABLE usage_daily_dimensions (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    day                 BIGINT NOT NULL, -- days since 1970-01-01, UTC
    name                TEXT NOT NULL,
    value               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    currency            TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    cached_responses    BIGINT NOT NULL,
    unpriced            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, name, value, provider, model, currency)
);

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
    estimate_method, dimensions
ON usage_events
BEGIN
    SELECT RAISE(ABORT, 'a logged event cannot change (only its metadata may be dropped)');
END;
