-- SMTP submission credentials (issue 15). Keep in step with zegel-store-sqlite/migrations/0013_smtp.sql.
--
-- A mail client or a hospital system (HiX, Epic) submits mail as one sender with a user name and
-- a generated password; only its Argon2id hash is stored. A user may have several (Outlook and
-- the EHR each their own), each revocable on its own.
CREATE TABLE smtp_credentials (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX smtp_credentials_user_id ON smtp_credentials (user_id);
