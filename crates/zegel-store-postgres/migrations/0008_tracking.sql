-- Following sent messages (issue 13): the sent list filtered by a recipient's address or
-- status stays fast with many messages. Additive only.
-- Keep in step with the other store's migrations/0008_tracking.sql.

-- Newest first with a tie-break on the id (keyset paging of the sent list).
CREATE INDEX messages_sent_page ON messages (sender_id, kind, created_at, id);
-- "Messages to this address": from the address to its messages.
CREATE INDEX recipients_email ON recipients (email, message_id);
-- "Messages with a recipient in this status" (rare statuses such as failed).
CREATE INDEX recipients_status ON recipients (status, message_id);
