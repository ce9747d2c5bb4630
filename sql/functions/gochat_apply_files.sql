-- Projection "files" (projections/files.py): file rows and blob reference counts.
-- file.uploaded adds a file and a reference to its blob (and its thumbnail's); file.deleted (a
-- deleted message's attachment) and user.erased (every file the user uploaded) drop them.
CREATE OR REPLACE FUNCTION gochat_apply_files(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    CASE e.type
    WHEN 'file.uploaded' THEN
        INSERT INTO files (id, room_id, uploader_id, blob, thumbnail_blob, name, size, content_type, kind,
                           attachment, uploaded_id, created_at)
        VALUES ((e.data->>'file_id')::uuid, e.stream_id, e.actor_id, e.data->>'blob', e.data->>'thumbnail_blob',
                e.data->>'name', (e.data->>'size')::bigint, e.data->>'content_type', e.data->>'kind',
                e.data->'attachment', e.id, e.recorded_at)
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            INSERT INTO blob_refs AS b (blob, refs)
            SELECT x, 1 FROM unnest(ARRAY[e.data->>'blob', e.data->>'thumbnail_blob']) x WHERE x IS NOT NULL
            ON CONFLICT (blob) DO UPDATE SET refs = b.refs + 1;
        END IF;
    WHEN 'file.deleted' THEN
        FOR f IN
            UPDATE files SET deleted_id = e.id
            WHERE id = (e.data->>'file_id')::uuid AND room_id = e.stream_id AND deleted_id IS NULL
            RETURNING blob, thumbnail_blob
        LOOP
            UPDATE blob_refs SET refs = refs - 1 WHERE blob IN (f.blob, f.thumbnail_blob);
        END LOOP;
    WHEN 'user.erased' THEN
        FOR f IN
            UPDATE files SET deleted_id = e.id WHERE uploader_id = e.stream_id AND deleted_id IS NULL
            RETURNING blob, thumbnail_blob
        LOOP
            UPDATE blob_refs SET refs = refs - 1 WHERE blob IN (f.blob, f.thumbnail_blob);
        END LOOP;
    ELSE
        NULL;
    END CASE;
END
$$;
