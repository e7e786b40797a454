-- Sender web app sessions (issue 13): server-side, looked up by the SHA-256 of the cookie
-- value (the value itself is never stored). Idle and absolute limits are checked on every
-- lookup against `last_seen_at` and `created_at`.
-- Keep in step with zegel-store-postgres/migrations/0005_sender_sessions.sql.
CREATE TABLE sender_sessions (
    token_hash   BLOB PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sender_sessions_user_id ON sender_sessions (user_id);
CREATE INDEX sender_sessions_last_seen_at ON sender_sessions (last_seen_at);
