-- Runs of message.posted, the hot path of a chat, are applied by one set-based function per
-- projection that handles them (gochat_history_posted, gochat_rooms_posted, gochat_receipts_posted),
-- called the same way whether the projection is applied live, in a batch or in a rebuild
-- (Projection.posted_function), and by gochat_append itself for a batch of posts alone, so that
-- batch commits in one round trip with its projections. Their plans are kept per connection.
--
-- `posts`: a JSON array of {room_id, id, user_id, content, created_at, thread_root, client_msg_id,
-- attachments}, in id order; each function reads the keys it needs. Every row they touch is found
-- by its key, so sequential scans, hash and merge joins are ruled out: a plan kept from small tables
-- must not scan grown ones, and the planner, expecting 100 rows from jsonb_to_recordset, hashed the
-- whole of `receipts` and `rooms` on every append once (docs/benchmarks.md, sql/migrations/084).
--
-- receipts (rules in sql/migrations/080_unread_counters.sql): each room's live count grows by its
-- posts; each author's marker moves to their last post, with seen_count the room's live count up to it.
CREATE OR REPLACE FUNCTION gochat_receipts_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
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
