-- Down step: the up step changed nothing on PostgreSQL.
SELECT 1;
