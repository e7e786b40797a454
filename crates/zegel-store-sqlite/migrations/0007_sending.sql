-- Sending from the browser (issue 13): the organisation's address book, held messages
-- (composed and stored, not yet released) and read receipts.
-- Keep in step with zegel-store-postgres/migrations/0007_sending.sql.

-- Per organisation and lower-cased address: the last verification method and mobile number
-- (kept as recipients.phone is), when it was last used and how often. Written in the
-- transaction that stores (or releases) a message.
CREATE TABLE address_book (
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    address      TEXT NOT NULL,
    verification TEXT NOT NULL CHECK (verification IN ('sms', 'email', 'code')),
    phone        TEXT,
    last_used_at INTEGER NOT NULL,
    uses         INTEGER NOT NULL,
    PRIMARY KEY (org_id, address)
) STRICT;
CREATE INDEX address_book_recent ON address_book (org_id, last_used_at);

-- A held message waits for its sender's confirmation: its notification jobs are not due, it
-- is in no list, and its expires_at is the end of the hold (so the expiry sweep destroys one
-- that is never confirmed). This column holds the availability in milliseconds it gets when
-- released; NULL for a message that was never held or has been released.
ALTER TABLE messages ADD COLUMN hold_expiry_ms INTEGER;
-- Mail the sender (no content) when each recipient first opens the message.
ALTER TABLE messages ADD COLUMN read_receipt INTEGER NOT NULL DEFAULT 0
    CHECK (read_receipt IN (0, 1));
-- When this recipient's read receipt was queued: once per recipient.
ALTER TABLE recipients ADD COLUMN receipt_queued_at INTEGER;
