-- Sender accounts (issue 13): sign-in lockout, TOTP, passkeys, WebAuthn ceremonies, set-up
-- links, the per-address sign-in throttle, account events, the second-factor policy.
-- Keep in step with zegel-store-postgres/migrations/0006_accounts.sql. Additive only.
-- Times are milliseconds since the Unix epoch (UTC). Secrets only hashed or sealed.

-- Wrong passwords since the last sign-in or lockout; the lockout's end.
ALTER TABLE users ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until INTEGER;

-- Whether the organisation's senders must set up a second factor (TOTP or passkey).
ALTER TABLE organisations ADD COLUMN second_factor_required INTEGER NOT NULL DEFAULT 0
    CHECK (second_factor_required IN (0, 1));

-- One TOTP secret per user, sealed with the server's seal key (AAD: the user id). Enrolled
-- once `enabled_at` is set (before that: being set up); `last_step` is the last accepted time
-- step (a code is never accepted twice).
CREATE TABLE user_totp (
    user_id       TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    enabled_at    INTEGER,
    last_step     INTEGER
) STRICT;

-- Passkeys: the serialized webauthn-rs `Passkey` (public key material, no secret).
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;
CREATE INDEX passkeys_user_id ON passkeys (user_id, created_at);

-- A WebAuthn ceremony under way (registration or authentication), found by the hash of the
-- token in the browser's cookie; used once, short-lived.
CREATE TABLE webauthn_states (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('register', 'authenticate', 'second_factor')),
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_states_expires ON webauthn_states (expires_at);

-- One-time set-up links (`/welkom/{token}`): only the SHA-256 of the token.
CREATE TABLE setup_links (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX setup_links_user_id ON setup_links (user_id);

-- Failed sign-ins per client address (or per unknown account) in a window.
CREATE TABLE sign_in_throttle (
    address      TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
) STRICT;

-- What happened to an account. Never a password, code or token.
CREATE TABLE account_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
) STRICT;
CREATE INDEX account_events_user ON account_events (user_id, id);
