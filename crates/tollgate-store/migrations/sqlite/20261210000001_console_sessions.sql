-- Sessions of the web console (/ui/): one row per signed-in browser, shared by every instance.
--
-- The browser holds a random session id in a cookie; only its SHA-256 is stored, so a copy of
-- the table opens no session. A key session keeps the key's hash (the one `api_keys` holds)
-- and is checked against that key on every request, so revoking the key ends the session; an
-- end user's session keeps the user and ends no later than the token it was opened with.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    -- The tenant the session acts on (an operator may switch it).
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('key', 'user')),
    key_hash    TEXT,
    user_id     TEXT,
    -- Sent back with every form: a request without it changes nothing.
    csrf_token  TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    expires_us  BIGINT NOT NULL,
    CHECK ((kind = 'key' AND key_hash IS NOT NULL) OR (kind = 'user' AND user_id IS NOT NULL))
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_us);
