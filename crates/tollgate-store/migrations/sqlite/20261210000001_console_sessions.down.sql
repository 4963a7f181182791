-- Down step: restores the schema as it was before the up step. Open console sessions are
-- not data worth keeping: everyone signs in again.
DROP TABLE console_sessions;
