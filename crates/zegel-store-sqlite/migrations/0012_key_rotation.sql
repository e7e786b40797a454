-- Key rotation (issue 14). Keep in step with zegel-store-postgres/migrations/0012_key_rotation.sql.
--
-- A message key may only point at an organisation key that exists: a rotation deletes the old
-- organisation key only when no message key is wrapped under it, and a send that would still
-- store a message key under a deleted organisation key fails instead of storing a key nobody
-- can unwrap. SQLite adds a foreign key only by rebuilding the table (its columns unchanged).
-- The index finds the message keys under one organisation key (the rotation's batches, and the
-- foreign key check when an organisation key is deleted).
CREATE TABLE message_keys_new (
    message_id  TEXT PRIMARY KEY NOT NULL REFERENCES messages (id),
    kek_id      TEXT NOT NULL REFERENCES org_keys (id),
    wrapped_dek BLOB NOT NULL
) STRICT;
INSERT INTO message_keys_new (message_id, kek_id, wrapped_dek)
    SELECT message_id, kek_id, wrapped_dek FROM message_keys;
DROP TABLE message_keys;
ALTER TABLE message_keys_new RENAME TO message_keys;
CREATE INDEX message_keys_kek_id ON message_keys (kek_id, message_id);
