-- Runs of message.posted, the hot path of a chat, applied by functions: each projection that
-- handles them keeps its set-based handler here, called the same way whether the projection is
-- applied live, in a batch or in a rebuild (gochat/projections: history, rooms, receipts), and the
-- append function calls them itself for a batch of posts, so that batch commits in one round trip
-- with its projections (gochat/events/transactions.py). Their plans are kept per connection.
--
-- `posts`: a JSON array of {room_id, id, user_id, content, created_at, thread_root, client_msg_id,
-- attachments}, in id order; each function reads the keys it needs. Every lookup in them is by key,
-- so sequential scans are ruled out (a plan kept from small tables must not scan grown ones).

-- history: the messages (an erased author's arrive empty: a rebuild sees the users table at its
-- head), then the thread counters of their roots (a statement of its own, so it sees roots the
-- insert just wrote).
CREATE FUNCTION gochat_history_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO messages (room_id, id, user_id, content, created_at, thread_root, client_msg_id, attachments)
    SELECT x.room_id, x.id, x.user_id,
           CASE WHEN x.user_id IN (SELECT u.id FROM users u WHERE u.erased) THEN '' ELSE x.content END,
           x.created_at, x.thread_root, x.client_msg_id,
           CASE WHEN x.user_id IN (SELECT u.id FROM users u WHERE u.erased) THEN NULL ELSE x.attachments END
    FROM jsonb_to_recordset(posts) AS x(room_id uuid, id bigint, user_id uuid, content text,
                                       created_at timestamptz, thread_root bigint, client_msg_id text,
                                       attachments jsonb)
    ON CONFLICT (room_id, id) DO NOTHING;
    UPDATE messages m SET reply_count = m.reply_count + x.n, last_reply_id = greatest(m.last_reply_id, x.last)
    FROM (SELECT r.room_id, r.thread_root, count(*) AS n, max(r.id) AS last
          FROM jsonb_to_recordset(posts) AS r(room_id uuid, id bigint, thread_root bigint)
          WHERE r.thread_root IS NOT NULL GROUP BY r.room_id, r.thread_root) x
    WHERE m.room_id = x.room_id AND m.id = x.thread_root AND m.thread_root IS NULL;
END
$$;

-- rooms: the newest message of each room (a max, so order-free).
CREATE FUNCTION gochat_rooms_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    UPDATE rooms r SET last_message_id = greatest(coalesce(r.last_message_id, 0), x.m)
    FROM (SELECT p.room_id, max(p.id) AS m FROM jsonb_to_recordset(posts) AS p(room_id uuid, id bigint)
          GROUP BY p.room_id) x
    WHERE r.id = x.room_id;
END
$$;

-- receipts (rules in 080_unread_counters.sql): each room's live count grows by its posts; each
-- author's marker moves to their last post, with seen_count the room's live count up to it.
CREATE FUNCTION gochat_receipts_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    WITH p AS (SELECT * FROM jsonb_to_recordset(posts) AS p(room_id uuid, id bigint, user_id uuid)),
    c AS (INSERT INTO room_message_counts AS c (room_id, live_count)
          SELECT p.room_id, count(*) FROM p GROUP BY p.room_id
          ON CONFLICT (room_id) DO UPDATE SET live_count = c.live_count + EXCLUDED.live_count
          RETURNING c.room_id, c.live_count),
    own AS (SELECT p.room_id, p.user_id, max(p.id) AS last FROM p WHERE p.user_id IS NOT NULL
            GROUP BY p.room_id, p.user_id)
    UPDATE receipts r SET last_read_id = own.last,
        seen_count = c.live_count - (SELECT count(*) FROM p WHERE p.room_id = own.room_id AND p.id > own.last)
    FROM own JOIN c ON c.room_id = own.room_id
    WHERE r.room_id = own.room_id AND r.user_id = own.user_id AND r.last_read_id < own.last;
END
$$;

