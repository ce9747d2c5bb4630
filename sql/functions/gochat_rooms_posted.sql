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
-- rooms: the newest message of each room (a max, so order-free).
CREATE OR REPLACE FUNCTION gochat_rooms_posted(posts jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    UPDATE rooms r SET last_message_id = greatest(coalesce(r.last_message_id, 0), x.m)
    FROM (SELECT p.room_id, max(p.id) AS m FROM jsonb_to_recordset(posts) AS p(room_id uuid, id bigint)
          GROUP BY p.room_id) x
    WHERE r.id = x.room_id;
END
$$;
