-- Hostile clients (issue 12): growing lockouts and a final block, code-request caps, the
-- organisation's SMS budget and countries, one recipient per address per message.
-- Keep in step with zegel-store-postgres/migrations/0004_hostile_clients.sql.

-- Wrong tries since the last right code or the sender's unblock (the end of a lockout no
-- longer resets the count); the block after too many, lifted only by the sender.
ALTER TABLE recipients ADD COLUMN wrong_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recipients ADD COLUMN blocked_at INTEGER;
UPDATE recipients SET wrong_total = failed_attempts;

-- One recipient per address per message: the forward's duplicate check in the database.
-- A send refuses a repeated address, but two forwards racing to one address could in theory
-- have stored it twice before this index: such later copies keep their rows (events,
-- sessions) under an address marked as a duplicate, so the index can be built.
UPDATE recipients SET email = email || ' (duplicate ' || id || ')'
WHERE EXISTS (
    SELECT 1 FROM recipients o
    WHERE o.message_id = recipients.message_id AND o.email = recipients.email
      AND (o.position < recipients.position
           OR (o.position = recipients.position AND o.id < recipients.id))
);
CREATE UNIQUE INDEX recipients_message_email ON recipients (message_id, email);

-- SMS codes an organisation sends per day (UTC), and to numbers of which countries
-- (ISO 3166 alpha-2, comma-separated).
ALTER TABLE organisations ADD COLUMN sms_per_day INTEGER NOT NULL DEFAULT 1000;
ALTER TABLE organisations ADD COLUMN sms_countries TEXT NOT NULL DEFAULT 'NL,BE,DE';

-- The SMS codes of each organisation and day (days since the Unix epoch, UTC): counted in
-- the transaction that stores the code, so the budget holds across nodes.
CREATE TABLE sms_usage (
    org_id  TEXT NOT NULL REFERENCES organisations (id),
    day     INTEGER NOT NULL,
    sent    INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day)
) STRICT;
