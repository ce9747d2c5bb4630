-- The best matches of a search: (room, message, rank), best first (or newest first), after a cursor.
--
-- SECURITY DEFINER because of how row-level security plans: `@@` (ts_match_vq) is not leakproof,
-- so under a policy PostgreSQL may not evaluate it inside an index scan, and the GIN index would
-- go unused (a sequential scan of every row, with the policy function called on each). Here the
-- index is used and access is checked explicitly, once: the rooms searched are the caller's
-- readable rooms, or the one room asked for if the caller reads it. Callers join the result to
-- message_search and messages as gochat_app, so row-level security still passes every row that
-- leaves the database. EXECUTE keeps the plan custom: the planner sees the actual words (rare
-- or common) and the actual rooms. Per-room searches of small rooms scan the room instead of the
-- GIN index (see below).
-- search_path: pg_temp named last, as gochat_can_read.sql explains; left out, PostgreSQL searches
-- it *first* for tables, so a caller's temporary table could stand in for an unqualified one.
CREATE OR REPLACE FUNCTION gochat_search_hits(
    q tsquery, room uuid, sender uuid, since timestamptz, until timestamptz, before_id bigint,
    after_rank real, after_id bigint, recent boolean, lim integer
) RETURNS TABLE (room_id uuid, message_id bigint, rank real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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

REVOKE ALL ON FUNCTION gochat_search_hits(tsquery, uuid, uuid, timestamptz, timestamptz, bigint, real, bigint,
                                          boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gochat_search_hits(tsquery, uuid, uuid, timestamptz, timestamptz, bigint, real, bigint,
                                             boolean, integer) TO gochat_app;
