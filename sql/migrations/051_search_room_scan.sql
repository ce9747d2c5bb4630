-- Per-room searches of small rooms scan the room instead of the GIN index (see the comment in the
-- function). Same signature, results and grants as in 050_search.sql.

-- As in 050_search.sql (SECURITY DEFINER: read why there), plus the room scan.
CREATE OR REPLACE FUNCTION gochat_search_hits(
    q tsquery, room uuid, sender uuid, since timestamptz, until timestamptz, before_id bigint,
    after_rank real, after_id bigint, recent boolean, lim integer
) RETURNS TABLE (room_id uuid, message_id bigint, rank real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    rooms uuid[];
    match text := 's.tsv @@ $1';
BEGIN
    -- nothing to look for (only punctuation) or nothing an index can find (only exclusions)
    IF numnode(q) = 0 OR querytree(q) = 'T' THEN
        RETURN;
    END IF;
    IF room IS NULL THEN
        rooms := ARRAY(SELECT public.gochat_readable_rooms());
    ELSIF public.gochat_can_read(room) THEN
        rooms := ARRAY[room];
        -- A room of a few thousand messages is read whole through its btree (a few ms); the GIN
        -- index would first gather every match of a common word in every room (100,000 for a word
        -- in 10% of a million messages) to intersect them with the room. ts_match_vq is `@@` in a
        -- form no index matches, so the planner takes the room's index.
        IF (SELECT count(*) FROM (SELECT 1 FROM public.message_search s WHERE s.room_id = room
                                  LIMIT 2000) x) < 2000 THEN
            match := 'ts_match_vq(s.tsv, $1)';
        END IF;
    ELSE
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT x.room_id, x.message_id, x.rank FROM ('
        '  SELECT s.room_id, s.message_id, ts_rank(s.tsv, $1, 1) AS rank FROM public.message_search s'
        '  WHERE ' || match || ' AND s.room_id = ANY ($2)'
        '    AND ($3 IS NULL OR s.user_id = $3) AND ($4 IS NULL OR s.created_at >= $4)'
        '    AND ($5 IS NULL OR s.created_at < $5) AND ($6 IS NULL OR s.message_id < $6)) x'
        || CASE WHEN recent
           THEN ' WHERE ($8 IS NULL OR x.message_id < $8) ORDER BY x.message_id DESC'
           ELSE ' WHERE ($8 IS NULL OR (x.rank, x.message_id) < ($7, $8)) ORDER BY x.rank DESC, x.message_id DESC'
           END
        || ' LIMIT $9'
        USING q, rooms, sender, since, until, before_id, after_rank, after_id, lim;
END
$$;
