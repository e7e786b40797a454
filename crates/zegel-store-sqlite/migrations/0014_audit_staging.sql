-- Audit staging (issue 14, throughput). Keep in step with the other store's migrations/0014_audit_staging.sql.
--
-- A write transaction no longer chains its audit entries itself (that serialised every commit
-- of every node on one lock, fsync included): it stages each queued row's entry here, every
-- NEN 7513 field filled in, in the transaction that wrote the event. The sequencer chains staged
-- rows in batches. A row queued by an insert from outside Zegel has no entry, is never chained,
-- and audit verify reports its event.
ALTER TABLE audit_pending ADD COLUMN entry TEXT;
