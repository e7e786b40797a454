-- Audit staging (issue 14, throughput). Keep in step with the other store's migrations/0014_audit_staging.sql.
--
-- A write transaction no longer chains its audit entries itself (that serialised every commit
-- of every node on one lock, fsync included): it marks its own queued rows with the node that
-- wrote them (staged_by), in the transaction that wrote the event. The sequencer fills in the
-- entries and chains staged rows in batches. A row queued by an insert from outside Zegel is
-- never staged, never chained, and audit verify reports its event.
ALTER TABLE audit_pending ADD COLUMN staged_by TEXT;

-- Two indexes of the audit log that no query used, each a write per entry: the export finds a
-- patient's entries by time (audit_log_at) and compares lower(recipient), which an index on
-- the plain column does not serve; only the store tests read entries by object.
DROP INDEX audit_log_recipient;
DROP INDEX audit_log_object;
