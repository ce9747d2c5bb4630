-- Crypto-shredding (docs/operations.md, "Keys"; gochat/events/keystore.py, sealing.py): each user's
-- data keys, outside the log. A user's personal content in `events` is sealed under one of them;
-- erasure destroys them all (material NULL), and what the log holds of the user becomes noise.
-- `material` is the 256-bit key wrapped under the key-encryption key `wrapped_by` names
-- (GOCHAT_KEY_ENCRYPTION_KEYS), or the key itself when `wrapped_by` is 'none'.
-- Only the owner reads it: the gochat_app role (user-facing reads) gets no grant.
CREATE TABLE user_keys (
    user_id      uuid        NOT NULL,
    version      integer     NOT NULL,
    material     bytea,
    wrapped_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    PRIMARY KEY (user_id, version),
    CHECK ((material IS NULL) = (destroyed_at IS NOT NULL))
);
REVOKE ALL ON user_keys FROM PUBLIC;

-- Users erased before this migration: their keys are destroyed from the start, so nothing is ever
-- sealed for them and `gochat keys seal-log` blanks what the log still holds of them in clear.
INSERT INTO user_keys (user_id, version, material, wrapped_by, destroyed_at)
SELECT id, 1, NULL, 'none', now() FROM users WHERE erased;

-- Files of erased users kept their names until now (the files projection blanks them on erasure
-- from now on: sql/functions/gochat_apply_files.sql).
UPDATE files SET name = '', attachment = '{}'::jsonb
WHERE uploader_id IN (SELECT id FROM users WHERE erased) AND (name <> '' OR attachment <> '{}'::jsonb);
-- Likewise the reasons erased users wrote in their reports (sql/functions/gochat_apply_moderation.sql).
UPDATE reports SET reason = '' WHERE reporter IN (SELECT id FROM users WHERE erased) AND reason <> '';

-- Events up to `clear_upto` were written before sealing existed and may hold personal fields in
-- clear: `gochat keys seal-log` seals them and sets it to 0; until then an erasure looks there for
-- the user's clear events (a fresh database starts at 0: it never scans).
CREATE TABLE log_sealing (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    clear_upto bigint  NOT NULL
);
REVOKE ALL ON log_sealing FROM PUBLIC;
INSERT INTO log_sealing (clear_upto) SELECT coalesce(max(id), 0) FROM events;
