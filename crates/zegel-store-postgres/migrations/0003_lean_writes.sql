-- Leaner writes on the send path.
-- Keep in step with zegel-store-sqlite/migrations/0003_lean_writes.sql.

-- Every query by sender also filters on kind, so messages_inbox (sender_id, kind, created_at)
-- serves them all (and the foreign key from messages to users); this one only cost writes.
DROP INDEX messages_sender_created;

-- Ciphertext does not compress: store it out of line without trying pglz first.
ALTER TABLE messages ALTER COLUMN body_ct SET STORAGE EXTERNAL;
