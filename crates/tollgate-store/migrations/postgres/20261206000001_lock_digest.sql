-- The llmring lockfile digest a call was made under, when the client sends one (at most 128
-- bytes; ingestion checks it). Receipts report what their events recorded, so an event must
-- keep it. Nullable and without a default, so existing rows are not rewritten; an event's
-- canonical entry carries it only when present, so no stored entry's bytes change.
--
-- No CHECK on the length: adding one would read every existing row at upgrade.
ALTER TABLE usage_events ADD COLUMN lock_digest TEXT;

-- Like every column an entry or a receipt rests on, it never changes once written.
DROP TRIGGER usage_events_immutable ON usage_events;
CREATE TRIGGER usage_events_immutable BEFORE UPDATE OF
    tenant_id, seq, log_id, request_id,
    ts_us, recorded_us, provider, model, alias,
    profile, origin, id_at_origin, user_id, conversation_id,
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,
    cost_nanos, input_cost_nanos, currency, price_version, flags, source, entry, leaf_hash,
    lock_digest
    ON usage_events FOR EACH ROW
    EXECUTE FUNCTION tollgate_refuse_update('a logged event cannot change (only its metadata may be dropped)');