-- The append function of 081, which now also takes `posted`: the functions above that the inline
-- projections apply to message.posted. When it is not empty (the writer passes it only for a batch
-- of posts alone, sent as a transaction of its own), the batch is projected here and the
-- checkpoints `names` advance to its last id, so the call commits events and projections at once.
-- A projection behind the log's head (a node that started before catching up) cannot be projected
-- here: the call then raises SQLSTATE GC001, rolling everything back, and the writer takes its
-- general path, which catches the projection up first.
DROP FUNCTION gochat_append(jsonb, jsonb, text[]);
CREATE FUNCTION gochat_append(keys jsonb, batch jsonb, names text[], posted text[] DEFAULT '{}')
RETURNS TABLE (o_head bigint, o_at timestamptz, o_hit boolean, o_versions integer[], o_names text[],
               o_positions bigint[])
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_head bigint;
    v_at timestamptz;
    v_hit boolean;
    v_versions integer[];
    v_posts jsonb;
    v_names text[];
    v_positions bigint[];
    fn text;
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    SELECT coalesce(max(e.id), 0), now() INTO v_head, v_at FROM events e;
    SELECT EXISTS (
        SELECT 1 FROM jsonb_array_elements(keys) AS k, LATERAL (
            SELECT 1 FROM events e
            WHERE e.actor_id = (k->>0)::uuid AND e.stream_id = (k->>1)::uuid AND e.client_msg_id = k->>2
            LIMIT 1) AS stored) INTO v_hit;
    IF NOT v_hit THEN
        WITH r AS (SELECT (x->>0)::uuid AS stream_id, x, n FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(x, n)),
        -- MATERIALIZED: once per stream; inlined, the version lookup ran once per event
        v AS MATERIALIZED (SELECT s.stream_id,
                     coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0) AS base
              FROM (SELECT DISTINCT r.stream_id FROM r) AS s),
        i AS (INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id)
              SELECT v_head + r.n, r.stream_id, v.base + row_number() OVER (PARTITION BY r.stream_id ORDER BY r.n),
                     r.x->>1, (r.x->>2)::smallint, r.x->3, r.x->4, (r.x->>5)::uuid, r.x->>6
              FROM r JOIN v USING (stream_id)
              RETURNING events.id, events.version, events.stream_id, events.data, events.actor_id,
                        events.client_msg_id)
        SELECT array_agg(i.version ORDER BY i.id),
               CASE WHEN cardinality(posted) > 0 THEN
                   jsonb_agg(jsonb_build_object(
                       'room_id', i.stream_id, 'id', i.id, 'user_id', i.actor_id, 'content', i.data->'content',
                       'created_at', v_at, 'thread_root', i.data->'thread_root', 'client_msg_id', i.client_msg_id,
                       'attachments', i.data->'attachments') ORDER BY i.id)
               END
        INTO v_versions, v_posts FROM i;
    END IF;
    SELECT array_agg(c.name ORDER BY c.name), array_agg(c.position ORDER BY c.name) INTO v_names, v_positions
    FROM (SELECT p.name, p.position FROM projection_checkpoints p WHERE p.name = ANY(names) FOR UPDATE) c;
    IF NOT v_hit AND cardinality(posted) > 0 THEN
        -- a checkpoint not found is at 0 (an expression, not a query: no plan per call)
        IF (coalesce(cardinality(v_names), 0) < cardinality(names) AND v_head <> 0)
           OR v_head <> ANY(coalesce(v_positions, '{}')) THEN
            RAISE EXCEPTION 'inline projections are behind the log' USING ERRCODE = 'GC001';
        END IF;
        FOREACH fn IN ARRAY posted LOOP
            EXECUTE format('SELECT %I($1)', fn) USING v_posts;
        END LOOP;
        INSERT INTO projection_checkpoints (name, position)
        SELECT n, v_head + jsonb_array_length(batch) FROM unnest(names) AS n
        ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now();
    END IF;
    RETURN QUERY SELECT v_head, v_at, v_hit, coalesce(v_versions, '{}'), coalesce(v_names, '{}'),
                        coalesce(v_positions, '{}');
END
$$;
