-- Full-text search (projection "search"): one row per live message, removed when it is deleted,
-- re-indexed when it is edited. The text itself stays in `messages`; highlights are computed
-- from there for the returned page only.

CREATE TABLE message_search (
    room_id     uuid        NOT NULL,
    message_id  bigint      NOT NULL,
    user_id     uuid,
    created_at  timestamptz NOT NULL,
    tsv         tsvector    NOT NULL,
    PRIMARY KEY (room_id, message_id)
);
CREATE INDEX message_search_tsv ON message_search USING gin (tsv);
-- per-room searches narrowed by date
CREATE INDEX message_search_room_time ON message_search (room_id, created_at);

-- The language the rows were indexed with: a start-up with another GOCHAT_SEARCH_LANGUAGE empties
-- the table and resets the checkpoint, and the catch-up indexes the log again.
CREATE TABLE search_config (
    only_row    boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    language    regconfig   NOT NULL
);

-- A message's document: the language's stems (weight A), then every word as written (`simple`,
-- weight B: names, stop words, words of other languages). The one-space lexeme, which no parser
-- produces, keeps the halves 256 positions apart, so no phrase spans from the end of one half
-- into the start of the other (queries are capped far below 256 words).
CREATE FUNCTION gochat_search_document(cfg regconfig, content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector(cfg, content), 'A') || $gap$' ':256$gap$::tsvector
        || setweight(to_tsvector('simple', content), 'B')
$$;

-- One lexeme as a tsquery, verbatim (tsquery quoting: '' and \ escaped).
CREATE FUNCTION gochat_search_lexeme(w text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('''' || replace(replace(w, '\', '\\'), '''', '''''') || '''')::tsquery
$$;

-- A web-search query (quotes, or, -word) against the documents above: parsed with `simple`, then
-- every word w becomes (w | its stem). OR-ing two websearch_to_tsquery results instead would let
-- `-dogs` through a message saying "dog" (the simple half does not exclude the stem), and would
-- drop stop words from the language half; here an exclusion excludes both forms, a phrase keeps
-- its stop words, and an exact form outranks a stem-only match (it hits both halves).
CREATE FUNCTION gochat_search_query(cfg regconfig, q text) RETURNS tsquery
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    result tsquery := websearch_to_tsquery('simple', q);
    w text;
    stems text[];
BEGIN
    FOR w IN SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('simple', q)) AS t ORDER BY 1 LOOP
        stems := tsvector_to_array(to_tsvector(cfg, w));
        IF cardinality(stems) = 1 AND stems[1] <> w THEN
            result := ts_rewrite(result, public.gochat_search_lexeme(w),
                                 public.gochat_search_lexeme(w) || public.gochat_search_lexeme(stems[1]));
        END IF;
    END LOOP;
    RETURN result;
END
$$;

-- The rooms whose content the caller reads now: the set form of gochat_can_read (same rules;
-- a test holds them equal for every room type and membership state).
CREATE FUNCTION gochat_readable_rooms() RETURNS SETOF uuid
    LANGUAGE sql STABLE AS $$
    SELECT m.room_id FROM public.memberships m WHERE m.user_id = public.gochat_uid() AND m.state = 'joined'
    UNION
    SELECT r.id FROM public.rooms r
    WHERE r.type = 'public' AND public.gochat_uid() IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM public.memberships b
                      WHERE b.room_id = r.id AND b.user_id = public.gochat_uid() AND b.state = 'banned')
$$;

-- The best matches: (room, message, rank), best first (or newest first), after a cursor.
--
-- SECURITY DEFINER because of how row-level security plans: `@@` (ts_match_vq) is not leakproof,
-- so under a policy PostgreSQL may not evaluate it inside an index scan, and the GIN index would
-- go unused (a sequential scan of every row, with the policy function called on each). Here the
-- index is used and access is checked explicitly, once: the rooms searched are the caller's
-- readable rooms, or the one room asked for if the caller reads it. Callers join the result to
-- message_search and messages as gochat_app, so row-level security still passes every row that
-- leaves the database. EXECUTE keeps the plan custom: the planner sees the actual words (rare
-- or common) and the actual rooms.
CREATE FUNCTION gochat_search_hits(
    q tsquery, room uuid, sender uuid, since timestamptz, until timestamptz, before_id bigint,
    after_rank real, after_id bigint, recent boolean, lim integer
) RETURNS TABLE (room_id uuid, message_id bigint, rank real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    rooms uuid[];
BEGIN
    -- nothing to look for (only punctuation) or nothing an index can find (only exclusions)
    IF numnode(q) = 0 OR querytree(q) = 'T' THEN
        RETURN;
    END IF;
    IF room IS NULL THEN
        rooms := ARRAY(SELECT public.gochat_readable_rooms());
    ELSIF public.gochat_can_read(room) THEN
        rooms := ARRAY[room];
    ELSE
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT x.room_id, x.message_id, x.rank FROM ('
        '  SELECT s.room_id, s.message_id, ts_rank(s.tsv, $1, 1) AS rank FROM public.message_search s'
        '  WHERE s.tsv @@ $1 AND s.room_id = ANY ($2)'
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

ALTER TABLE message_search ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_search FORCE ROW LEVEL SECURITY;
CREATE POLICY message_search_owner ON message_search FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY message_search_read ON message_search FOR SELECT TO gochat_app USING (gochat_can_read(room_id));
GRANT SELECT ON message_search TO gochat_app;

REVOKE ALL ON FUNCTION gochat_search_hits(tsquery, uuid, uuid, timestamptz, timestamptz, bigint, real, bigint,
                                          boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gochat_search_hits(tsquery, uuid, uuid, timestamptz, timestamptz, bigint, real, bigint,
                                             boolean, integer) TO gochat_app;
GRANT EXECUTE ON FUNCTION gochat_search_query(regconfig, text), gochat_search_lexeme(text),
    gochat_search_document(regconfig, text), gochat_readable_rooms() TO gochat_app;
