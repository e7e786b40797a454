-- Audit queue per statement (issue 14, throughput). Keep in step with
-- zegel-store-sqlite/migrations/0016_audit_queue.sql.
--
-- Zegel's connections carry the node's name in the session setting `zegel.node` (set when the
-- connection is opened). The queue triggers now run once per statement (over its transition
-- table, not once per row) and stage the rows they queue with that name at once: a writer no
-- longer needs an UPDATE of the queue before its commit (nor a transaction around a batched
-- statement), and a batch of sends is one trigger call. An insert from a session without the
-- setting (outside Zegel) is queued unstaged, so never chained, and `zegel audit verify`
-- reports its event, as before. The queue's `xid` (which transaction queued a row) is no
-- longer needed.
CREATE FUNCTION zegel_audit_queue_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (source, source_id, staged_by)
        SELECT TG_ARGV[0], n.id, NULLIF(current_setting('zegel.node', true), '')
        FROM new_rows n ORDER BY n.id;
    RETURN NULL;
END
$$;

DROP TRIGGER events_audit ON events;
CREATE TRIGGER events_audit AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION zegel_audit_queue_rows('event');

DROP TRIGGER account_events_audit ON account_events;
CREATE TRIGGER account_events_audit AFTER INSERT ON account_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION zegel_audit_queue_rows('account');

DROP FUNCTION zegel_audit_queue();

-- Rows the migration of 0009 queued (xid 0) were staged by the first commit after it; any such
-- row still waiting is staged here, as that commit would have.
UPDATE audit_pending SET staged_by = 'migration' WHERE xid = 0 AND staged_by IS NULL;
ALTER TABLE audit_pending DROP COLUMN xid;
