-- Prices per call and per unit (exact decimal strings), for MCP tools priced in the book
-- (provider 'mcp', model '<server>/<tool>'). Nullable: every existing price has neither.
ALTER TABLE prices ADD COLUMN per_call TEXT;
ALTER TABLE prices ADD COLUMN per_unit TEXT;
