-- Zegel schema, PostgreSQL. Keep in step with zegel-store-sqlite/migrations/0001_initial.sql.
-- Times are BIGINT milliseconds since the Unix epoch (UTC). User content only as ciphertext
-- (`*_ct`), secrets only as hashes (`*_hash`, `*_mac`).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE organisations (
    id            TEXT PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    active_kek_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE org_keys (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX org_keys_org_id ON org_keys (org_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_org_id ON users (org_id, created_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE messages (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    sender_id    TEXT NOT NULL REFERENCES users (id),
    subject_ct   BYTEA,
    body_ct      BYTEA,
    alg          TEXT NOT NULL,
    reply_policy TEXT NOT NULL CHECK (reply_policy IN ('once', 'unlimited', 'off')),
    state        TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    destroyed_at BIGINT
);
CREATE INDEX messages_sender_created ON messages (sender_id, created_at);
CREATE INDEX messages_state_expires ON messages (state, expires_at);

-- Deleting a row here is crypto-shredding.
CREATE TABLE message_keys (
    message_id  TEXT PRIMARY KEY REFERENCES messages (id),
    kek_id      TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL
);

CREATE TABLE recipients (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id),
    position        BIGINT NOT NULL,
    email           TEXT NOT NULL,
    phone           TEXT,
    verification    TEXT NOT NULL CHECK (verification IN ('sms', 'email', 'code')),
    code_hint_ct    BYTEA,
    link_hash       BYTEA NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN
                        ('queued', 'notified', 'failed', 'opened', 'replied', 'revoked', 'expired')),
    failed_reason   TEXT,
    code_mac        BYTEA,
    code_expires_at BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT,
    language        TEXT NOT NULL,
    notified_at     BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX recipients_message_id ON recipients (message_id, position);

CREATE TABLE attachments (
    id                  TEXT PRIMARY KEY,
    message_id          TEXT NOT NULL REFERENCES messages (id),
    position            BIGINT NOT NULL,
    blob_key            TEXT NOT NULL,
    meta_ct             BYTEA,
    size                BIGINT NOT NULL,
    alg                 TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    -- Set by destroy_message; cleared once the blob store has deleted the blob.
    blob_pending_delete BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX attachments_message_id ON attachments (message_id, position);
CREATE INDEX attachments_pending_delete ON attachments (blob_pending_delete)
    WHERE blob_pending_delete;

-- NEN 7513 audit trail: never content, codes, tokens or file names.
CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL REFERENCES messages (id),
    recipient_id TEXT,
    kind         TEXT NOT NULL,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    detail       TEXT
);
CREATE INDEX events_message_id ON events (message_id, id);

CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_recipient_id ON sessions (recipient_id);

-- Durable job queue (transactional outbox). `message_id` is taken from the payload's
-- "message_id" field so that destroying a message can drop its pending jobs; no foreign key.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    message_id   TEXT,
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    locked_until BIGINT,
    last_error   TEXT,
    dead         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_dead_run_at ON jobs (dead, run_at);
CREATE INDEX jobs_message_id ON jobs (message_id) WHERE message_id IS NOT NULL;
