-- Key rotation (issue 14). Keep in step with zegel-store-sqlite/migrations/0012_key_rotation.sql.
--
-- A message key may only point at an organisation key that exists: a rotation deletes the old
-- organisation key only when no message key is wrapped under it, and a send that would still
-- store a message key under a deleted organisation key fails instead of storing a key nobody
-- can unwrap. The index finds the message keys under one organisation key (the rotation's
-- batches, and the foreign key check when an organisation key is deleted).
ALTER TABLE message_keys
    ADD CONSTRAINT message_keys_kek_id_fkey FOREIGN KEY (kek_id) REFERENCES org_keys (id);
CREATE INDEX message_keys_kek_id ON message_keys (kek_id, message_id);
