-- Runs of message.posted, the hot path of a chat, are applied by one set-based function per
-- projection that handles them (gochat_history_posted, gochat_rooms_posted, gochat_receipts_posted),
-- called the same way whether the projection is applied live, in a batch or in a rebuild
-- (Projection.posted_function), and by gochat_append itself for a batch of posts alone, so that
-- batch commits in one round trip with its projections. Their plans are kept per connection.
--
-- `posts`: a JSON array of {room_id, id, user_id, content, created_at, thread_root, client_msg_id,
-- attachments, mentions}, in id order; each function reads the keys it needs. Every row they touch is found
-- by its key, so sequential scans, hash and merge joins are ruled out: a plan kept from small tables
-- must not scan grown ones, and the planner, expecting 100 rows from jsonb_to_recordset, hashed the
-- whole of `receipts` and `rooms` on every append once (docs/benchmarks.md, sql/migrations/084).
--
-- history: the messages (an erased author's arrive empty: a rebuild sees the users table at its
-- head), then the thread counters of their roots (a statement of its own, so it sees roots the
-- insert just wrote).
CREATE OR REPLACE FUNCTION gochat_history_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    INSERT INTO messages (room_id, id, user_id, content, created_at, thread_root, client_msg_id, attachments,
                          mentions)
    SELECT x.room_id, x.id, x.user_id,
           CASE WHEN x.user_id IN (SELECT u.id FROM users u WHERE u.erased) THEN '' ELSE x.content END,
           x.created_at, x.thread_root, x.client_msg_id,
           CASE WHEN x.user_id IN (SELECT u.id FROM users u WHERE u.erased) THEN NULL ELSE x.attachments END,
           CASE WHEN x.user_id IN (SELECT u.id FROM users u WHERE u.erased) THEN NULL ELSE x.mentions END
    FROM jsonb_to_recordset(posts) AS x(room_id uuid, id bigint, user_id uuid, content text,
                                       created_at timestamptz, thread_root bigint, client_msg_id text,
                                       attachments jsonb, mentions jsonb)
    ON CONFLICT (room_id, id) DO NOTHING;
    UPDATE messages m SET reply_count = m.reply_count + x.n, last_reply_id = greatest(m.last_reply_id, x.last)
    FROM (SELECT r.room_id, r.thread_root, count(*) AS n, max(r.id) AS last
          FROM jsonb_to_recordset(posts) AS r(room_id uuid, id bigint, thread_root bigint)
          WHERE r.thread_root IS NOT NULL GROUP BY r.room_id, r.thread_root) x
    WHERE m.room_id = x.room_id AND m.id = x.thread_root AND m.thread_root IS NULL;
END
$$;
