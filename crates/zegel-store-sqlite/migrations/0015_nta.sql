-- NTA 7516 direct delivery between providers (issue 15). Keep in step with
-- zegel-store-postgres/migrations/0015_nta.sql.
--
-- The mail domains an organisation receives mail for (`zegel admin org domains`): mail from
-- another provider to an address in one of them goes into that user's inbox. A domain belongs
-- to one organisation.
CREATE TABLE org_domains (
    domain     TEXT PRIMARY KEY NOT NULL,
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX org_domains_org_id ON org_domains (org_id);

-- When the whole message went directly to the recipient's provider (NTA 7516) instead of a
-- portal notification. The status stays 'notified' in the table; readers show 'delivered'.
ALTER TABLE recipients ADD COLUMN direct_at INTEGER;

-- Mail received from another provider: a message of kind 'reply' without a parent, addressed to
-- the user (sender_id), from this address.
ALTER TABLE messages ADD COLUMN from_address TEXT;
-- Whether the sender's domain vouched for that mail (a valid DKIM signature aligned with the From
-- address); unverified mail is shown with a warning.
ALTER TABLE messages ADD COLUMN from_verified INTEGER NOT NULL DEFAULT 0 CHECK (from_verified IN (0, 1));

-- A message's HTML body (mail submitted or received with one), encrypted under the message key
-- (object id `<message id>/html`); shown only through the sanitiser. Destroyed with the rest.
ALTER TABLE messages ADD COLUMN html_ct BLOB;
