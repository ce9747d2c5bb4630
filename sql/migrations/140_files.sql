-- Projection "files" (projections/files.py; rules in sql/functions/gochat_apply_files.sql): one row
-- per uploaded file, and a reference count per stored blob (content-addressed by sha256), so a
-- blob is removed from storage once nothing refers to it (media/gc.py, after the commit that
-- dropped the last reference).
CREATE TABLE files (
    id              uuid        PRIMARY KEY,
    room_id         uuid        NOT NULL,
    uploader_id     uuid,
    blob            text        NOT NULL,
    thumbnail_blob  text,
    name            text        NOT NULL,
    size            bigint      NOT NULL,
    content_type    text        NOT NULL,
    kind            text        NOT NULL,
    -- the attachment as messages carry it (dimensions, duration, waveform, urls)
    attachment      jsonb       NOT NULL,
    uploaded_id     bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    deleted_id      bigint
);
-- quota: the bytes a user keeps stored
CREATE INDEX files_uploader ON files (uploader_id) WHERE deleted_id IS NULL;

CREATE TABLE blob_refs (
    blob  text PRIMARY KEY,
    refs  integer NOT NULL
);
CREATE INDEX blob_refs_unreferenced ON blob_refs (blob) WHERE refs <= 0;

ALTER TABLE files ENABLE ROW LEVEL SECURITY;
ALTER TABLE files FORCE ROW LEVEL SECURITY;
