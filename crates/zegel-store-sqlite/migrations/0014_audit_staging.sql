-- Audit staging (issue 14, throughput). Keep in step with the other store's migrations/0014_audit_staging.sql.
--
-- A write transaction marks its own queued rows with the node that wrote them (staged_by), in
-- the transaction that wrote the event; on SQLite it also chains them before it commits (one
-- writer at a time anyway), on PostgreSQL the sequencer does, in batches. A row queued by an
-- insert from outside Zegel is never staged, never chained, and audit verify reports its event.
--
-- The queue is rebuilt without AUTOINCREMENT: a transaction finds its own rows above the
-- largest id it saw when it took the write lock, which needs no ids that are never reused, and
-- AUTOINCREMENT cost a write to sqlite_sequence per event. The triggers are made again as in
-- 0009_audit.sql (a rename checks every trigger, so none may name a dropped table meanwhile).
DROP TRIGGER events_audit;
DROP TRIGGER account_events_audit;
CREATE TABLE audit_pending_new (
    id        INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    backfill  INTEGER NOT NULL DEFAULT 0,
    staged_by TEXT
) STRICT;
INSERT INTO audit_pending_new (id, source, source_id, backfill)
    SELECT id, source, source_id, backfill FROM audit_pending;
DROP TABLE audit_pending;
ALTER TABLE audit_pending_new RENAME TO audit_pending;

CREATE TRIGGER events_audit AFTER INSERT ON events
BEGIN
    INSERT INTO audit_pending (source, source_id) VALUES ('event', NEW.id);
END;

CREATE TRIGGER account_events_audit AFTER INSERT ON account_events
BEGIN
    INSERT INTO audit_pending (source, source_id) VALUES ('account', NEW.id);
END;

-- Two indexes of the audit log that no query used, each a write per entry: the export finds a
-- patient's entries by time (audit_log_at) and compares lower(recipient), which an index on
-- the plain column does not serve; only the store tests read entries by object.
DROP INDEX audit_log_recipient;
DROP INDEX audit_log_object;
