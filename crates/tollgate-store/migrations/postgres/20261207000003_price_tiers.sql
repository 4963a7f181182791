-- Long-context tiers of a price, as JSON text: [{"above_input_tokens": 200000, "input": "6",
-- "output": "22.5", "cached_input": "0.6"|null, "cache_write": …, "reasoning": …}], rates as
-- exact decimal strings, lowest threshold first. NULL: no tiers (every existing price).
ALTER TABLE prices ADD COLUMN tiers TEXT;
