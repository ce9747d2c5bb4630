-- The append: every group-commit batch is one call of this function (gochat/events/transactions.py,
-- `commit`), the one definition of how events get their ids and versions, which retries return the
-- original, and which groups fail on their expected version. PL/pgSQL keeps the plan per
-- connection (planning the statement cost more than running it); nothing depends on that cache,
-- so a transaction-pooling proxy loses only speed.
--
-- A kept plan outlives the statistics it was made with (one made while the log was empty hashed
-- the whole table). Every lookup here is by key, so sequential scans are ruled out (SET below).
--
-- Under the writers' lock (see events/store.py): the head, then the INSERT assigning ids head + 1...
-- and per-stream versions. Also locks and returns the named projection checkpoints, as the inline
-- projections would lock them.
--
-- `shape` NULL (the common batch: no expected version): every event is written, and the unique
-- index events_idempotency is the idempotency check, with no lookup before the insert (looking
-- every key up cost a third of the call at 500 events, sql/migrations/083). A batch holding a
-- retry then fails with unique_violation (SQLSTATE 23505), the call is rolled back, and the writer
-- calls again with `shape` (catching it here would take a BEGIN ... EXCEPTION block: a
-- subtransaction on every call, for the rare batch that holds a retry).
-- `shape` given, one [group, expected version or null] per event (groups numbered from 1, in
-- order): the batch is planned group by group before the insert, in the order of the groups, as
-- if each were appended alone:
--   * a group whose first keyed event (actor, stream, client_msg_id; no key without an actor, as
--     the unique index holds none) is stored, or was written by an earlier group of the batch, is
--     a retry: it writes nothing and its outcome is ["duplicate", the id of the event holding it];
--   * otherwise a group with an expected version that its stream is not at (checked at the
--     stream's first event in the group, against the versions earlier groups left) writes
--     nothing: ["conflict", that event's index in the group, the stream's version];
--   * otherwise the group is written (outcome null), its events taking the next ids and versions.
-- A unique_violation on a planned call is not a retry (a key repeated inside a group, or a group
-- whose first key is new and a later one stored): it fails the call.
--
-- `posted`: the functions the inline projections apply to message.posted (gochat_*_posted). When
-- it is not empty (the writer passes it only for a batch of posts alone, sent as a transaction of
-- its own), the events written are projected here and the checkpoints `names` advance past them,
-- so the call commits events and projections at once. A projection behind the log's head (a node
-- that started before catching up) cannot be projected here: the call raises SQLSTATE GC001
-- before inserting, and the writer calls again inside a transaction, without `posted`, and has
-- the projections catch up and apply the batch before its COMMIT.
--
-- batch: [[stream, type, schema_version, data, metadata, actor, client_msg_id(, plain data)], ...] in
-- id order: `data` as the log stores it (personal fields sealed), and for the posts projected here
-- their plain data when it differs.
-- The posts handed to `posted` carry the keys gochat_history_posted.sql lists (mentions: step 12).
-- Returns the head before the batch, the transaction's time, the versions of the events written
-- (in id order), the checkpoints, and with `shape` the outcome of each group (else NULL).
CREATE OR REPLACE FUNCTION gochat_append(batch jsonb, names text[], posted text[] DEFAULT '{}',
                                         shape jsonb DEFAULT NULL)
