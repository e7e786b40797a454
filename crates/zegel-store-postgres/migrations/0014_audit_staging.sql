-- Audit staging (issue 14, throughput). Keep in step with the other store's migrations/0014_audit_staging.sql.
--
-- A write transaction no longer chains its audit entries itself (that serialised every commit
-- of every node on one lock, fsync included): it marks its own queued rows with the node that
-- wrote them (staged_by), in the transaction that wrote the event. The sequencer fills in the
-- entries and chains staged rows in batches. A row queued by an insert from outside Zegel is
-- never staged, never chained, and audit verify reports its event.
ALTER TABLE audit_pending ADD COLUMN staged_by TEXT;
