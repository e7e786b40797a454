-- Signing keys (issue 14): each organisation's Ed25519 keys for signed receipts and audit
-- checkpoints; organisation "" is the installation's own key (audit entries that belong to no
-- organisation), so there is no foreign key on org_id. Only the public key is in clear; the
-- 32-byte seed is wrapped by the master key (AES-256-GCM, AAD "zegel-sig:" + id).
-- At most one current (not retired) key per organisation: the partial unique index makes two
-- nodes that create one at the same time end up with the same key.
-- Keep in step with zegel-store-postgres/migrations/0010_signing.sql. Additive only.
CREATE TABLE signing_keys (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL,
    public_key      BLOB NOT NULL,
    wrapped_private BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER
) STRICT;
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (org_id) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_org ON signing_keys (org_id, created_at);
