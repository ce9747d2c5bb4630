-- The common append batch as one call (gochat/events/transactions.py, commit_fast). PL/pgSQL keeps
-- the plan per connection (planning the statement cost more than running it); nothing depends on
-- that cache, so a transaction-pooling proxy loses only speed.
--
-- A kept plan outlives the statistics it was made with (one made while the log was empty hashed
-- the whole table). Every lookup here is by key, so sequential scans are ruled out (SET below).
--
-- Under the writers' lock (see events/store.py): the head, then the INSERT assigning ids head + 1...
-- and per-stream versions. The unique index events_idempotency is the idempotency check: a batch
-- holding a retry fails with unique_violation (SQLSTATE 23505), rolling the call back, and the
-- writer takes its general path, which looks the keys up and returns the originals. Also locks and
-- returns the named projection checkpoints, as the inline projections would lock them.
--
-- `posted`: the functions the inline projections apply to message.posted (gochat_*_posted). When
-- it is not empty (the writer passes it only for a batch of posts alone, sent as a transaction of
-- its own), the batch is projected here and the checkpoints `names` advance to its last id, so the
-- call commits events and projections at once. A projection behind the log's head (a node that
-- started before catching up) cannot be projected here: the call raises SQLSTATE GC001 before
-- inserting, and the writer takes its general path, which catches the projection up first.
--
-- batch: [[stream, type, schema_version, data, metadata, actor, client_msg_id(, plain data)], ...] in
-- id order: `data` as the log stores it (personal fields sealed), and for the posts projected here
-- their plain data when it differs.
-- The posts handed to `posted` carry the keys gochat_history_posted.sql lists (mentions: step 12).
CREATE OR REPLACE FUNCTION gochat_append(batch jsonb, names text[], posted text[] DEFAULT '{}')
RETURNS TABLE (o_head bigint, o_at timestamptz, o_versions integer[], o_names text[],
               o_positions bigint[])
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_head bigint;
    v_at timestamptz;
    v_versions integer[];
    v_posts jsonb;
    v_names text[];
    v_positions bigint[];
    fn text;
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    SELECT coalesce(max(e.id), 0), now() INTO v_head, v_at FROM events e;
    SELECT array_agg(c.name ORDER BY c.name), array_agg(c.position ORDER BY c.name) INTO v_names, v_positions
    FROM (SELECT p.name, p.position FROM projection_checkpoints p WHERE p.name = ANY(names) FOR UPDATE) c;
    -- a checkpoint not found is at 0 (an expression, not a query: no plan per call)
    IF cardinality(posted) > 0 AND ((coalesce(cardinality(v_names), 0) < cardinality(names) AND v_head <> 0)
                                    OR v_head <> ANY(coalesce(v_positions, '{}'))) THEN
        RAISE EXCEPTION 'inline projections are behind the log' USING ERRCODE = 'GC001';
    END IF;
    WITH r AS (SELECT (x->>0)::uuid AS stream_id, x, n FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)),
    -- MATERIALIZED: once per stream; inlined, the version lookup ran once per event
    v AS MATERIALIZED (SELECT s.stream_id,
                 coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0) AS base
          FROM (SELECT DISTINCT r.stream_id FROM r) AS s),
    i AS (INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id)
          SELECT v_head + r.n, r.stream_id, v.base + row_number() OVER (PARTITION BY r.stream_id ORDER BY r.n),
                 r.x->>1, (r.x->>2)::smallint, r.x->3, r.x->4, (r.x->>5)::uuid, r.x->>6
          FROM r JOIN v USING (stream_id)
          RETURNING events.id, events.version)
    SELECT array_agg(i.version ORDER BY i.id) INTO v_versions FROM i;
    IF cardinality(posted) > 0 THEN
        -- the posts as the projections take them, from the plain data (x->7) when the log stores
        -- it sealed (gochat/events/sealing.py): no projection reads a personal field from `events`
        SELECT jsonb_agg(jsonb_build_object(
                   'room_id', r.x->0, 'id', v_head + r.n, 'user_id', r.x->5, 'content', r.d->'content',
                   'created_at', v_at, 'thread_root', r.d->'thread_root', 'client_msg_id', r.x->6,
                   'attachments', r.d->'attachments', 'mentions', r.d->'mentions')
               ORDER BY r.n)
        INTO v_posts
        FROM (SELECT x, n, coalesce(x->7, x->3) AS d FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)) r;
        FOREACH fn IN ARRAY posted LOOP
            EXECUTE format('SELECT %I($1)', fn) USING v_posts;
        END LOOP;
        INSERT INTO projection_checkpoints (name, position)
        SELECT n, v_head + jsonb_array_length(batch) FROM unnest(names) AS n
        ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now();
    END IF;
    RETURN QUERY SELECT v_head, v_at, coalesce(v_versions, '{}'), coalesce(v_names, '{}'),
                        coalesce(v_positions, '{}');
END
$$;
