-- Leaner writes on the send path.
-- Keep in step with zegel-store-postgres/migrations/0003_lean_writes.sql.

-- Every query by sender also filters on kind, so messages_inbox (sender_id, kind, created_at)
-- serves them all; this one only cost writes.
DROP INDEX messages_sender_created;
