-- Fewer index writes per send, and queues that are cheap to walk (issue 14, throughput).
-- Keep in step with zegel-store-sqlite/migrations/0017_lean_indexes.sql.

-- Every query by sender also filters on kind and reads newest first; messages_sent_page
-- (sender_id, kind, created_at, id) serves them all and the foreign key to users, so this
-- prefix of it only cost writes.
DROP INDEX messages_inbox;

-- No query looks recipients up by status: the sent list's status filter walks the sender's
-- messages (shared/tracking.rs). Its only effect was that every status change (queued ->
-- notified for each send) wrote all of the table's indexes anew instead of a heap-only
-- update; the free space left in each page below gives those updates room on their page.
DROP INDEX recipients_status;
ALTER TABLE recipients SET (fillfactor = 80);

-- Due jobs in claim order (run_at, id), without the dead-lettered ones (dead = TRUE): a
-- claim can read it in order and stop at its LIMIT instead of sorting. A finished job's row
-- is deleted, but its entry stays until a vacuum (below) and a bitmap scan reads it on every
-- claim, so the worker claims only when it may find something (zegel-core service/jobs.rs).
DROP INDEX jobs_dead_run_at;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE dead = FALSE;
-- A claim changes only unindexed columns: room for it on the job's page.
ALTER TABLE jobs SET (fillfactor = 70);

-- Queues: rows live for seconds, so vacuum them by count, not by a share of a table that
-- is nearly empty at any moment.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000);
