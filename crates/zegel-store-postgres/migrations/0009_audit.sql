-- The NEN 7513 audit trail (issue 14). Every row of `events` and `account_events` becomes one
-- entry of a hash chain, in the transaction that wrote the row: the triggers queue the row in
-- `audit_pending`, and the store seals the queue (see zegel-store-sql shared/audit.rs) just
-- before every commit. Entries have no foreign keys: they outlive messages and accounts.

-- Rows written in the current transaction that are not yet chained. Empty outside one. A
-- transaction chains only its own rows (`xid`), so a row inserted around Zegel is never chained
-- by another commit: `zegel audit verify` reports it. `xid` 0: queued by this migration,
-- chained by the first commit.
CREATE TABLE audit_pending (
    id        BIGSERIAL PRIMARY KEY,
    source    TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    xid       BIGINT NOT NULL DEFAULT txid_current()
);

CREATE FUNCTION zegel_audit_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (source, source_id) VALUES (TG_ARGV[0], NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_audit AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION zegel_audit_queue('event');

CREATE TRIGGER account_events_audit AFTER INSERT ON account_events
    FOR EACH ROW EXECUTE FUNCTION zegel_audit_queue('account');

-- One chain per organisation (`chain` = organisation id; '' for what belongs to none).
-- `hash` = SHA-256 over the previous entry's hash and this entry's fields (zegel-core audit.rs).
CREATE TABLE audit_log (
    chain        TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    source       TEXT NOT NULL,
    source_id    BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    user_id      TEXT,
    user_name    TEXT,
    user_role    TEXT,
    on_behalf_of TEXT,
    recipient    TEXT,
    object       TEXT,
    node         TEXT NOT NULL,
    address      TEXT,
    detail       TEXT,
    prev_hash    BYTEA NOT NULL,
    hash         BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE UNIQUE INDEX audit_log_source ON audit_log (source, source_id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_recipient ON audit_log (recipient, at);
CREATE INDEX audit_log_object ON audit_log (object);

-- The last entry of each chain.
CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);

-- Signed statements "chain C had entry N with hash H", written about once a minute.
CREATE TABLE audit_checkpoints (
    chain     TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    signed_at BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- What was recorded before the audit trail existed is chained by the first commit.
INSERT INTO audit_pending (source, source_id, xid) SELECT 'event', id, 0 FROM events ORDER BY id;
INSERT INTO audit_pending (source, source_id, xid)
    SELECT 'account', id, 0 FROM account_events ORDER BY id;
