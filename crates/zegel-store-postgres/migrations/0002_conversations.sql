-- Conversations: replies (a reply is a message of kind 'reply' in the same thread, written by a
-- recipient and addressed to the original sender), forwards (a recipient added by another
-- recipient), organisation policies and remembered devices.
-- Keep in step with zegel-store-sqlite/migrations/0002_conversations.sql.

ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
    CHECK (kind IN ('message', 'reply'));
-- The first message of the conversation; a message that starts one has its own id.
ALTER TABLE messages ADD COLUMN thread_id TEXT;
-- For a reply: the message it answers and the recipient who wrote it.
ALTER TABLE messages ADD COLUMN parent_id TEXT;
ALTER TABLE messages ADD COLUMN from_recipient_id TEXT;
-- For a reply: when its addressee first read it.
ALTER TABLE messages ADD COLUMN read_at BIGINT;
UPDATE messages SET thread_id = id WHERE thread_id IS NULL;
CREATE INDEX messages_thread ON messages (thread_id, created_at);
CREATE INDEX messages_from_recipient ON messages (from_recipient_id)
    WHERE from_recipient_id IS NOT NULL;
CREATE INDEX messages_inbox ON messages (sender_id, kind, created_at);

-- A recipient added by a forward: who forwarded, and their note (ciphertext under the
-- message key, object id `<message id>/note/<recipient id>`).
ALTER TABLE recipients ADD COLUMN forwarded_by TEXT;
ALTER TABLE recipients ADD COLUMN note_ct BYTEA;
CREATE INDEX recipients_forwarded_by ON recipients (forwarded_by)
    WHERE forwarded_by IS NOT NULL;

ALTER TABLE organisations ADD COLUMN reply_default TEXT NOT NULL DEFAULT 'once'
    CHECK (reply_default IN ('once', 'unlimited', 'off'));
ALTER TABLE organisations ADD COLUMN reply_locked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organisations ADD COLUMN forward_allowed BOOLEAN NOT NULL DEFAULT TRUE;
-- "Remember this device" for this many days; 0 = every visit needs a code.
ALTER TABLE organisations ADD COLUMN device_days BIGINT NOT NULL DEFAULT 0;
-- Public contact line shown on the recipient pages (e.g. a phone number).
ALTER TABLE organisations ADD COLUMN contact TEXT;
ALTER TABLE organisations ADD COLUMN logo BYTEA;
ALTER TABLE organisations ADD COLUMN logo_type TEXT;

-- Remembered devices: only the hash of the cookie's token is stored.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    token_hash   BYTEA NOT NULL UNIQUE,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX devices_recipient_id ON devices (recipient_id);
