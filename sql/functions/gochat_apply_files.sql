-- Projection "files" (projections/files.py): file rows and blob reference counts.
-- file.uploaded adds a file and a reference to its blob (and its thumbnail's); file.deleted (a
-- deleted message's attachment) and user.erased (every file the user uploaded) drop them.
--
-- A link preview's image (`preview_of`: its message, gochat/previews/) goes with its message: by
-- message.deleted, and by the erasure of the message's author. The previewer appends it after the
-- message, so the message may be gone by then: such a file is stored as dropped at once, with the
-- id of the event that removed the message (history, applied before this projection, holds it),
-- and its blob counted with no reference, which is what applying the events one by one leaves.
-- file.uploaded's name and attachment are sealed in the log: they arrive opened (gochat_apply_opened).
CREATE OR REPLACE FUNCTION gochat_apply_files(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    gone bigint;
BEGIN
    CASE e.type
    WHEN 'file.uploaded' THEN
        IF e.data ? 'preview_of' THEN
            SELECT CASE WHEN m.deleted THEN coalesce(m.deleted_id, e.id) END INTO gone
            FROM messages m WHERE m.room_id = e.stream_id AND m.id = (e.data->>'preview_of')::bigint;
            IF NOT FOUND THEN
                gone := e.id;  -- no such message: nothing to show it with
            END IF;
        END IF;
        INSERT INTO files (id, room_id, uploader_id, blob, thumbnail_blob, name, size, content_type, kind,
                           attachment, uploaded_id, created_at, preview_of, deleted_id)
        VALUES ((e.data->>'file_id')::uuid, e.stream_id, e.actor_id, e.data->>'blob', e.data->>'thumbnail_blob',
                e.data->>'name', (e.data->>'size')::bigint, e.data->>'content_type', e.data->>'kind',
                e.data->'attachment', e.id, e.recorded_at, (e.data->>'preview_of')::bigint, gone)
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            INSERT INTO blob_refs AS b (blob, refs)
            SELECT x, CASE WHEN gone IS NULL THEN 1 ELSE 0 END
            FROM unnest(ARRAY[e.data->>'blob', e.data->>'thumbnail_blob']) x WHERE x IS NOT NULL
            ON CONFLICT (blob) DO UPDATE SET refs = b.refs + EXCLUDED.refs;
        END IF;
    WHEN 'file.deleted' THEN
        FOR f IN
            UPDATE files SET deleted_id = e.id
            WHERE id = (e.data->>'file_id')::uuid AND room_id = e.stream_id AND deleted_id IS NULL
            RETURNING blob, thumbnail_blob
        LOOP
            UPDATE blob_refs SET refs = refs - 1 WHERE blob IN (f.blob, f.thumbnail_blob);
        END LOOP;
    WHEN 'message.deleted' THEN
        FOR f IN
            UPDATE files SET deleted_id = e.id
            WHERE room_id = e.stream_id AND preview_of = (e.data->>'message_id')::bigint AND deleted_id IS NULL
            RETURNING blob, thumbnail_blob
        LOOP
            UPDATE blob_refs SET refs = refs - 1 WHERE blob IN (f.blob, f.thumbnail_blob);
        END LOOP;
    WHEN 'user.erased' THEN
        -- nothing of the user's stays: their files' names too, deleted before or not (a rebuild after
        -- their keys were destroyed reads them blank from the log: events/sealing.py); their
        -- messages' preview images are theirs too (the previewer appends them as the author)
        UPDATE files SET name = '', attachment = '{}'::jsonb WHERE uploader_id = e.stream_id;
        -- history tombstoned the user's messages with this event's id: their previews' images go too
        FOR f IN
            UPDATE files SET deleted_id = e.id
            WHERE deleted_id IS NULL
              AND (uploader_id = e.stream_id
                   OR (preview_of IS NOT NULL AND EXISTS (
                       SELECT 1 FROM messages m WHERE m.room_id = files.room_id AND m.id = files.preview_of
                       AND m.deleted_id = e.id)))
            RETURNING blob, thumbnail_blob
        LOOP
            UPDATE blob_refs SET refs = refs - 1 WHERE blob IN (f.blob, f.thumbnail_blob);
        END LOOP;
    ELSE
        NULL;
    END CASE;
END
$$;
