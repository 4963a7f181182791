-- Down step: restores the schema as it was before the up step. Each `-- guard:` line names a
-- table and counts its rows this step would lose; `tollgate migrate --to` refuses to run it
-- while any count is above 0, unless forced.
-- Nothing is lost: a key with the operator role gets the operator scope back, which is how
-- the schema before roles made a key deployment-wide. (The up step's rewrite of other keys'
-- operator scope to ingest,read,admin,billing is not undone: it granted nothing new.)

UPDATE api_keys SET scopes = scopes || ',operator' WHERE role = 'operator';
ALTER TABLE api_keys DROP COLUMN role;
