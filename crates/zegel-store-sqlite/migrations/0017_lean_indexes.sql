-- Fewer index writes per send, and a queue index in claim order (issue 14, throughput).
-- Keep in step with zegel-store-postgres/migrations/0017_lean_indexes.sql.

-- Every query by sender also filters on kind and reads newest first; messages_sent_page
-- (sender_id, kind, created_at, id) serves them all, so this prefix of it only cost writes.
DROP INDEX messages_inbox;

-- No query looks recipients up by status: the sent list's status filter walks the sender's
-- messages (shared/tracking.rs). Every status change (queued -> notified for each send)
-- rewrote its entry.
DROP INDEX recipients_status;

-- Due jobs in claim order (run_at, id), without the dead-lettered ones (dead = TRUE): the
-- claim reads the index in order and stops at its LIMIT, without a sort.
DROP INDEX jobs_dead_run_at;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE dead = FALSE;
