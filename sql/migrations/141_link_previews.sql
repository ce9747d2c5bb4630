-- Link previews (issue #17, gochat/previews/). A message's previews are events
-- (`message.link_preview`), kept by the history projection on the message's row; a preview's image
-- is a file (`file.uploaded` with `preview_of`), so the files projection counts its blob and drops
-- it with the message (sql/functions/gochat_apply_files.sql).
ALTER TABLE messages ADD COLUMN previews jsonb;
ALTER TABLE files ADD COLUMN preview_of bigint;  -- the message a preview image belongs to
CREATE INDEX files_preview_of ON files (room_id, preview_of) WHERE preview_of IS NOT NULL;
-- A room's previews on (no row: the default) or off, set by its admins (room.settings_changed with
-- `link_previews`; the people projection, sql/functions/gochat_apply_people.sql). A table of its own
-- rather than a column of room_settings, which migration 150 creates after this one runs.
CREATE TABLE room_link_previews (
    room_id  uuid    PRIMARY KEY,
    enabled  boolean NOT NULL
);

-- The queue, written by the link_previews follower (gochat/previews/outbox.py) and worked by the
-- previewer (gochat/previews/worker.py): one row per message with URLs to preview, gone once its
-- `message.link_preview` is in the log, the message is deleted, or the previewer gave up.
CREATE TABLE link_preview_jobs (
    message_id      bigint      PRIMARY KEY,
    room_id         uuid        NOT NULL,
    author_id       uuid,
    urls            text[]      NOT NULL,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX link_preview_jobs_due ON link_preview_jobs (next_attempt_at);
CREATE INDEX link_preview_jobs_author ON link_preview_jobs (author_id);

-- What a URL showed when it was last fetched (normalized URL -> preview), so the same link in many
-- messages is fetched once per `expires_at`. `preview` NULL: nothing to show (not HTML, refused,
-- failed). `image`: the preview image's thumbnail bytes (WebP, small), put into blob storage again
-- for each message that uses it (idempotent: content-addressed), so a cached entry never points at
-- a blob the collector removed.
CREATE TABLE link_preview_cache (
    url         text        PRIMARY KEY,
    preview     jsonb,
    image       bytea,
    fetched_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX link_preview_cache_expiry ON link_preview_cache (expires_at);

ALTER TABLE room_link_previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE room_link_previews FORCE ROW LEVEL SECURITY;
ALTER TABLE link_preview_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE link_preview_jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE link_preview_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE link_preview_cache FORCE ROW LEVEL SECURITY;

-- A server that already has a log starts previewing at its head: messages sent before the upgrade
-- are not fetched all at once.
INSERT INTO projection_checkpoints (name, position)
SELECT 'link_previews', coalesce(max(id), 0) FROM events
ON CONFLICT (name) DO NOTHING;