RETURNS TABLE (o_head bigint, o_at timestamptz, o_versions integer[], o_names text[],
               o_positions bigint[], o_outcomes jsonb)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    -- no expected version (NULLs would make every array lookup below a scan)
    c_none CONSTANT integer := -2147483648;
    v_head bigint;
    v_at timestamptz;
    v_versions integer[];
    v_posts jsonb;
    v_names text[];
    v_positions bigint[];
    fn text;
    -- the plan, per event in batch order: its place among the events written (0: not written; the
    -- whole plan NULL: every event is written), its stream's and its key's index (0: no key), the
    -- version it expects (c_none unless it is its stream's first event in its group), and, for a
    -- group's first keyed event, the stored event holding that key (0: none)
    p_rank integer[];
    p_stream integer[];
    p_key integer[];
    p_expected integer[];
    p_stored bigint[];
    -- per group: its first and last event, its first keyed event (0: none), whether it expects
    g_first integer[];
    g_last integer[];
    g_keyed integer[];
    g_expects boolean[];
    -- while planning: each stream's version, each key's event (0: none yet), each group's outcome
    s_version integer[];
    k_event bigint[];
    g_outcome jsonb[];
    v_written integer := 0;
    v_found bigint;
    v_conflict integer;
    g integer;
    j integer;
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

    IF shape IS NOT NULL THEN
        WITH r AS (SELECT t.n, (t.x->>0)::uuid AS stream_id, (t.x->>5)::uuid AS actor_id, t.x->>6 AS cmid,
                          (s.y->>0)::integer AS grp, (s.y->>1)::integer AS expected,
                          -- a key needs its actor: the unique index holds none without one
                          t.x->>5 IS NOT NULL AND t.x->>6 IS NOT NULL AS keyed
                   FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)
                   JOIN jsonb_array_elements(shape) WITH ORDINALITY AS s(y, n) USING (n)),
        e AS (SELECT r.*, dense_rank() OVER (ORDER BY r.stream_id) AS stream_no,
                     dense_rank() OVER (ORDER BY r.actor_id, r.stream_id, r.cmid) AS key_no,
                     row_number() OVER (PARTITION BY r.grp, r.stream_id ORDER BY r.n) = 1 AS stream_first,
                     r.keyed AND row_number() OVER (PARTITION BY r.grp, r.keyed ORDER BY r.n) = 1 AS key_first
              FROM r),
        -- only a group's first keyed event is looked up: it alone decides whether the group is a retry
        per_event AS (
            SELECT array_agg(e.stream_no::integer ORDER BY e.n) AS stream_nos,
                   array_agg(CASE WHEN e.keyed THEN e.key_no::integer ELSE 0 END ORDER BY e.n) AS key_nos,
                   array_agg(CASE WHEN e.stream_first THEN coalesce(e.expected, c_none) ELSE c_none END
                             ORDER BY e.n) AS expects,
                   array_agg(CASE WHEN e.key_first
                                  THEN coalesce((SELECT ev.id FROM events ev WHERE ev.actor_id = e.actor_id
                                                 AND ev.stream_id = e.stream_id AND ev.client_msg_id = e.cmid), 0)
                                  ELSE 0 END ORDER BY e.n) AS stored
            FROM e),
        per_group AS (
            SELECT array_agg(x.first_n ORDER BY x.grp) AS firsts, array_agg(x.last_n ORDER BY x.grp) AS lasts,
                   array_agg(x.keyed ORDER BY x.grp) AS keyeds, array_agg(x.expects ORDER BY x.grp) AS expects
            FROM (SELECT e.grp, min(e.n)::integer AS first_n, max(e.n)::integer AS last_n,
                         coalesce(min(e.n) FILTER (WHERE e.key_first), 0)::integer AS keyed,
                         bool_or(e.stream_first AND e.expected IS NOT NULL) AS expects
                  FROM e GROUP BY e.grp) x)
        SELECT pe.stream_nos, pe.key_nos, pe.expects, pe.stored, pg.firsts, pg.lasts, pg.keyeds, pg.expects
        INTO p_stream, p_key, p_expected, p_stored, g_first, g_last, g_keyed, g_expects
        FROM per_event pe, per_group pg;
        -- streams in the order of their index (dense_rank above)
        SELECT array_agg(coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0)
                         ORDER BY s.stream_id)
        INTO s_version FROM (SELECT DISTINCT (x->>0)::uuid AS stream_id FROM jsonb_array_elements(batch) AS x) s;
        k_event := array_fill(0::bigint, ARRAY[jsonb_array_length(batch)]);
        p_rank := array_fill(0, ARRAY[jsonb_array_length(batch)]);
        g_outcome := array_fill(NULL::jsonb, ARRAY[cardinality(g_first)]);
        FOR g IN 1 .. cardinality(g_first) LOOP
            j := g_keyed[g];
            IF j > 0 THEN
                v_found := CASE WHEN k_event[p_key[j]] > 0 THEN k_event[p_key[j]] ELSE p_stored[j] END;
                IF v_found > 0 THEN
                    g_outcome[g] := jsonb_build_array('duplicate', v_found);
                    CONTINUE;
                END IF;
            END IF;
            v_conflict := 0;
            IF g_expects[g] THEN
                FOR j IN g_first[g] .. g_last[g] LOOP
                    IF p_expected[j] <> c_none AND p_expected[j] <> s_version[p_stream[j]] THEN
                        v_conflict := j;
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
            IF v_conflict > 0 THEN
                g_outcome[g] := jsonb_build_array('conflict', v_conflict - g_first[g], s_version[p_stream[v_conflict]]);
                CONTINUE;
            END IF;
            FOR j IN g_first[g] .. g_last[g] LOOP
                v_written := v_written + 1;
                p_rank[j] := v_written;
                s_version[p_stream[j]] := s_version[p_stream[j]] + 1;
                IF p_key[j] > 0 THEN
                    k_event[p_key[j]] := v_head + v_written;
                END IF;
            END LOOP;
        END LOOP;
    END IF;

    -- The one INSERT: ids follow the head in batch order, versions each stream's, over the events
    -- the plan writes (every event when there is no plan).
    WITH r AS (SELECT (x->>0)::uuid AS stream_id, x, n FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)
               WHERE p_rank IS NULL OR p_rank[n] > 0),
    -- MATERIALIZED: once per stream; inlined, the version lookup ran once per event
    v AS MATERIALIZED (SELECT s.stream_id,
                 coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0) AS base
          FROM (SELECT DISTINCT r.stream_id FROM r) AS s),
    i AS (INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id)
          SELECT v_head + coalesce(p_rank[r.n], r.n), r.stream_id,
                 v.base + row_number() OVER (PARTITION BY r.stream_id ORDER BY r.n),
                 r.x->>1, (r.x->>2)::smallint, r.x->3, r.x->4, (r.x->>5)::uuid, r.x->>6
          FROM r JOIN v USING (stream_id)
          RETURNING events.id, events.version)
    SELECT array_agg(i.version ORDER BY i.id) INTO v_versions FROM i;
    IF cardinality(posted) > 0 AND cardinality(v_versions) > 0 THEN
        -- the posts written, as the projections take them, from the plain data (x->7) when the log
        -- stores it sealed (gochat/events/sealing.py): no projection reads a personal field from `events`
        SELECT jsonb_agg(jsonb_build_object(
                   'room_id', r.x->0, 'id', v_head + coalesce(p_rank[r.n], r.n), 'user_id', r.x->5,
                   'content', r.d->'content', 'created_at', v_at, 'thread_root', r.d->'thread_root',
                   'client_msg_id', r.x->6, 'attachments', r.d->'attachments', 'mentions', r.d->'mentions')
               ORDER BY r.n)
        INTO v_posts
        FROM (SELECT x, n, coalesce(x->7, x->3) AS d FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)
              WHERE p_rank IS NULL OR p_rank[n] > 0) r;
        FOREACH fn IN ARRAY posted LOOP
            EXECUTE format('SELECT %I($1)', fn) USING v_posts;
        END LOOP;
        INSERT INTO projection_checkpoints (name, position)
        SELECT n, v_head + cardinality(v_versions) FROM unnest(names) AS n
        ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now();
    END IF;
    RETURN QUERY SELECT v_head, v_at, coalesce(v_versions, '{}'), coalesce(v_names, '{}'),
                        coalesce(v_positions, '{}'), to_jsonb(g_outcome);
END
$$;
